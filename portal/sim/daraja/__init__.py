"""A Daraja simulator that speaks the real protocol (reference/daraja.md §13), and a fake phone.

Clients point an M-Pesa account's environment at its base URL. It checks what Daraja checks, in
Daraja's order, and answers with Daraja's envelopes and HTTP statuses: an invalid token is a 404, a
wrong passkey a 500, a form-encoded body "Invalid BusinessShortCode". Results go out as callbacks over
HTTP, and the STK query tells the same story (or, on request, contradicts it, as the sandbox has).

Nobody pays until someone answers the prompt on the fake phone (`/phone`, or `/phone/api/prompts` for
programs) or the prompt times out on the injected clock. Knobs (`Options`) reproduce the field's
troubles: late, duplicated or lost callbacks, both "still pending" styles, slow queries, C2B URLs that
can't be registered again; and `fail_next` injects gateway errors (HTTP 429, an HTML page, an empty
503, a 504), garbage, spike arrest and answers that come too late. Transaction Status answers receipts
it knows, checking the SecurityCredential with its own key (its certificate: `GET /__sim/certificate`).

    simulator.py           the state: merchants, tokens, prompts, the callbacks it posts; the knobs
    protocol.py            Daraja's envelopes, the token check, field checks, injected faults
    api.py                 OAuth, STK push and query, C2B register and simulate
    transaction_status.py  Transaction Status, and the certificate
    phone.py               the fake phone, and the test controls under /__sim/

The simulator's own choices, not Daraja's: the credentials and merchants in DEFAULT_*, a receipt's
letters, and that hosts under `.invalid` are never contacted (RFC 6761: they can't exist).
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from litestar import Litestar, Request, Response
from litestar.datastructures import State
from litestar.exceptions import MethodNotAllowedException, NotFoundException

from ...clock import Clock
from . import api, phone, transaction_status
from .protocol import error
from .simulator import (
    DEFAULT_CONSUMERS,
    DEFAULT_INITIATORS,
    DEFAULT_MERCHANTS,
    SANDBOX_PASSKEY,
    Merchant,
    Options,
    Simulator,
    key_and_certificate,
    stk_callback_body,
)

__all__ = [
    "DEFAULT_CONSUMERS",
    "DEFAULT_INITIATORS",
    "DEFAULT_MERCHANTS",
    "SANDBOX_PASSKEY",
    "Merchant",
    "Options",
    "Simulator",
    "create_simulator",
    "simulator_certificate",
    "stk_callback_body",
]


def simulator_certificate() -> str:
    """The certificate (PEM) of every simulator in this process (`Simulator.certificate_pem`, and
    `GET /__sim/certificate` over HTTP): what an account on one pastes for Transaction Status."""
    return key_and_certificate()[1]


def _not_found(request: Request, exc: Exception) -> Response:
    return error(404, "404.001.01", "Resource not found")


def _method_not_allowed(request: Request, exc: Exception) -> Response:
    return error(405, "405.001", "Method Not Allowed")


def create_simulator(
    clock: Clock,
    options: Options | None = None,
    *,
    consumers: dict[str, str] | None = None,
    merchants: dict[str, Merchant] | None = None,
) -> Litestar:
    """The simulator as an ASGI app; its state (for tests and knobs) is `app.state.simulator`."""
    sim = Simulator(clock, options, consumers, merchants)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with httpx.AsyncClient() as http:
            sim.http = http
            try:
                yield
            finally:
                await sim.stop()

    return Litestar(
        route_handlers=[*api.HANDLERS, *transaction_status.HANDLERS, *phone.HANDLERS],
        lifespan=[lifespan],
        state=State({"simulator": sim}),
        exception_handlers={NotFoundException: _not_found, MethodNotAllowedException: _method_not_allowed},
        openapi_config=None,
        logging_config=None,
    )
