"""What every admin page shares: the session guard, CSRF, roles, rendering, and how values are shown."""

import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie, ResponseHeader
from litestar.di import NamedDependency
from litestar.enums import MediaType
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
)
from litestar.handlers import BaseRouteHandler
from litestar.response import Redirect, Template
from litestar.types import ASGIApp, Message, Receive, Send
from litestar.types import Scope as ASGIScope
from markupsafe import Markup

from ...billing.earnings import SOURCES
from ...billing.period_reports import FIRST_YEAR, LAST_YEAR, MAX_DAYS
from ...billing.removal import Footprint
from ...i18n import formats
from ...store import Connection
from ...tenancy import audit, tenants
from ...tenancy.admins import (
    CHANGE,
    EXPORT_PHONES,
    SEE_EVERY_VOUCHER_CODE,
    SESSION_LIFETIME,
    SET_VOUCHER_PRICE,
    Admin,
    admin_for_session,
    scope_of,
)
from ...tenancy.scope import Scope
from ...typed_numbers import whole
from .. import errors
from ..addresses import came_over_https, client_address
from ..forms import form_fields

COOKIE = "portal_admin"
CSRF_FIELD = "csrf"
CSRF_REFUSED = (
    "This form was not accepted: it came from another site, or your session changed since the page "
    "was loaded. Go back, reload the page and try again."
)
STAFF_REFUSED = "Staff accounts can look at everything but change no money and no credentials."
# Why a right is refused, in the words of what was asked (tenancy/admins.py RIGHTS says who has which).
REFUSED = {
    CHANGE: STAFF_REFUSED,
    EXPORT_PHONES: (
        "Lists of customers' phone numbers are for the owner to download. Look a customer up in Payments"
        " instead, or ask the owner."
    ),
    SET_VOUCHER_PRICE: "Vouchers staff make sell at their package's price: the owner sets any other.",
    SEE_EVERY_VOUCHER_CODE: (
        "The unused codes of this batch are for whoever made it, and the owner: ask them for the sheet."
    ),
}

# Nothing is loaded from elsewhere and nothing runs but our markup; pages are private to the viewer. The
# router sends them with every page; error pages, which Litestar sends past the router, add them themselves.
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

# Short confirmations shown after a redirect; the URL names one, so no text of the client's is shown.
NOTICES = {
    "password": "Password changed. Every other device has been signed out.",
    "reversed": "The payment is marked reversed.",
    "confirmed_paid": "The payment is confirmed paid. The customer's device is being let in now.",
    "not_paid": "The payment is marked not paid.",
    "asked": "M-Pesa was asked about the receipt; its answer shows here within a minute or so.",
    "saved": "Saved.",
    "generated": "Vouchers generated.",
    "voided": "Unused vouchers in this batch are void.",
    "sold": "The unused vouchers in this batch count as sold now, and not again when they are used.",
    "granted": "Access given. The router is being told now.",
    "extended": "Time added. The router is being told now.",
    "revoked": "Access ended. The router is being told now.",
    "moved": "Moved to the new device. The router is being told now.",
    "unlocked": "Unlocked: they can sign in again now.",
    "removed": "Removed from the team. They are signed out everywhere.",
    "api_revoked": "Revoked: its token is refused from now on.",
    "sent_again": "Queued to send again: it goes out within seconds; its tries show below.",
    "disabled": "Disabled. You can enable it again here whenever you like.",
    "enabled": "Enabled: it is in use again.",
    "deleted": "Deleted.",
    "kept": (
        "Removed from the list. It is kept for the books: payments, sessions and the audit log still show it."
    ),
}
DAY_REFUSED = {
    "not_a_date": "Write a date as YYYY-MM-DD, for example 2026-01-31.",
    "out_of_range": f"Pick a date between {FIRST_YEAR} and {LAST_YEAR}.",
    "before_start": "The end date is before the start date.",
    "too_long": f"Pick a period of at most {MAX_DAYS} days.",
}
SOURCE_NAMES = dict(zip(SOURCES, ("M-Pesa prompt", "M-Pesa paid by hand", "Vouchers"), strict=True))


def services(connection: ASGIConnection) -> Any:
    """The app's services (app.Services, built by the app factory, which the web layer never imports)."""
    return connection.app.state.services


def source_ip(connection: ASGIConnection) -> str:
    return client_address(connection, services(connection).settings.server.trusted_proxies)


async def signed_in(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """The router's guard: a live session for every page but sign-in, and its CSRF token on every POST."""
    if handler.opt.get("public"):
        return
    admin = await admin_of(connection)
    if admin is None:
        raise NotAuthorizedException()
    connection.state.admin = admin
    connection.state.tenants = await services(connection).store.read(scope_of, admin)
    if connection.scope["method"] not in ("GET", "HEAD"):
        await check_csrf(connection, admin.csrf_token, upload=handler.opt.get("upload", False))


async def admin_of(connection: ASGIConnection) -> Admin | None:
    """Who the session cookie signs in, if anyone."""
    token = connection.cookies.get(COOKIE)
    if not token:
        return None
    return await services(connection).store.read(admin_for_session, services(connection).clock, token)


async def check_csrf(connection: ASGIConnection, expected: str, *, upload: bool = False) -> None:
    """The form's files are closed here (Litestar leaves them open), as nothing will read them: all but
    an accepted form's to a handler that takes an upload (opt={"upload": True}), which reads and closes
    them itself."""
    form = await Request(connection.scope, connection.receive).form()
    posted = form.get(CSRF_FIELD, "")
    accepted = (
        isinstance(posted, str) and expected and hmac.compare_digest(posted.encode(), expected.encode())
    )
    if not (upload and accepted):
        form_fields(form)
    if not accepted:
        raise PermissionDeniedException(CSRF_REFUSED)


def needs(right: str) -> Callable[[ASGIConnection, BaseRouteHandler], None]:
    """A guard: the signed-in admin's role has `right` (tenancy/admins.py RIGHTS)."""

    def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        if not connection.state.admin.may(right):
            raise PermissionDeniedException(REFUSED.get(right, STAFF_REFUSED))

    return guard


may_change = needs(CHANGE)  # pages that change money, credentials, the catalogue or the team


def platform_only(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    if connection.state.admin.role != "platform":
        raise PermissionDeniedException("Only a platform admin can do this.")


# Handlers name what they need: `admin: CurrentAdmin`, `tenants: Tenants` (see the router's dependencies).
CurrentAdmin = NamedDependency[Admin]
Tenants = NamedDependency[Scope]


def current_admin(request: Request) -> Admin:
    return request.state.admin


def current_tenants(request: Request) -> Scope:
    return request.state.tenants


def session_cookie(request: Request, token: str) -> Cookie:
    return Cookie(
        key=COOKIE,
        value=token,
        path="/admin",
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=is_https(request),
    )


def is_https(request: ASGIConnection) -> bool:
    return came_over_https(request, services(request).settings.server.trusted_proxies)


HSTS = (b"strict-transport-security", b"max-age=31536000")


def strict_transport(app: ASGIApp) -> ASGIApp:
    """Middleware: an admin page that came over HTTPS tells the browser never to ask over plain HTTP."""

    async def middleware(scope: ASGIScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_https(ASGIConnection(scope)):
            await app(scope, receive, send)
            return

        async def send_with_hsts(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), HSTS]
            await send(message)

        await app(scope, receive, send_with_hsts)

    return middleware


async def page(
    request: Request, name: str, *, status_code: int = 200, cookies: Sequence[Cookie] = (), **context: Any
) -> Template:
    return Template(
        template_name=f"admin/{name}.html",
        context=await _context(request, context),
        status_code=status_code,
        cookies=list(cookies),
    )


async def _context(request: ASGIConnection, context: dict[str, Any]) -> dict[str, Any]:
    signed_in = getattr(request.state, "admin", None) is not None
    names = await services(request).store.read(tenants.names) if signed_in else {}
    return _plain_context(request, {"tenant_names": names, **context})


def _plain_context(request: ASGIConnection, context: dict[str, Any]) -> dict[str, Any]:
    admin = getattr(request.state, "admin", None)
    return {
        "admin": admin,
        "tenant_names": {},
        "scope": getattr(request.state, "tenants", None),
        "fmt": Formats(
            services(request).settings.store.timezone,
            services(request).clock.now(),
            masked=admin is not None and admin.role == "staff",
        ),
        "path": request.url.path,
        "notice": NOTICES.get(request.query_params.get("done", "")),
        "csrf_field": Markup('<input type="hidden" name="{}" value="{}">').format(
            CSRF_FIELD, admin.csrf_token if admin else ""
        ),
        **context,
    }


def error_page(request: Request, error: HTTPException) -> Response:
    """The router's handler for HTTP errors: a page, or the sign-in form when not signed in.

    Litestar calls exception handlers synchronously, so this page shows nothing from the database."""
    if isinstance(error, NotAuthorizedException):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        following = f"?next={quote(target)}" if request.method == "GET" and target != "/admin" else ""
        return Redirect(f"/admin/login{following}", status_code=303)
    return _error_response(request, error.status_code, _message(error), headers=error.headers)


def failure_page(request: Request, error: Exception) -> Response:
    """The router's handler for what failed on our side: a page with the reference its log line carries,
    so the owner can quote it; nothing of the error itself is shown."""
    reference = errors.logged(request, error)
    message = (
        "Something went wrong on our side and nothing was changed by this page. Try again in a minute; "
        f"if it happens again, quote this reference: {reference}"
    )
    return _error_response(request, errors.status_of(error), message)


def _error_response(
    request: Request, status: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    context = _plain_context(request, {"status": status, "message": message})
    html = request.app.template_engine.get_template("admin/error.html").render(**context)
    own = {header.name: header.value for header in HEADERS}
    return Response(html, status_code=status, media_type=MediaType.HTML, headers={**own, **(headers or {})})


def _message(error: HTTPException) -> str:
    if error.status_code == 404:
        return "There is nothing here, or it belongs to someone else."
    if error.status_code == 400:
        return "That request was not understood. Go back and check what you typed."
    if error.status_code == 405:
        return "This page can't be used that way. Go back and use the page's own buttons and links."
    if error.status_code == 413:
        return "That file is too big to upload here."
    return error.detail


def sentence(text: str) -> str:
    """A domain error's message (`no API client 3`), as a page shows it: `No API client 3.`"""
    return text[0].upper() + text[1:] + "."


def page_number(request: Request) -> int:
    """The ?page= asked for; anything odd is page 1."""
    text = request.query_params.get("page", "1")
    return max(1, whole(text, 6) or 1)


def safe_next(target: str) -> str:
    """Where to go after signing in: only a page of this admin, never another site."""
    if target.startswith("/admin") and not target.startswith("/admin/login") and "//" not in target:
        return target
    return "/admin"


MAX_ROW_ID = 2**63 - 1  # SQLite's largest rowid; a bigger number can't even be asked about


def row_id(value: int | str) -> int:
    """An id from a URL or a form, or 404: whatever can't be a row is simply not found."""
    number = value if isinstance(value, int) else whole(value, 19) or 0
    if not 1 <= number <= MAX_ROW_ID:
        raise NotFoundException()
    return number


async def owned(request: Request, find: Callable[..., Any], tenants: Scope, row: int | str) -> Any:
    """`find(db, id, scope)`'s value, or 404: another tenant's is as absent as one never made."""
    found = await services(request).store.read(find, row_id(row), tenants)
    if found is None:
        raise NotFoundException()
    return found


def tenant_for_new_rows(tenants: Scope) -> int:
    """The tenant a new package, router or account goes to: the admin's own, or the one picked."""
    if tenants.single is None:
        raise HTTPException(
            status_code=409, detail="Pick a tenant at the top of the page first: this belongs to one tenant."
        )
    return tenants.single


def kept_or_deleted(name: str, found: Footprint) -> str:
    """What removing something does, said before the owner confirms (billing/removal.py)."""
    if found.kept:
        return (
            f"{name} has history ({found.history} payments, sessions, vouchers or receipts name it), so it"
            " is not deleted: it is disabled and hidden from this list, kept for the books."
        )
    return f"Nothing was ever sold or used through {name}: it is deleted, and its name is free again."


def audit_change(
    db: Connection, request: Request, *, tenant_id: int, action: str, target: str, detail: dict | None = None
) -> None:
    """An audit event for a change the signed-in admin made in this request, in the change's transaction."""
    audit.record(
        db,
        services(request).clock,
        tenant_id=tenant_id,
        actor=request.state.admin.email,
        action=action,
        target=target,
        detail=detail,
        source_ip=source_ip(request),
    )


class Shown:
    """A value with the names a page shows beside it (its router's, its package's…): `shown.mac` is the
    value's own, `shown.router` the name given here."""

    def __init__(self, value: Any, **names: Any):
        self._value = value
        self.__dict__.update(names)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._value, name)


@dataclass(frozen=True)
class Result:
    """What came of trying something outside (a router's connection, Daraja credentials), shown at the
    top of the page the button was on."""

    ok: bool
    title: str
    lines: list[str]


@dataclass(frozen=True)
class Formats:
    """How values look on a page (i18n/formats.py), in the business's zone and as of now."""

    zone: ZoneInfo
    now: datetime
    masked: bool = False  # customers' numbers shown to staff, who see who paid but keep no phone list

    kes = staticmethod(formats.money)
    duration = staticmethod(formats.short_duration)
    phone = staticmethod(formats.phone)
    data = staticmethod(formats.data_size)
    day = staticmethod(formats.day)
    source = staticmethod(SOURCE_NAMES.__getitem__)  # where Wi-Fi money came from (earnings.SOURCES)

    def when(self, moment: datetime | None) -> str:
        return formats.when(moment, self.zone, self.now)

    def customer_phone(self, number: str) -> str:
        """A customer's number as this admin may see it: whole, or masked for staff (0712 ••• 678)."""
        return formats.masked_phone(number) if self.masked else formats.phone(number)

    def when_exact(self, moment: datetime | None) -> str:
        return formats.when_exact(moment, self.zone)

    def left(self, until: datetime | None) -> str:
        return formats.left(until, self.now)

    def ago(self, moment: datetime | None) -> str:
        return formats.ago(moment, self.now)
