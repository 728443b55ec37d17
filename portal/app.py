"""The application factory: every dependency comes in through `create_app`, nothing reads globals."""

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from litestar import Litestar
from litestar.datastructures import State
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig

from .clock import Clock
from .config import Settings
from .db import Database
from .migrations import migrate
from .routers import Gateways
from .sessions import SessionWorker
from .vault import Vault
from .web import health

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
    gateways: Gateways
    sessions: SessionWorker  # wake() it after opening or ending an access session


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
                app.state.services = Services(settings, clock, vault, db, http, scheduler, gateways, sessions)
                # Once at start (the routers may have rebooted with the box), then on the interval.
                scheduler.add_job(sessions.sync_all, id="sync-routers-at-start")
                scheduler.add_job(
                    sessions.sync_all, "interval", seconds=settings.routers.sync_interval, id="sync-routers"
                )
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
        route_handlers=[health.healthz, *route_handlers],
        lifespan=[lifespan],
        state=State({"settings": settings}),
        template_config=TemplateConfig(directory=TEMPLATES, engine=JinjaTemplateEngine),
        openapi_config=None,
        logging_config=None,  # logs.configure() owns logging
    )
