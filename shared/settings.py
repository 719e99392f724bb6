"""Settings from the environment, with `local.settings.json` values filling the gaps locally.

Every setting the code reads is declared in SETTINGS, so the infra templates can be checked
against this one list (tests/test_infra.py)."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# name -> (default, description). None as default means "required in Azure".
SETTINGS: dict[str, tuple[str | None, str]] = {
    "AzureWebJobsStorage": (None, "Storage connection string (or use the __accountName form)."),
    "AzureWebJobsStorage__accountName": ("", "Storage account for identity-based connections."),
    "AzureWebJobsStorage__credential": ("", "'managedidentity' for identity-based connections."),
    "AzureWebJobsStorage__clientId": ("", "Client id of a user-assigned managed identity."),
    "FACE_API_KEYS": (None, "Comma-separated API keys accepted in Ocp-Apim-Subscription-Key."),
    "FACE_MODELS_DIR": (str(ROOT / "models"), "Folder with the built ONNX models."),
    "FACE_ORT_THREADS": ("0", "ONNX Runtime intra-op threads of the detector and the "
                              "snapshot scoring (0 = one per core; the recognizers, landmark "
                              "and mask models run on one each, two chains side by side)."),
    "FACE_ANN_MIN_FACES": ("50000", "Galleries of at least this many faces are searched through "
                                    "an approximate index (re-ranked exactly); smaller ones exactly."),
    "FACE_URL_ALLOWLIST": ("", "Comma-separated hosts/CIDRs that image URLs may resolve to even "
                               "when private (e.g. 127.0.0.1 for tests)."),
    "FACE_FACELIST_LIMIT": ("64", "Maximum number of face lists."),
    "FACE_ENROLLMENT_CONTAINER": ("enrollment", "Blob container watched for batch enrollment."),
    "FACE_ENROLLMENT_RECOGNITION_MODEL": ("recognition_04", "Recognition model of the large "
                                          "person groups batch enrollment creates."),
    "FACE_ENROLLMENT_QUIET_SECONDS": ("30", "Training starts once a group had no new enrollment "
                                      "for this long."),
    "FACE_REDACTION_MAX_MB": ("4096", "Largest video batch redaction accepts, in MB."),
}

LOCAL_SETTINGS_FILE = ROOT / "local.settings.json"


class SettingsError(RuntimeError):
    """A required setting is missing where the service cannot fall back to local defaults."""


def running_in_azure() -> bool:
    # Set by the Functions platform on every instance; never set locally.
    return bool(os.environ.get("WEBSITE_INSTANCE_ID"))


def load_local_settings(path: Path = LOCAL_SETTINGS_FILE) -> None:
    """Copy `Values` of local.settings.json into the environment where not already set,
    as `func start` does."""
    if path.is_file():
        for name, value in json.loads(path.read_text()).get("Values", {}).items():
            os.environ.setdefault(name, str(value))


def get(name: str) -> str:
    default, _ = SETTINGS[name]
    value = os.environ.get(name)
    if value:
        return value
    if default is None:
        if running_in_azure():
            raise SettingsError(f"Required app setting {name} is not set.")
        return LOCAL_DEFAULTS[name]
    return default


# What a local run uses when a required setting is absent.
LOCAL_DEFAULTS = {
    "AzureWebJobsStorage": "UseDevelopmentStorage=true",
    "FACE_API_KEYS": "local-dev-key",
}


@dataclass(frozen=True)
class StorageConfig:
    connection_string: str | None
    account_name: str | None
    client_id: str | None


def storage_config() -> StorageConfig:
    """Connection string if given, else the identity-based form (AzureWebJobsStorage__*)."""
    account = os.environ.get("AzureWebJobsStorage__accountName")
    if account and not os.environ.get("AzureWebJobsStorage"):
        return StorageConfig(None, account, os.environ.get("AzureWebJobsStorage__clientId") or None)
    return StorageConfig(get("AzureWebJobsStorage"), None, None)


def api_keys() -> list[str]:
    return [k.strip() for k in get("FACE_API_KEYS").split(",") if k.strip()]


def validate() -> None:
    """Fail at start-up, with the setting's name, instead of on the first request."""
    storage_config()
    if not api_keys():
        raise SettingsError("FACE_API_KEYS must name at least one key.")
