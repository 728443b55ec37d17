"""`GET /metrics`: figures for Prometheus; behind a bearer token when `metrics.token` is set, and
without one, only for this box itself (a scraper on loopback): the page names businesses and routers,
which the hotspot's customers have no business seeing."""

import hmac
import ipaddress

from litestar import Request, Response, get
from litestar.datastructures import State

from ..access import outbox, routers, sessions
from ..billing import payments
from ..metrics import CONTENT_TYPE, Figures, RouterFigures
from ..store import Connection
from ..tenancy import tenants
from .addresses import client_address


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
    elif not _loopback(client_address(request, services.settings.server.trusted_proxies)):
        return Response(
            "/metrics answers other machines only with a bearer token: set metrics.token\n",
            status_code=403,
            media_type="text/plain",
        )
    figures = await services.store.report(figures_now)
    return Response(services.metrics.exposition(figures), media_type=CONTENT_TYPE)


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def figures_now(db: Connection) -> Figures:
    slugs = tenants.slugs(db)
    queued, active = outbox.queued_by_router(db), sessions.active_by_router(db)
    return Figures(
        payments=[
            (slugs[tenant_id], state, count) for tenant_id, state, count in payments.counts_by_state(db)
        ],
        routers=[
            RouterFigures(
                router.name,
                queued.get(router.id, 0),
                active.get(router.id, 0),
                router.last_seen_at,
                router.last_error,
            )
            for router in routers.every(db)
        ],
    )
