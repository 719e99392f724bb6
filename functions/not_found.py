"""Any other path under /face: the 404 error envelope (also under the real Functions host,
where a catch-all route has the lowest precedence)."""
import azure.functions as func

from functions.api import error_response

bp = func.Blueprint()


@bp.route(route="face/{*path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
          auth_level=func.AuthLevel.ANONYMOUS)
def not_found(req: func.HttpRequest) -> func.HttpResponse:
    return error_response(404, "404", "Resource not found.", "-")
