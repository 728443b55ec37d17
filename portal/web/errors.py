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


def server_error(request: Request, error: Exception) -> Response:
    reference = secrets.token_hex(4)
    route = request.scope.get("path_template", "(no route)")
    fields = {"reference": reference, "method": request.method, "route": route}
    log.error("request failed", exc_info=error, extra={"fields": fields})
    status = error.status_code if isinstance(error, HTTPException) else 500
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
