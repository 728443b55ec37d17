"""Who is calling: the `Authorization: Bearer <token>` of every request under /api/v1, the scope its
handler needs (`opt={"scope": …}`), and the audit line of every call, written with the client in the
same transaction that notes the token's use."""

from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from ...clock import Clock
from ...store import Connection
from ...tenancy import api_clients, audit
from ...tenancy.api_clients import ApiClient
from ..addresses import client_address
from .problems import FORBIDDEN, UNAUTHORIZED, Problem

CHALLENGE = 'Bearer realm="portal"'


async def authenticated(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """The router's guard: a live client's token (else 401), with the handler's scope (else 403)."""
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(
            UNAUTHORIZED,
            "send the API token as `Authorization: Bearer <token>`",
            headers={"WWW-Authenticate": CHALLENGE},
        )
    on = connection.app.state.services
    call = f"{connection.scope['method']} {connection.url.path}"
    source = client_address(connection, on.settings.server.trusted_proxies)
    scope = handler.opt["scope"]
    client = await on.store.write(_authenticate, on.clock, token.strip(), scope, call, source)
    if client is None:
        raise Problem(
            UNAUTHORIZED,
            "this API token is unknown or was revoked",
            headers={"WWW-Authenticate": f'{CHALLENGE}, error="invalid_token"'},
        )
    if not client.may(scope):
        raise Problem(FORBIDDEN, f"this API token lacks the scope {scope}")
    connection.state.api_client = client


def _authenticate(
    db: Connection, clock: Clock, token: str, scope: str, call: str, source: str
) -> ApiClient | None:
    client = api_clients.authenticate(db, clock, token)
    if client is not None:
        audit.record(
            db,
            clock,
            tenant_id=client.tenant_id,
            actor=f"api-client:{client.id} {client.name}",
            action="api_call" if client.may(scope) else "api_call_refused",
            target=call,
            detail={"scope": scope},
            source_ip=source,
        )
    return client
