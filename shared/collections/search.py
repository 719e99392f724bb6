"""Searches of collections: identify in (large) person groups, find similar in (large) face
lists, and a person's faces for verify. They read the trained snapshot (or a face list's live
one) and filter the owners deleted since it was trained."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from azure.core.exceptions import ResourceNotFoundError

from shared.collections import galleries, repository, shards, snapshots, training
from shared.collections.kinds import FACE_LIST, Kind
from shared.collections.repository import Collection
from shared.errors import FaceError
from shared.inference import get_engine
from shared.similarity import SAME_PERSON, require_model
from shared.storage.face_ids import StoredFace, load_faces


def parallel(*reads):
    """Independent storage reads at once (each is a round trip); results in order, and the
    first one's error wins, as if they had run one after the other."""
    with ThreadPoolExecutor(len(reads)) as pool:
        futures = [pool.submit(read) for read in reads]
    return [future.result() for future in futures]


def _searchable(collection: Collection) -> tuple[snapshots.Snapshot, set[str]]:
    """The snapshot searches use and the owners deleted since it was trained."""
    kind, sid = collection.kind, collection.storage_id
    if not kind.needs_training:
        return galleries.live(collection), set()
    for _ in range(2):
        state, excluded = parallel(lambda: training.state(sid),
                                    lambda: training.deleted_owners(sid))
        if state is None or state.snapshot is None:
            if state is not None and state.status.active:
                raise kind.training_not_finished(collection.collection_id)
            raise kind.not_trained(collection.collection_id)
        try:
            return snapshots.trained(sid, state.snapshot), excluded
        except ResourceNotFoundError:
            continue    # a newer training replaced this snapshot while we loaded it
        except snapshots.OutdatedSnapshot:
            raise kind.not_trained(collection.collection_id) from None
    raise kind.training_not_finished(collection.collection_id)


def _confidences(found: list[tuple[str, float]], minimum: float) -> list[tuple[str, float]]:
    """(owner, rounded confidence) of the matches whose confidence reaches `minimum`."""
    if not found:
        return []
    values = np.atleast_1d(get_engine().confidence(np.array([s for _, s in found])))
    scored = [(owner, round(float(value), 5)) for (owner, _), value in zip(found, values)]
    return [(owner, value) for owner, value in scored if value >= minimum]


def _query(collection: Collection, face_ids: list[str],
           faces: dict[str, StoredFace] | None = None) -> np.ndarray:
    """The cached faces' embeddings (read unless the caller has them), checked against the
    collection's recognition model."""
    faces = faces if faces is not None else load_faces(face_ids, 400)
    require_model(collection.recognition_model, [faces[f].recognition_model for f in face_ids])
    return np.stack([faces[f].embedding for f in face_ids]).astype(np.float32)


def identify(kind: Kind, collection_id: str, face_ids: list[str], top: int,
             threshold: float | None) -> list[dict]:
    """Candidates per face, best first: persons whose best face is similar enough."""
    collection = repository.get_collection(kind, collection_id, status=400)
    return identify_in(collection, face_ids, top, threshold)


def identify_in(collection: Collection, face_ids: list[str], top: int, threshold: float | None,
                only: set[str] | None = None,
                faces: dict[str, StoredFace] | None = None) -> list[dict]:
    """`identify` in a collection already found; `only`: the persons that may be candidates;
    `faces`: the faceIds' cached faces when the caller has read them already."""
    queries, (snapshot, excluded) = parallel(lambda: _query(collection, face_ids, faces),
                                              lambda: _searchable(collection))
    minimum = _default_identify_confidence(snapshot) if threshold is None else threshold
    found_per_face = snapshot.best_owners(queries, top, excluded, only)
    return [{"faceId": face_id,
             "candidates": [{"personId": person, "confidence": confidence}
                            for person, confidence in _confidences(found, minimum)]}
            for face_id, found in zip(face_ids, found_per_face)]


def _default_identify_confidence(snapshot: snapshots.Snapshot) -> float:
    """Azure's default is "model-internal": here the confidence at which an unknown person
    is matched in about 5% of searches of a gallery this size (see Engine.identify_similarity)."""
    engine = get_engine()
    return engine.confidence(engine.identify_similarity(snapshot.face_count))


def person_faces(kind: Kind, collection_id: str, person_id: str) -> tuple[str, np.ndarray]:
    """(recognition model, (n, 128) embeddings) of a person's current faces (no training
    needed), for face-to-person verify. Unknown group or person: the 400 errors verify answers."""
    collection = repository.get_collection(kind, collection_id, status=400)
    person = repository.get_person(collection.storage_id, person_id, 400)
    records, _ = shards.read(collection.storage_id,
                             shards.shard_of(person.person_id, kind.shard_count))
    mine = records["owner"] == shards.uuid_bytes([person.person_id])[0]
    return collection.recognition_model, records["vector"][mine]


def find_similar(kind: Kind, collection_id: str, face_id: str, top: int,
                 mode: str) -> list[dict]:
    """Faces of a face list most similar to `face_id`, best first; matchPerson keeps only
    same-person matches, matchFace ranks by similarity alone."""
    collection = repository.get_collection(kind, collection_id, status=400)
    query, (snapshot, excluded) = parallel(lambda: _query(collection, [face_id]),
                                            lambda: _searchable(collection))
    if kind is FACE_LIST and snapshot.face_count == 0:
        raise FaceError("FaceListNotReady", f"Face list '{collection_id}' is empty.", 400)
    found = snapshot.best_owners(query, top, excluded)[0]
    minimum = SAME_PERSON if mode == "matchPerson" else 0.0
    return [{"persistedFaceId": owner, "confidence": confidence}
            for owner, confidence in _confidences(found, minimum)]
