"""The function app served by the local runtime on a free port, and a small HTTP client for it."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import requests

from devhost.host import LocalHost
from tests.conftest import TEST_KEY


class Client:
    """POSTs and GETs under `/face/<version>` with the test key."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers["Ocp-Apim-Subscription-Key"] = TEST_KEY

    def url(self, path: str, version: str = "v1.2") -> str:
        return f"{self.base_url}/face/{version}/{path}"

    def post(self, path: str, version: str = "v1.2", **kwargs) -> requests.Response:
        return self.session.post(self.url(path, version), timeout=60, **kwargs)

    def detect(self, image: bytes, version: str = "v1.2", **params) -> requests.Response:
        return self.post("detect", version, data=image, params=params,
                         headers={"Content-Type": "application/octet-stream"})


@contextmanager
def running_service() -> Iterator[tuple[LocalHost, Client]]:
    """Serve `function_app.app` (import it only now: the Azurite fixture set the settings)."""
    import function_app
    with LocalHost(function_app.app, port=0) as host:
        yield host, Client(host.url)


# The models the Azure quickstarts use.
DETECTION, RECOGNITION = "detection_03", "recognition_04"


def sdk_detect(face_client, data: bytes) -> list[str]:
    """faceIds of the faces in `data`, detected through the SDK's FaceClient."""
    return [found.face_id for found in face_client.detect(
        data, detection_model=DETECTION, recognition_model=RECOGNITION, return_face_id=True)]


def error_code(response: requests.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]
