"""The application factory: every dependency comes in through `create_app`, nothing reads globals.

It builds the services once, in the lifespan, and hands each the few things it needs; nothing below
this module imports it. Request handlers reach them as `state.services`.
"""

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from litestar import Litestar, Request, Response
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from litestar.exceptions.responses import create_exception_response
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.template.config import TemplateConfig

from .access.presence import Presence
from .access.sync import RouterSync
from .access.worker import RouterWorker
from .billing.checkout import Checkout
from .billing.confirmation import Confirmation
from .billing.receipt_checks import ReceiptChecks
from .clock import Clock
from .gateways.reach import Reach
from .gateways.registry import Gateways
from .jobs import Jobs
from .metrics import Metrics
from .mpesa.daraja import DarajaClient
from .settings import Settings
from .store import Store
from .store.sqlite import SQLiteStore
from .tenancy.api_usage import Meter
from .tenancy.webhooks import Sender
from .throttle import Backoff
from .vault import Vault
from .web import admin, api, errors, health, hooks, metrics, splash
from .web.admin.auth import SignInForms

log = logging.getLogger(__name__)

API = "/api"  # the API's paths: its routers', and those it has not

# A wheel carries the templates inside the package; a checkout keeps them at the top level.
TEMPLATES = next(
    path
    for path in (Path(__file__).parent / "templates", Path(__file__).parent.parent / "templates")
    if path.is_dir()
)


@dataclass
class Services:
    """What request handlers share; built once by the lifespan, reached as `state.services`."""

    settings: Settings
    clock: Clock
    vault: Vault
    store: Store
    daraja: DarajaClient
    gateways: Gateways
    checkout: Checkout  # starting payments
    confirmation: Confirmation  # callbacks and queries
    receipt_checks: ReceiptChecks  # receipts typed for payments whose outcome is unknown, asked of M-Pesa
    worker: RouterWorker  # the router outbox
    sync: RouterSync
    presence: Presence  # which device the router shows at the address a customer asks from
    jobs: Jobs  # wake() it after a payment, a code or the owner's hand changed a session
    metrics: Metrics  # one registry per app: see portal/metrics.py
    code_tries: Backoff  # reconnect-code tries (portal/throttle.py says why memory is enough)
    sign_in_forms: SignInForms  # the admin sign-in form's pre-sessions (CSRF before there is a session)
    api_usage: Meter  # API calls counted, until they are written (tenancy/api_usage.py says when)


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
        store = await SQLiteStore.open(settings.database_path)
        try:
            if applied := await store.migrate():
                log.info("database migrated", extra={"fields": {"versions": applied}})
            # Each Daraja call sets its own timeout (mpesa/daraja.py). Webhooks go to API clients' own
            # URLs, on a client of their own (tenancy/webhooks.py sets its timeout). Both trust the same
            # certificates: one context, as loading the CA bundle costs ~40 ms and a few MB each time.
            tls = httpx.create_ssl_context()
            async with (
                httpx.AsyncClient(transport=http_transport, verify=tls) as http,
                httpx.AsyncClient(verify=tls) as webhooks_http,
            ):
                app.state.services = services = build(store, http, webhooks_http)
                services.jobs.start()
                try:
                    yield
                finally:
                    await services.jobs.stop()
                    await services.gateways.close()
        finally:
            await store.close()

    def build(store: Store, http: httpx.AsyncClient, webhooks_http: httpx.AsyncClient) -> Services:
        metrics = Metrics()
        daraja = DarajaClient(http, clock)
        gateways = Gateways(Reach.of(settings.routers))
        worker = RouterWorker(store, clock, vault, gateways, metrics)
        sync = RouterSync(store, clock, worker)

        def paid(path: str) -> None:
            """After a payment became paid: count how we learnt it, and switch the device on."""
            metrics.confirmations.labels(path=path).inc()
            jobs.router_tasks.wake()  # its grant is queued; its expiry has no moment until it is online
            jobs.webhooks.wake()  # an API client's payment: its webhooks are queued

        confirmation = Confirmation(
            store,
            clock,
            vault,
            daraja,
            payment_timeout=settings.mpesa.payment_timeout,
            paid=paid,
            settled=lambda: jobs.webhooks.wake(),
        )
        checkout = Checkout(
            store,
            clock,
            vault,
            daraja,
            metrics,
            public_url=settings.server.public_url,
            payment_timeout=settings.mpesa.payment_timeout,
            limits=settings.limits,
            ask_about=confirmation.ask_now,
        )
        receipt_checks = ReceiptChecks(
            store, clock, vault, daraja, public_url=settings.server.public_url, paid=paid
        )
        sender = Sender(store, clock, vault, webhooks_http)
        api_usage = Meter(clock, settings.store.timezone)
        jobs = Jobs(settings, clock, store, vault, daraja, worker, sync, confirmation, sender, api_usage)
        return Services(
            settings=settings,
            clock=clock,
            vault=vault,
            store=store,
            daraja=daraja,
            gateways=gateways,
            checkout=checkout,
            confirmation=confirmation,
            receipt_checks=receipt_checks,
            worker=worker,
            sync=sync,
            presence=Presence(store, clock, vault, gateways),
            jobs=jobs,
            metrics=metrics,
            code_tries=Backoff(clock),
            sign_in_forms=SignInForms(clock),
            api_usage=api_usage,
        )

    return Litestar(
        route_handlers=[
            health.healthz,
            metrics.metrics,
            *splash.HANDLERS,
            admin.router,
            *api.ROUTERS,
            *hooks.HANDLERS,
            *route_handlers,
        ],
        lifespan=[lifespan],
        exception_handlers={HTTPException: unrouted, HTTP_500_INTERNAL_SERVER_ERROR: errors.server_error},
        state=State({"settings": settings}),
        template_config=TemplateConfig(directory=TEMPLATES, engine=JinjaTemplateEngine),
        openapi_config=None,
        logging_config=None,  # logs.configure() owns logging
    )


def unrouted(request: Request, error: HTTPException) -> Response:
    """Errors Litestar raises before it has found a route, which no router's own handler sees: a page that
    doesn't exist, a method a page doesn't take, an id in the path that isn't a number. Under /admin they
    answer the admin's page, under /api a problem (JSON); elsewhere Litestar's usual answer. A router's
    own handler of HTTPException (the admin's, the API's) overrides this one for its routes."""
    path = request.url.path
    if path == admin.router.path or path.startswith(f"{admin.router.path}/"):
        return admin.error_page(request, error)
    if path == API or path.startswith(f"{API}/"):
        return api.unrouted(request, error)
    return create_exception_response(request, error)
