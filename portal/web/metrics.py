"""`GET /metrics`: figures for Prometheus; behind a bearer token when `metrics.token` is set."""

import hmac

from litestar import Request, Response, get
from litestar.datastructures import State

from ..metrics import CONTENT_TYPE


@get("/metrics")
async def metrics(request: Request, state: State) -> Response:
    services = state.services
    if token := services.settings.metrics.token:
        presented = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(presented, f"Bearer {token}".encode()):
            return Response(
                "/metrics needs the bearer token set in metrics.token\n",
                status_code=401,
                media_type="text/plain",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
    return Response(await services.metrics.exposition(services.db), media_type=CONTENT_TYPE)
