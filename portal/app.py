"""The application factory: every dependency comes in through `create_app`, nothing reads globals."""

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from litestar import Litestar
from litestar.datastructures import State
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig

from . import c2b
from .clock import Clock
from .config import Settings
from .db import Database
from .metrics import Metrics
from .migrations import migrate
from .mpesa.daraja import DarajaClient
from .payments import reconcile_due
from .routers import Gateways
from .sessions import SessionWorker
from .throttle import Throttle
from .vault import Vault
from .web import admin, health, hooks, metrics, splash

log = logging.getLogger(__name__)

# A wheel carries the templates inside the package; a checkout keeps them at the top level.
TEMPLATES = next(
    path
    for path in (Path(__file__).parent / "templates", Path(__file__).parent.parent / "templates")
    if path.is_dir()
)

# Daraja answers in 1-3 s; a slow answer is still worth waiting for (the push may have gone out).
HTTP_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


@dataclass
class Services:
    """What request handlers and jobs share; built once by the lifespan, reached as `state.services`."""

    settings: Settings
    clock: Clock
    vault: Vault
    db: Database
    http: httpx.AsyncClient
    scheduler: AsyncIOScheduler
    daraja: DarajaClient
    gateways: Gateways
    sessions: SessionWorker  # wake() it after opening or ending an access session
    metrics: Metrics = field(default_factory=Metrics)  # one registry per app: see portal/metrics.py


def create_app(
    settings: Settings,
    *,
    clock: Clock,
    vault: Vault,
    http_transport: httpx.AsyncBaseTransport | None = None,
    route_handlers: Sequence = (),
) -> Litestar:
    """`http_transport` lets a test or the demo route Daraja calls somewhere other than the network."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        db = await Database.open(settings.database_path)
        try:
            if applied := await migrate(db):
                log.info("database migrated", extra={"fields": {"versions": applied}})
            async with httpx.AsyncClient(transport=http_transport, timeout=HTTP_TIMEOUT) as http:
                scheduler = AsyncIOScheduler(timezone="UTC")
                gateways = Gateways(vault, settings.routers.api_timeout)
                sessions = SessionWorker(db, clock, gateways)
                services = Services(
                    settings, clock, vault, db, http, scheduler, DarajaClient(http, clock), gateways, sessions
                )
                app.state.services = services
                # Acts only on payments whose next query is due by `clock`; a restart loses nothing.
                scheduler.add_job(reconcile_due, "interval", seconds=2, args=[services], max_instances=1)
                # Once at start (the routers may have rebooted with the box), then on the interval.
                scheduler.add_job(sessions.sync_all, id="sync-routers-at-start")
                scheduler.add_job(
                    sessions.sync_all, "interval", seconds=settings.routers.sync_interval, id="sync-routers"
                )
                # Payments made by hand reach the box only once Daraja has its C2B URLs.
                scheduler.add_job(c2b.register_due, args=[services], id="c2b-at-start")
                scheduler.add_job(c2b.register_due, "interval", minutes=10, args=[services], id="c2b")
                scheduler.start()
                sessions.start()
                try:
                    yield
                finally:
                    scheduler.shutdown(wait=False)
                    await sessions.stop()
                    await gateways.close()
        finally:
            await db.close()

    return Litestar(
        route_handlers=[
            health.healthz,
            metrics.metrics,
            *splash.HANDLERS,
            admin.router,
            *hooks.HANDLERS,
            *route_handlers,
        ],
        lifespan=[lifespan],
        # Reconnect-code tries per device and address (portal/throttle.py says why memory is enough).
        state=State({"settings": settings, "code_throttle": Throttle(clock)}),
        template_config=TemplateConfig(directory=TEMPLATES, engine=JinjaTemplateEngine),
        openapi_config=None,
        logging_config=None,  # logs.configure() owns logging
    )
