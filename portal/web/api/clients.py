"""Who is calling: the `Authorization: Bearer <token>` of every request under /api/v1, the scope its
handler needs (`opt={"scope": …}`), the client's limits (limits.py), and the audit line of every call,
written with the client in the same transaction that notes the token's use, counts the call in its
minute and writes the usage counted since the last call (tenancy/api_usage.py)."""

from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from ...clock import Clock
from ...settings import Settings
from ...store import Connection
from ...tenancy import api_clients, api_usage, audit
from ..addresses import client_address
from .limits import Allowance, is_push
from .problems import FORBIDDEN, PROMPTS_SPENT, RATE_LIMITED, UNAUTHORIZED, Kind, Problem

CHALLENGE = 'Bearer realm="portal"'


async def authenticated(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """The router's guard: a live client's token (else 401), within its rate limit (else 429), with the
    handler's scope (else 403), and a prompt within its monthly quota (else 429). OPTIONS, which
    Litestar answers itself with the methods a path takes, needs none: it tells nothing of a business."""
    if connection.scope["method"] == "OPTIONS":
        return
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(
            UNAUTHORIZED,
            "send the API token as `Authorization: Bearer <token>`",
            headers={"WWW-Authenticate": CHALLENGE},
        )
    on = connection.app.state.services
    method = connection.scope["method"]
    call = f"{method} {connection.url.path}"
    push = is_push(method, connection.url.path)
    source = client_address(connection, on.settings.server.trusted_proxies)
    scope = handler.opt["scope"]
    with on.api_usage.taken() as counted:
        found = await on.store.write(
            _authenticate, on.clock, on.settings, token.strip(), scope, call, push, source, counted
        )
    if found is None:
        raise Problem(
            UNAUTHORIZED,
            "this API token is unknown, revoked, or replaced by a newer one",
            headers={"WWW-Authenticate": f'{CHALLENGE}, error="invalid_token"'},
        )
    client, allowance = found
    connection.state.api_client_id = client.id
    connection.state.api_allowance = allowance
    refused = _refusal(client, allowance, scope, push)
    if refused is RATE_LIMITED:
        raise Problem(
            RATE_LIMITED,
            f"this token may make {allowance.requests} calls a minute; try again in"
            f" {allowance.requests_reset} seconds",
            headers={"Retry-After": str(allowance.requests_reset)},
        )
    if refused is FORBIDDEN:
        raise Problem(FORBIDDEN, f"this API token lacks the scope {scope}")
    if refused is PROMPTS_SPENT:
        raise Problem(
            PROMPTS_SPENT,
            f"this API client may send {allowance.prompts} M-Pesa prompts a month and has sent them;"
            " the count starts again next month, or the box's platform admin can raise it",
            headers={"Retry-After": str(allowance.prompts_reset)},
        )
    connection.state.api_client = client


def _refusal(client: api_clients.ApiClient, allowance: Allowance, scope: str, push: bool) -> Kind | None:
    """Why the call is refused, if it is: the rate limit first, as it holds for every call."""
    if allowance.over_rate(client.minute_calls):
        return RATE_LIMITED
    if not client.may(scope):
        return FORBIDDEN
    if push and not allowance.prompts_left:
        return PROMPTS_SPENT
    return None


AUDITED_AS = {
    None: "api_call",
    FORBIDDEN: "api_call_refused",
    RATE_LIMITED: "api_call_limited",
    PROMPTS_SPENT: "api_call_limited",
}


def _authenticate(
    db: Connection,
    clock: Clock,
    settings: Settings,
    token: str,
    scope: str,
    call: str,
    push: bool,
    source: str,
    counted: api_usage.Taken,
) -> tuple[api_clients.ApiClient, Allowance] | None:
    api_usage.add(db, counted)
    client = api_clients.authenticate(db, clock, token)
    if client is None:
        return None
    now = clock.now()
    first_day, next_month = api_usage.month_of(now, settings.store.timezone)
    used = api_usage.pushes_since(db, client.id, first_day)
    allowance = Allowance.of(client, settings.api, now, used, next_month)
    audit.record(
        db,
        clock,
        tenant_id=client.tenant_id,
        actor=f"api-client:{client.id} {client.name}",
        action=AUDITED_AS[_refusal(client, allowance, scope, push)],
        target=call,
        detail={"scope": scope},
        source_ip=source,
    )
    return client, allowance
