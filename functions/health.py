"""GET /face/{apiVersion}/health: storage reachability and model readiness."""
import azure.functions as func

from functions.api import ApiRequest, Reply, operation
from shared import health

bp = func.Blueprint()


@operation(bp, "health", ["GET"])
def health_check(req: ApiRequest) -> Reply:
    report = health.report()
    return Reply(report, status=200 if report["status"] == "healthy" else 503)
