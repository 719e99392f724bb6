"""Collections: person groups, large person groups, face lists and large face lists.

One mechanism serves all four kinds (`kinds.py`): metadata in Table storage (`repository.py`),
embeddings in Blob shards (`shards.py`), training into immutable snapshots (`training.py`),
in-memory search over the current snapshot (`snapshots.py`), and the operations the HTTP
functions call, by job: `administration.py` (collections, persons, training requests),
`faces.py` (persisted faces and the ordering of their writes) and `search.py` (identify, find
similar)."""
