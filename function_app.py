"""Entry point of the function app (Azure Functions Python v2 programming model).

The same file runs under Azure, under `func start`, and under the project's local runtime
(`python -m shared.runtime`). It registers one blueprint per operation family."""
import logging

import azure.functions as func

from shared import settings

settings.load_local_settings()
settings.validate()
logging.getLogger("azure").setLevel(logging.WARNING)

from functions import health, not_found  # noqa: E402 - settings must be loaded first

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

for blueprint in (health.bp, not_found.bp):
    app.register_functions(blueprint)
