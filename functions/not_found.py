"""Any other path under /face or /redact: the 404 error envelope (also under the real Functions
host, where a catch-all route has the lowest precedence). Other paths are left to the host."""
import azure.functions as func

from functions.api import error_response

bp = func.Blueprint()


def _not_found(req: func.HttpRequest) -> func.HttpResponse:
    return error_response(404, "404", "Resource not found.", "-")


@bp.route(route="face/{*path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
          auth_level=func.AuthLevel.ANONYMOUS)
def not_found(req: func.HttpRequest) -> func.HttpResponse:
    return _not_found(req)


@bp.route(route="redact/{*path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
          auth_level=func.AuthLevel.ANONYMOUS)
def redact_not_found(req: func.HttpRequest) -> func.HttpResponse:
    return _not_found(req)
