"""Verify, find similar among faceIds and group (contract §3.2): faces from the faceId cache,
compared with each other or with a person's faces. The arguments arrive parsed
(functions/verify.py, find_similar.py, group.py); find similar in a face list is a collection
search (shared/collections/search.py)."""
from __future__ import annotations

import numpy as np

from shared import grouping, similarity
from shared.collections import directory, search
from shared.collections.kinds import Kind
from shared.inference import get_engine
from shared.storage.face_ids import load_faces


def verify_faces(first_id: str, second_id: str) -> dict:
    """Are two cached faces of the same person?"""
    faces = load_faces([first_id, second_id], 404)
    first, second = faces[first_id], faces[second_id]
    similarity.require_model(first.recognition_model, [second.recognition_model])
    return similarity.verification(float(first.embedding @ second.embedding),
                                   get_engine().confidence)


def verify_person(face_id: str, person_id: str, kind: Kind | None,
                  collection_id: str | None) -> dict:
    """Is a cached face the person of a (large) person group (`kind` None: no group named)?"""
    face = load_faces([face_id], 404)[face_id]
    if kind is None or collection_id is None:
        # A person without a group lives in the Person Directory.
        vectors = directory.person_faces(person_id, face.recognition_model)
    else:
        model, vectors = search.person_faces(kind, collection_id, person_id)
        similarity.require_model(face.recognition_model, [model])
    best = float(np.max(vectors @ face.embedding)) if len(vectors) else -1.0
    return similarity.verification(best, get_engine().confidence)


def find_similar(query_id: str, candidate_ids: list[str], limit: int, mode: str) -> list[dict]:
    """The candidate faceIds most like the query, best first (`mode` as in similarity)."""
    faces = load_faces([query_id, *candidate_ids], 400)
    query, candidates = faces[query_id], [faces[face_id] for face_id in candidate_ids]
    similarity.require_model(query.recognition_model,
                             [face.recognition_model for face in candidates])
    vectors = np.stack([face.embedding for face in candidates])
    matches = similarity.ranked(query.embedding, vectors, mode, limit, get_engine().confidence)
    return [{"faceId": candidate_ids[index], "confidence": value} for index, value in matches]


def group(face_ids: list[str]) -> dict:
    """The faces in groups of likely the same person, and the rest (messyGroup)."""
    faces = load_faces(face_ids, 400)
    models = [faces[face_id].recognition_model for face_id in face_ids]
    similarity.require_model(models[0], models)
    vectors = np.stack([faces[face_id].embedding for face_id in face_ids])
    threshold = grouping.similarity_at(get_engine().confidence, grouping.GROUP_CONFIDENCE)
    clusters = grouping.cluster(vectors, threshold)
    return grouping.groups_and_messy(face_ids, clusters)
