"""Static checks of the Azure deployment in infra/ (no Azure account needed): checkov finds no
failed checks, the templates provide every app setting and connection the code reads, the
Event Grid subscription targets the app's real blob trigger, and the package holds the models."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from shared import settings

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"
CHECKOV = ROOT / ".tools" / "checkov" / "bin" / "checkov"


def bicep_app_settings() -> dict[str, str]:
    """NAME -> Bicep value expression, from the `var appSettings = { ... }` block."""
    text = (INFRA / "modules" / "functionapp.bicep").read_text()
    block = re.search(r"^var appSettings = \{\n(.*?)^\}", text, re.M | re.S)
    assert block, "var appSettings block not found in functionapp.bicep"
    return dict(re.findall(r"^\s*(\w+):\s*(.+?)\s*$", block.group(1), re.M))


def bicep_param_default(path: Path, name: str) -> str:
    match = re.search(rf"^param {name} string = '([^']*)'", path.read_text(), re.M)
    assert match, f"param {name} with a default not found in {path.name}"
    return match.group(1)


def provided(connection: str, app_settings: dict[str, str]) -> bool:
    """A connection is set directly or in the identity-based form (`<name>__accountName`)."""
    return connection in app_settings or f"{connection}__accountName" in app_settings


@pytest.fixture(scope="module")
def function_bindings() -> dict[str, list[dict]]:
    import function_app  # get_functions() may run only once per app: it registers the names
    return {fn.get_function_name(): json.loads(fn.get_function_json())["bindings"]
            for fn in function_app.app.get_functions()}


@pytest.fixture(scope="module")
def checkov_report() -> dict:
    assert CHECKOV.is_file(), "checkov is not installed: `make test` installs it in .tools/checkov"
    run = subprocess.run([str(CHECKOV), "-d", str(INFRA), "--framework", "bicep", "-o", "json",
                          "--skip-download", "--compact"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode in (0, 1), run.stderr[-2000:]  # 1 = failed checks, reported below
    report = json.loads(run.stdout)
    return report[0] if isinstance(report, list) else report


def test_checkov_finds_no_failed_checks(checkov_report):
    summary = checkov_report["summary"]
    failed = [f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
              for c in checkov_report["results"]["failed_checks"]]
    assert failed == [], "\n".join(failed)
    assert summary["parsing_errors"] == 0
    assert summary["passed"] > 0


def test_checkov_scanned_every_template_and_each_skip_has_a_reason(checkov_report):
    results = checkov_report["results"]
    checked = {c["resource"].rsplit(".", 1)[0] for kind in ("passed_checks", "skipped_checks")
               for c in results[kind]}
    assert {"Microsoft.Web/sites", "Microsoft.Storage/storageAccounts",
            "Microsoft.KeyVault/vaults"} <= checked
    for check in results["skipped_checks"]:
        reason = check["check_result"].get("suppress_comment", "")
        assert len(reason.strip()) > 20, f"{check['check_id']} is skipped without a reason"


def test_required_settings_are_provided_by_the_templates():
    app_settings = bicep_app_settings()
    required = [name for name, (default, _) in settings.SETTINGS.items() if default is None]
    assert required, "SETTINGS declares no required setting"
    missing = [name for name in required if not provided(name, app_settings)]
    assert missing == []


def test_templates_set_only_settings_the_code_declares():
    # A typo in a template setting would otherwise silently fall back to the code's default.
    ours = [name for name in bicep_app_settings()
            if name.startswith(("FACE_", "AzureWebJobsStorage"))]
    assert ours and set(ours) <= set(settings.SETTINGS)


def test_storage_uses_managed_identity_and_keys_come_from_key_vault():
    app_settings = bicep_app_settings()
    assert "AzureWebJobsStorage" not in app_settings  # no connection string
    assert app_settings["AzureWebJobsStorage__credential"] == "'managedidentity'"
    assert "AzureWebJobsStorage__clientId" in app_settings
    assert app_settings["FACE_API_KEYS"].startswith("'@Microsoft.KeyVault(")


def test_every_binding_connection_and_setting_expression_is_provided(function_bindings):
    app_settings = bicep_app_settings()
    bindings = [b for group in function_bindings.values() for b in group]
    connections = {b["connection"] for b in bindings if "connection" in b}
    expressions = {name for b in bindings for value in b.values() if isinstance(value, str)
                   for name in re.findall(r"%(\w+)%", value)}
    assert [c for c in connections if not provided(c, app_settings)] == []
    assert [e for e in expressions if e not in app_settings] == []


def test_event_grid_subscription_targets_the_enrollment_blob_trigger(function_bindings):
    function = bicep_param_default(INFRA / "eventgrid.bicep", "blobFunctionName")
    container = bicep_param_default(INFRA / "main.bicep", "enrollmentContainerName")
    assert container == settings.SETTINGS["FACE_ENROLLMENT_CONTAINER"][0]
    bindings = function_bindings.get(function)
    assert bindings, f"the app has no function {function} for the Event Grid subscription"
    trigger = next(b for b in bindings if b["type"] == "blobTrigger")
    # Flex Consumption supports only the Event Grid blob trigger.
    assert trigger.get("source") == "EventGrid"
    assert trigger["path"].split("/")[0] in (container, "%FACE_ENROLLMENT_CONTAINER%")


def test_event_grid_subscription_targets_the_redaction_blob_trigger(function_bindings):
    from shared.redaction import batch, report
    function = bicep_param_default(INFRA / "eventgrid.bicep", "redactionFunctionName")
    assert bicep_param_default(INFRA / "eventgrid.bicep", "redactionContainerName") == batch.INPUT
    trigger = next(b for b in function_bindings[function] if b["type"] == "blobTrigger")
    assert trigger.get("source") == "EventGrid"
    assert trigger["path"] == f"{batch.INPUT}/{{name}}"
    storage = (INFRA / "modules" / "storage.bicep").read_text()
    assert f"'{batch.INPUT}'" in storage and f"'{report.OUTPUT}'" in storage


def test_dev_parameters_exist_in_main_template():
    declared = set(re.findall(r"^param (\w+)", (INFRA / "main.bicep").read_text(), re.M))
    parameters = json.loads((INFRA / "main.parameters.dev.json").read_text())["parameters"]
    assert set(parameters) <= declared


def declared_params(path: Path) -> tuple[set[str], set[str]]:
    """(all parameters, those without a default) of a Bicep file."""
    text = path.read_text()
    return (set(re.findall(r"^param (\w+) ", text, re.M)),
            set(re.findall(r"^param (\w+) [\w.]+$", text, re.M)))


def test_templates_and_deploy_script_agree_on_names():
    # No Bicep compiler is installable from a registry, so the wiring a compiler would check
    # is checked here: module parameters, the outputs deploy.sh reads and the parameters it passes.
    main = (INFRA / "main.bicep").read_text()
    modules = re.findall(r"^module \w+ '([^']+)' = \{.*?^  params: \{\n(.*?)^  \}", main,
                         re.M | re.S)
    assert len(modules) == 4
    for path, block in modules:
        passed = set(re.findall(r"^    (\w+):", block, re.M))
        declared, required = declared_params(INFRA / path)
        assert required <= passed <= declared, path
    deploy = (INFRA / "deploy.sh").read_text()
    assert set(re.findall(r"\$\(output (\w+)\)", deploy)) <= set(
        re.findall(r"^output (\w+) ", main, re.M))
    eventgrid_args = re.search(r"eventgrid\.bicep\" \\\n(.*?)--output", deploy, re.S).group(1)
    declared, required = declared_params(INFRA / "eventgrid.bicep")
    assert required <= set(re.findall(r"(\w+)=", eventgrid_args)) <= declared


def test_deploy_script_parses():
    run = subprocess.run(["bash", "-n", str(INFRA / "deploy.sh")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_package_holds_code_and_models_only(tmp_path):
    out = tmp_path / "app.zip"
    subprocess.run([sys.executable, str(INFRA / "package.py"), str(out)], check=True,
                   capture_output=True)
    names = set(zipfile.ZipFile(out).namelist())
    assert {"function_app.py", "host.json", "requirements.txt", "models/manifest.json",
            "functions/api.py", "shared/settings.py", "studio/index.html",
            "studio/js/main.js"} <= names
    assert any(name.startswith("models/") and name.endswith(".onnx") for name in names)
    assert not [n for n in names if n.startswith(("tests/", ".venv/", "node_modules/", "infra/"))
                or "__pycache__" in n or n.endswith(".pyc")]


FAKE_AZ = r'''#!{python}
"""Stands in for the az CLI: logs each call, answers the queries deploy.sh makes."""
import sys
from pathlib import Path

args = sys.argv[1:]
with open({log!r}, "a") as log:
    log.write(" ".join(args) + "\n")
line = " ".join(args)
outputs = {{"functionAppName": "func-x", "endpoint": "https://func-x.example/face/v1.0",
           "storageAccountName": "stx", "keyVaultName": "kv-x",
           "apiKeysSecretName": "face-api-keys", "enrollmentContainerName": "enrollment",
           "deadLetterContainerName": "eventgrid-deadletter"}}
if line.startswith("deployment group show"):
    print(outputs[args[args.index("--query") + 1].split(".")[2]])
elif line.startswith("account show --query user.type"):
    print("user")
elif line.startswith("account show --query"):
    print("subscription\tid")
elif line.startswith("ad signed-in-user show"):
    print("11111111-1111-1111-1111-111111111111")
elif line.startswith("group exists"):
    print("false")
elif line.startswith("keyvault secret list"):
    print("0")
elif line.startswith("keyvault secret set"):
    assert len(Path(args[args.index("--file") + 1]).read_text()) == 32
elif line.startswith("functionapp deployment source config-zip"):
    assert Path(args[args.index("--src") + 1]).stat().st_size > 0
elif line.startswith("functionapp keys list"):
    print("true")
'''


def test_deploy_script_runs_the_steps_in_order_with_a_fake_az(tmp_path):
    bin_dir, log = tmp_path / "bin", tmp_path / "az.log"
    bin_dir.mkdir()
    (bin_dir / "az").write_text(FAKE_AZ.format(python=sys.executable, log=str(log)))
    (bin_dir / "curl").write_text("#!/bin/sh\nexit 0\n")
    # The models are already built for the test run; a real make could rebuild the virtualenv.
    (bin_dir / "make").write_text(f"#!/bin/sh\necho \"make $*\" >> {log}\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(tmp_path)}
    run = subprocess.run(["bash", str(INFRA / "deploy.sh"), "-g", "rg-face", "-l", "westeurope"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    calls = log.read_text().splitlines()
    steps = ["make -C",  # builds the models
             "group create",
             "deployment group create --resource-group rg-face --name face-api-main",
             "keyvault secret set",
             "functionapp deployment source config-zip",
             "functionapp keys list",  # waits for the blob trigger's key
             "deployment group create --resource-group rg-face --name face-api-eventgrid"]
    position = -1
    for step in steps:
        position = next((i for i in range(position + 1, len(calls))
                         if calls[i].startswith(step)), None)
        assert position is not None, f"{step!r} missing or out of order in:\n" + "\n".join(calls)
    assert "--value" not in log.read_text()  # the key goes through a file, not the command line
    assert "https://func-x.example/face/v1.0" in run.stdout
