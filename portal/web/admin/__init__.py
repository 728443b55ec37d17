"""The owner's admin pages under /admin: server-rendered, no external resources, usable on a phone.

Every page but sign-in needs a session (the `signed_in` guard, which also checks the CSRF token of
every POST); pages that change money or credentials also need the `may_change` guard. Every query
is scoped to the tenants the admin may see, so another tenant's id in a URL is simply not found.
"""

from litestar import Router
from litestar.datastructures import ResponseHeader
from litestar.di import Provide
from litestar.exceptions import HTTPException

from . import auth, catalog, connections, overview, payments, reconcile, reports, sessions, team
from .base import current_admin, current_tenants, error_page, signed_in, strict_transport

# Nothing is loaded from elsewhere and nothing runs but our markup; pages are private to the viewer.
HEADERS = [
    ResponseHeader(
        name="Content-Security-Policy",
        value="default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self';"
        " frame-ancestors 'none'; base-uri 'none'",
    ),
    ResponseHeader(name="Cache-Control", value="no-store"),
    ResponseHeader(name="X-Content-Type-Options", value="nosniff"),
    ResponseHeader(name="Referrer-Policy", value="same-origin"),
]

router = Router(
    path="/admin",
    route_handlers=[
        *auth.handlers,
        *overview.handlers,
        *reports.handlers,
        *payments.handlers,
        *reconcile.handlers,
        *sessions.handlers,
        *catalog.handlers,
        *connections.handlers,
        *team.handlers,
    ],
    guards=[signed_in],
    dependencies={
        "admin": Provide(current_admin, sync_to_thread=False),
        "tenants": Provide(current_tenants, sync_to_thread=False),
    },
    exception_handlers={HTTPException: error_page},
    response_headers=HEADERS,
    middleware=[strict_transport],
)
