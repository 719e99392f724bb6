"""The Person Directory over HTTP (contract §3.7, §3.8, §11): persons, their faces per
recognition model, `GET /operations/{operationId}`, and the queue functions that finish the
operations of the directory and of dynamic person groups (functions/dynamic_groups.py)."""
from __future__ import annotations

import hashlib
import json

import azure.functions as func

from functions import arguments
from functions.api import ApiRequest, Reply, operation
from functions.person_groups import (changes, face_id, face_user_data, new_face, paging,
                                     person_id, POLL_AGAIN, status_reply)
from shared import operations
from shared.collections import directory, dynamic_groups, faces
from shared.collections.kinds import LARGE_PERSON_GROUP, MAX_NAME, MAX_USER_DATA
from shared.errors import not_found

bp = func.Blueprint()
# The versions in which Azure serves the Person Directory's own routes (contract §3.7, §9, §11:
# v1.1-preview.1 and v1.2-preview.1; stable v1.2 kept only identify and verify against it).
VERSIONS = ("v1.1-preview.1", "v1.2-preview.1")
PERSON = "persons/{personId}"
FACES = PERSON + "/recognitionModels/{recognitionModel}/persistedfaces"
# The queued work of every operation, by the `op` of its message.
WORK = {**directory.WORK, **dynamic_groups.WORK}
# azure-core sets it once per call, before its retry policy: every retry repeats it.
CLIENT_REQUEST_ID = "x-ms-client-request-id"


def directory_version(req: ApiRequest) -> None:
    if req.version not in VERSIONS:
        raise not_found("404", "Resource not found.")


def accepted(req: ApiRequest, operation_id: str, body: dict | None = None,
              location: str | None = None) -> Reply:
    headers = {"operation-Location": f"{req.base_url}/operations/{operation_id}", **POLL_AGAIN}
    if location:
        headers["Location"] = f"{req.base_url}/{location}"
    return Reply(body, 202, headers)


def request_key(req: ApiRequest, *parts) -> str:
    """What a retry of this request repeats: the client's request id (if sent) and what the
    request asks (`parts`; an image as a digest of its bytes, never the bytes), hashed."""
    digest = hashlib.sha256()
    for part in (req.http.headers.get(CLIENT_REQUEST_ID) or "", *parts):
        digest.update(repr(part).encode() + b"\0")
    return digest.hexdigest()


def _model(req: ApiRequest) -> str:
    return directory.check_model(arguments.recognition_model(req.route["recognitionModel"]))


@operation(bp, "operations/{operationId}", ["GET"])
def get_operation(req: ApiRequest) -> Reply:
    raw = req.route["operationId"]
    return status_reply(operations.get(arguments.route_uuid(
        raw, not_found("NotFound", f"Operation '{raw}' is not found."))))


@operation(bp, "persons", ["POST"])
def create_person(req: ApiRequest) -> Reply:
    directory_version(req)
    body = req.json()
    name = arguments.text_field(body, "name", MAX_NAME, True)
    user_data = arguments.text_field(body, "userData", MAX_USER_DATA)
    # Two persons of the same name are common: only a request id tells a retry apart.
    retry = request_key(req, name, user_data) if req.http.headers.get(CLIENT_REQUEST_ID) \
        else None
    new_id, operation_id = directory.create_person(name, user_data, retry)
    return accepted(req, operation_id, {"personId": new_id}, f"persons/{new_id}")


@operation(bp, "persons", ["GET"])
def list_persons(req: ApiRequest) -> list[dict]:
    directory_version(req)
    return directory.list_persons(*paging(req))


@operation(bp, PERSON, ["GET"])
def get_person(req: ApiRequest) -> dict:
    directory_version(req)
    return directory.get_person(person_id(req))


@operation(bp, PERSON, ["PATCH"])
def update_person(req: ApiRequest) -> None:
    directory_version(req)
    # The large groups' rule: a PATCH must change something.
    directory.update_person(person_id(req), **changes(LARGE_PERSON_GROUP, req.json()))


@operation(bp, PERSON, ["DELETE"])
def delete_person(req: ApiRequest) -> Reply:
    directory_version(req)
    return accepted(req, directory.delete_person(person_id(req)))


@operation(bp, FACES, ["GET"])
def list_faces(req: ApiRequest) -> dict:
    directory_version(req)
    return directory.list_faces(person_id(req), _model(req))


@operation(bp, FACES, ["POST"])
def add_face(req: ApiRequest) -> Reply:
    directory_version(req)
    person, model = person_id(req), _model(req)
    directory.get_person(person)        # before the image work
    image, target, user_data = new_face(req)
    # Without a request id, the same photo added to the same person again (within
    # operations.WINDOW) is taken for a retry: a second identical face would add nothing.
    retry = request_key(req, hashlib.sha256(image).hexdigest(), target, user_data,
                        req.query("detectionModel"))
    new_id, operation_id = directory.add_face(person, model,
                                              faces.embed_single_face(image, target), user_data,
                                              retry)
    return accepted(req, operation_id, {"persistedFaceId": new_id},
                     f"persons/{person}/recognitionModels/{model}/persistedfaces/{new_id}")


@operation(bp, FACES + "/{faceId}", ["GET"])
def get_face(req: ApiRequest) -> dict:
    directory_version(req)
    return directory.get_face(person_id(req), _model(req), face_id(req))


@operation(bp, FACES + "/{faceId}", ["PATCH"])
def update_face(req: ApiRequest) -> None:
    directory_version(req)
    directory.update_face(person_id(req), _model(req), face_id(req), face_user_data(req))


@operation(bp, FACES + "/{faceId}", ["DELETE"])
def delete_face(req: ApiRequest) -> Reply:
    directory_version(req)
    return accepted(req, directory.delete_face(person_id(req), _model(req), face_id(req)))


@bp.queue_trigger(arg_name="msg", queue_name=operations.QUEUE, connection="AzureWebJobsStorage")
def directory_operation(msg: func.QueueMessage) -> None:
    message = json.loads(msg.get_body())
    operations.run(message, WORK[message["op"]])


@bp.queue_trigger(arg_name="msg", queue_name=operations.POISON_QUEUE,
                  connection="AzureWebJobsStorage")
def directory_operation_poison(msg: func.QueueMessage) -> None:
    operations.fail(json.loads(msg.get_body()))
