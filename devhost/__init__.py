"""The project's local Azure Functions runtime (Core Tools cannot be installed here).

It serves the same FunctionApp that `func start` and Azure run, reading only the metadata the
azure-functions library generates for the real host. Start it with `python -m devhost`
(see `__main__`) or, in tests, `with LocalHost(app, host_json, port=0) as host: ...`."""
from devhost.host import LocalHost

__all__ = ["LocalHost"]
