"""Session fixtures: a real Azurite on free ports, settings pointing at it, the face photos,
and the app served by the local runtime (raw HTTP client and the official SDK's clients)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from devhost.azurite import start_on_free_ports
from shared.storage import clients as storage_clients

ROOT = Path(__file__).resolve().parent.parent
FACES = Path(os.environ.get("FACE_DATA_DIR", ROOT.parent / "shared" / "faces"))
TEST_KEY = "test-key-0123456789"


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    if not FACES.is_dir():
        pytest.skip(f"face photos not found at {FACES} (set FACE_DATA_DIR)")
    return FACES


@pytest.fixture(scope="session")
def folder(faces_dir) -> Path:
    """The Azure quickstart photos."""
    return faces_dir / "azure-samples"


@pytest.fixture(scope="session")
def azurite(tmp_path_factory):
    """A real Azurite for the whole session; the app's settings point at it."""
    instance = start_on_free_ports(tmp_path_factory.mktemp("azurite"))
    saved = {k: os.environ.get(k) for k in ("AzureWebJobsStorage", "FACE_API_KEYS")}
    os.environ["AzureWebJobsStorage"] = instance.connection_string
    os.environ["FACE_API_KEYS"] = f"{TEST_KEY},second-key"
    storage_clients.reset()
    yield instance
    instance.stop()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    storage_clients.reset()


@pytest.fixture(scope="module")
def client(azurite):
    """`function_app` served by the local runtime on a free port, and an HTTP client for it."""
    from tests.service import running_service
    with running_service() as (_, http_client):
        yield http_client


@pytest.fixture(scope="module")
def clients(azurite):
    """The official SDK's FaceAdministrationClient and FaceClient against the local service."""
    from azure.ai.vision.face import FaceAdministrationClient, FaceClient
    from azure.core.credentials import AzureKeyCredential
    from tests.service import running_service
    with running_service() as (host, _):
        credential = AzureKeyCredential(TEST_KEY)
        with FaceAdministrationClient(host.url, credential) as admin, \
                FaceClient(host.url, credential) as face:
            yield admin, face


# Figures measured by tests (operations run, faults injected...), printed at the end of the run
# so they can be quoted without digging through captured output.
_FIGURES: list[str] = []


@pytest.fixture(scope="session")
def figures() -> list[str]:
    return _FIGURES


def pytest_terminal_summary(terminalreporter) -> None:
    if _FIGURES:
        terminalreporter.section("figures")
        for line in _FIGURES:
            terminalreporter.write_line(line)
