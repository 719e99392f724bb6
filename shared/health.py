"""Health report: can we reach storage, are the models built and loadable."""
from __future__ import annotations

from shared import models_status
from shared.storage import clients

PROBE_TIMEOUT = 2   # seconds; a health check must answer quickly, above all when storage is down


def _storage_reachable() -> tuple[bool, str]:
    try:
        clients.blob_service().get_account_information(
            retry_total=0, connection_timeout=PROBE_TIMEOUT, read_timeout=PROBE_TIMEOUT)
        return True, "ok"
    except Exception as err:  # noqa: BLE001 - any failure means "not reachable"
        return False, type(err).__name__


def report() -> dict:
    reachable, detail = _storage_reachable()
    models = models_status.status()
    healthy = reachable and models["ready"]
    return {"status": "healthy" if healthy else "unhealthy",
            "storage": {"reachable": reachable, "detail": detail},
            "models": models}
