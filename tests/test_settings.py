"""Settings: local defaults, the Azure start-up check, identity-based storage, local.settings.json."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from shared import settings
from tests.conftest import ROOT


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("AzureWebJobsStorage", "AzureWebJobsStorage__accountName",
                 "AzureWebJobsStorage__clientId", "FACE_API_KEYS", "WEBSITE_INSTANCE_ID"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_local_run_falls_back_to_development_defaults(clean_env):
    assert settings.storage_config().connection_string == "UseDevelopmentStorage=true"
    assert settings.api_keys() == ["local-dev-key"]


def test_azure_refuses_to_start_without_required_settings(clean_env):
    clean_env.setenv("WEBSITE_INSTANCE_ID", "instance-1")
    with pytest.raises(settings.SettingsError, match="AzureWebJobsStorage"):
        settings.validate()
    clean_env.setenv("AzureWebJobsStorage__accountName", "faceprod")
    with pytest.raises(settings.SettingsError, match="FACE_API_KEYS"):
        settings.validate()
    clean_env.setenv("FACE_API_KEYS", " , ")
    with pytest.raises(settings.SettingsError, match="at least one key"):
        settings.validate()
    clean_env.setenv("FACE_API_KEYS", "k1,k2")
    settings.validate()


def test_identity_based_storage_connection(clean_env):
    clean_env.setenv("AzureWebJobsStorage__accountName", "faceprod")
    clean_env.setenv("AzureWebJobsStorage__clientId", "1111-2222")
    config = settings.storage_config()
    assert (config.connection_string, config.account_name, config.client_id) == \
        (None, "faceprod", "1111-2222")


def test_local_settings_file_fills_only_unset_values(clean_env, tmp_path):
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps({"Values": {"FACE_API_KEYS": "from-file",
                                           "FACE_ORT_THREADS": "3"}}))
    clean_env.setenv("FACE_ORT_THREADS", "2")
    settings.load_local_settings(path)
    assert settings.api_keys() == ["from-file"]
    assert settings.get("FACE_ORT_THREADS") == "2"


def test_function_app_start_fails_clearly_in_azure_without_keys(clean_env):
    env = {"PATH": "/usr/bin:/bin", "WEBSITE_INSTANCE_ID": "instance-1",
           "AzureWebJobsStorage": "UseDevelopmentStorage=true"}
    result = subprocess.run([sys.executable, "-c", "import function_app"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "Required app setting FACE_API_KEYS is not set." in result.stderr
