"""Entry point of the function app (Azure Functions Python v2 programming model).

The same file runs under Azure, under `func start`, and under the project's local runtime
(`python -m devhost`). It registers one blueprint per operation family."""
import logging

import azure.functions as func

from shared import settings

settings.load_local_settings()
settings.validate()
logging.getLogger("azure").setLevel(logging.WARNING)

from functions import health, not_found  # noqa: E402 - settings must be loaded first
from functions import detect, face_id_purge, find_similar, group, verify  # noqa: E402
from functions import identify, person_groups, training  # noqa: E402
from functions import directory, dynamic_groups, enrollment, face_lists, studio  # noqa: E402
from functions import redact, redaction_batch  # noqa: E402

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

for blueprint in (health.bp, detect.bp, verify.bp, find_similar.bp, group.bp,
                  face_id_purge.bp, person_groups.bp, face_lists.bp, identify.bp, training.bp,
                  enrollment.bp, directory.bp, dynamic_groups.bp, redact.bp, redaction_batch.bp,
                  studio.bp, not_found.bp):
    app.register_functions(blueprint)
