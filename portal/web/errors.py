"""What a request that failed on our side answers: a reference the log line carries too.

Whoever saw the error (a customer, the owner, Daraja's support) can quote the reference, and the one log
line that has it tells what went wrong. The line names the route, never the path: a hook's path holds
its secret token.
"""

import logging
import secrets

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException

log = logging.getLogger(__name__)


def logged(request: Request, error: Exception) -> str:
    """Logs the failure with its traceback under a new reference, and returns the reference."""
    reference = secrets.token_hex(4)
    fields = {"reference": reference, "method": request.method, "route": route_of(request)}
    log.error("request failed", exc_info=error, extra={"fields": fields})
    return reference


def route_of(request: Request) -> str:
    return request.scope.get("path_template", "(no route)")


def status_of(error: Exception) -> int:
    return error.status_code if isinstance(error, HTTPException) else 500


def server_error(request: Request, error: Exception) -> Response:
    reference = logged(request, error)
    route = route_of(request)
    status = status_of(error)
    if route.startswith("/hooks/"):
        # Daraja reads its own shape of answer.
        return Response(
            {"ResultCode": 1, "ResultDesc": f"internal error, reference {reference}"}, status_code=status
        )
    return Response(
        f"Something went wrong on our side. If it happens again, quote this reference: {reference}\n",
        status_code=status,
        media_type=MediaType.TEXT,
    )
