"""What every admin page shares: the session guard, CSRF, roles, rendering, and how values are shown."""

import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
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
from markupsafe import Markup

from ... import audit
from ...admin_auth import COOKIE, SESSION_LIFETIME, Admin, admin_for_session, scope_of
from ...clock import from_text
from ...db import Transaction
from ...numbers import whole
from ...scope import Scope
from ..addresses import client_address
from ..forms import form_fields
from ..words import data_size

if TYPE_CHECKING:
    from ...app import Services

CSRF_FIELD = "csrf"
CSRF_REFUSED = (
    "This form was not accepted: it came from another site, or your session changed since the page "
    "was loaded. Go back, reload the page and try again."
)
STAFF_REFUSED = "Staff accounts can look at everything but change no money and no credentials."

# Short confirmations shown after a redirect; the URL names one, so no text of the client's is shown.
NOTICES = {
    "password": "Password changed. Every other device has been signed out.",
    "reversed": "The payment is marked reversed.",
    "saved": "Saved.",
    "generated": "Vouchers generated.",
    "voided": "Unused vouchers in this batch are void.",
    "granted": "Access given. The router is being told now.",
    "extended": "Time added. The router is being told now.",
    "revoked": "Access ended. The router is being told now.",
    "moved": "Moved to the new device. The router is being told now.",
}


def services(connection: ASGIConnection) -> "Services":
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
    connection.state.tenants = await scope_of(services(connection).db, admin)
    if connection.scope["method"] not in ("GET", "HEAD"):
        await check_csrf(connection, admin.csrf_token)


async def admin_of(connection: ASGIConnection) -> Admin | None:
    """Who the session cookie signs in, if anyone."""
    token = connection.cookies.get(COOKIE)
    return (
        await admin_for_session(services(connection).db, services(connection).clock, token) if token else None
    )


async def check_csrf(connection: ASGIConnection, expected: str) -> None:
    posted = form_fields(await Request(connection.scope, connection.receive).form()).get(CSRF_FIELD, "")
    if not (expected and hmac.compare_digest(posted.encode(), expected.encode())):
        raise PermissionDeniedException(CSRF_REFUSED)


def may_change(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Guard for pages that change money or credentials."""
    if not connection.state.admin.may_change:
        raise PermissionDeniedException(STAFF_REFUSED)


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
    return request.url.scheme == "https" or services(request).settings.server.public_url.startswith(
        "https://"
    )


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
    tenants = (
        await services(request).db.fetchall("SELECT id, name FROM tenants ORDER BY name") if signed_in else []
    )
    return _plain_context(request, {"tenant_names": {row["id"]: row["name"] for row in tenants}, **context})


def _plain_context(request: ASGIConnection, context: dict[str, Any]) -> dict[str, Any]:
    admin = getattr(request.state, "admin", None)
    return {
        "admin": admin,
        "tenant_names": {},
        "scope": getattr(request.state, "tenants", None),
        "fmt": Formats(services(request).settings.store.timezone, services(request).clock.now()),
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
    context = _plain_context(request, {"status": error.status_code, "message": _message(error)})
    html = request.app.template_engine.get_template("admin/error.html").render(**context)
    return Response(html, status_code=error.status_code, media_type=MediaType.HTML, headers=error.headers)


def _message(error: HTTPException) -> str:
    if error.status_code == 404:
        return "There is nothing here, or it belongs to someone else."
    if error.status_code == 400:
        return "That request was not understood. Go back and check what you typed."
    return error.detail


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


async def owned(request: Request, find, tenants: Scope, row: int | str):
    """`find(db, tenants, id)`'s row, or 404: another tenant's row is as absent as one never made."""
    found = await find(services(request).db, tenants, row_id(row))
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


async def audit_change(
    tx: Transaction, request: Request, *, tenant_id: int, action: str, target: str, detail: dict | None = None
) -> None:
    """An audit event for a change the signed-in admin made in this request."""
    await audit.record(
        tx,
        services(request).clock,
        tenant_id=tenant_id,
        actor=request.state.admin.email,
        action=action,
        target=target,
        detail=detail,
        source_ip=source_ip(request),
    )


@dataclass(frozen=True)
class Result:
    """What came of trying something outside (a router's connection, Daraja credentials), shown at the
    top of the page the button was on."""

    ok: bool
    title: str
    lines: list[str]


@dataclass(frozen=True)
class Formats:
    """How values look on a page: local time, shillings, durations, phone numbers."""

    zone: ZoneInfo
    now: datetime

    def kes(self, amount: int | None) -> str:
        return f"KES {amount or 0:,}"

    def local(self, stored: str | None) -> datetime | None:
        return from_text(stored).astimezone(self.zone) if stored else None

    def when(self, stored: str | None) -> str:
        moment = self.local(stored)
        if moment is None:
            return ""
        today = self.now.astimezone(self.zone).date()
        if moment.date() == today:
            return moment.strftime("today %H:%M")
        if moment.year == today.year:
            return moment.strftime("%-d %b %H:%M")
        return moment.strftime("%-d %b %Y %H:%M")

    def when_exact(self, stored: str | None) -> str:
        moment = self.local(stored)
        return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else ""

    def day(self, value: date) -> str:
        return value.strftime("%a %-d %b")

    def left(self, stored: str | None) -> str:
        """Time from now until `stored`, for a session's remaining time."""
        if not stored:
            return ""
        seconds = int((from_text(stored) - self.now).total_seconds())
        return self.duration(seconds) if seconds > 0 else "ended"

    def ago(self, stored: str | None) -> str:
        if not stored:
            return "never"
        seconds = int((self.now - from_text(stored)).total_seconds())
        return "just now" if seconds < 60 else f"{self.duration(seconds)} ago"

    @staticmethod
    def duration(seconds: int) -> str:
        minutes = seconds // 60
        if minutes < 60:
            return f"{max(minutes, 1)} min"
        hours, minutes = divmod(minutes, 60)
        if hours < 24:
            return f"{hours} h {minutes} min" if minutes else f"{hours} h"
        days, hours = divmod(hours, 24)
        return f"{days} d {hours} h" if hours else f"{days} day{'s' if days != 1 else ''}"

    @staticmethod
    def phone(phone: str | None) -> str:
        if not phone:
            return ""
        national = "0" + phone[3:]
        return f"{national[:4]} {national[4:7]} {national[7:]}"

    data = staticmethod(data_size)
