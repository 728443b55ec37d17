"""The owner's admin pages under /admin: server-rendered, no external resources, usable on a phone.

Every page but sign-in needs a session (the `signed_in` guard, which also checks the CSRF token of
every POST); pages that change money or credentials also need the `may_change` guard. Every query
is scoped to the tenants the admin may see, so another tenant's id in a URL is simply not found.
"""

from litestar import Router
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from . import (
    api_clients,
    auth,
    catalog,
    connections,
    customers,
    overview,
    payments,
    reconcile,
    reports,
    sessions,
    team,
)
from .base import (
    HEADERS,
    current_admin,
    current_tenants,
    error_page,
    failure_page,
    signed_in,
    strict_transport,
)

router = Router(
    path="/admin",
    route_handlers=[
        *auth.handlers,
        *overview.handlers,
        *reports.handlers,
        *payments.handlers,
        *reconcile.handlers,
        *sessions.handlers,
        *customers.handlers,
        *catalog.handlers,
        *connections.handlers,
        *team.handlers,
        *api_clients.handlers,
    ],
    guards=[signed_in],
    dependencies={
        "admin": Provide(current_admin, sync_to_thread=False),
        "tenants": Provide(current_tenants, sync_to_thread=False),
    },
    # What fails on our side is keyed by status: Litestar looks that up before the exception's class.
    exception_handlers={HTTPException: error_page, HTTP_500_INTERNAL_SERVER_ERROR: failure_page},
    response_headers=HEADERS,
    middleware=[strict_transport],
)
