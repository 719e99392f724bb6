"""Do a collection's Table rows and its embedding shards agree?

Two kinds of disagreement:
- a face is listed (a face list's row, or a face in its person's face list) but no shard holds
  its embedding: it cannot be found by identify or find-similar. The image was never stored,
  so the embedding cannot be recomputed: the report names these faces, to be deleted and added
  again from their photos;
- a shard holds an embedding that no listed face owns (an add that failed after writing it, a
  delete that stopped half-way): biometric data that nothing lists. `repair` removes these.

The shards are read before the rows. The write paths store a face's rows before its embedding
and remove its embedding before its rows, so a face that is being added or deleted while the
check runs can look "listed without embedding", never "embedding without listing" unless it
is being deleted anyway. Faces reported missing are looked up once more in a fresh read of
their shard before they are reported.

Training runs the check after every successful training (queue message `check`) and keeps the
result in its status message; `python -m shared.collections.integrity KIND ID [--repair]`
runs it by hand."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass

from shared import settings
from shared.collections import repository, shards
from shared.collections.kinds import KINDS


@dataclass(frozen=True)
class Report:
    faces_listed: int
    embeddings: int
    missing_embeddings: list[str]      # listed faces no shard holds: must be added again
    orphan_embeddings: list[str]       # embeddings of faces that are not listed
    repaired: bool                     # orphans removed

    @property
    def consistent(self) -> bool:
        return not self.missing_embeddings and not self.orphan_embeddings

    def summary(self) -> str:
        """One line for the training status message; empty when consistent."""
        parts = []
        if self.missing_embeddings:
            shown = ", ".join(self.missing_embeddings[:10])
            more = len(self.missing_embeddings) - 10
            parts.append(f"{len(self.missing_embeddings)} persisted face(s) have no embedding "
                         f"and must be deleted and added again: {shown}"
                         + (f" and {more} more" if more > 0 else ""))
        if self.orphan_embeddings:
            verb = "were removed" if self.repaired else "remain"
            parts.append(f"{len(self.orphan_embeddings)} embedding(s) of unlisted faces {verb}")
        return "; ".join(parts) + ("." if parts else "")


def _stored_in(storage_id: str, shard: int) -> dict[str, str]:
    """Face id -> owner id of every embedding the shard holds."""
    records, _ = shards.read(storage_id, shard)
    return {shards.uuid_text(face): shards.uuid_text(owner)
            for face, owner in zip(records["face"], records["owner"])}


def _listed(storage_id: str) -> dict[str, str]:
    """Face id -> expected embedding owner (its person, or the face itself in a face list) of
    every face a client can see."""
    visible_person_faces = {face_id: person.person_id
                            for person in repository.all_persons(storage_id)
                            if not person.deleting for face_id in person.face_ids}
    listed = {}
    for face in repository.all_faces(storage_id):
        if face.person_id is None:
            listed[face.face_id] = face.face_id
        elif visible_person_faces.get(face.face_id) == face.person_id:
            listed[face.face_id] = face.person_id
    return listed


def check(storage_id: str, repair: bool = False) -> Report:
    held = {shard: _stored_in(storage_id, shard) for shard in shards.existing_shards(storage_id)}
    listed = _listed(storage_id)
    stored = {face: owner for faces in held.values() for face, owner in faces.items()}
    missing = sorted(face for face, owner in listed.items() if stored.get(face) != owner)
    if missing:      # added while we read? Look at the shards once more (rarely needed).
        again = {face: owner for shard in shards.existing_shards(storage_id)
                 for face, owner in _stored_in(storage_id, shard).items()}
        missing = [face for face in missing if again.get(face) != listed[face]]
    orphans = sorted(face for face, owner in stored.items() if listed.get(face) != owner)
    if repair:
        for shard, faces in held.items():
            if mine := set(faces).intersection(orphans):
                shards.remove(storage_id, shard, faces=mine)
    return Report(len(listed), len(stored), missing, orphans, repair and bool(orphans))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=sorted(KINDS), help="collection kind")
    parser.add_argument("collection_id")
    parser.add_argument("--repair", action="store_true",
                        help="remove embeddings that no listed face owns")
    args = parser.parse_args(argv)
    settings.load_local_settings()
    kind = KINDS[args.kind]
    collection = repository.get_collection(kind, args.collection_id)
    report = check(collection.storage_id, args.repair)
    json.dump({**asdict(report), "consistent": report.consistent}, sys.stdout, indent=2)
    print()
    return 0 if report.consistent else 1


if __name__ == "__main__":
    sys.exit(main())
