"""Sessions: who is online, until when and how much they used; and the owner's hand on them (give a
device a package's time, add time, end, move to another device). Every change is audited, and the
worker is woken so that the router follows at once."""

import ipaddress
from datetime import datetime, timedelta
from urllib.parse import urlencode

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from ...access import routers, sessions
from ...access.sessions import Session, SessionError
from ...billing import purchases
from ...billing.earnings import local_midnight
from ...billing.purchases import Purchase
from ...catalog import packages
from ...gateways.base import normalize_mac
from ...gateways.registry import OnlineNow
from ...i18n.formats import left as left_until
from ...i18n.formats import short_duration
from ...store import Connection
from ...tenancy import goodwill
from ...tenancy.admins import GIVE_TIME, GIVE_TIME_FREELY
from ...tenancy.goodwill import OverLimit
from ...tenancy.scope import Scope, of_tenant
from ...typed_numbers import whole
from .base import (
    Shown,
    Tenants,
    audit_change,
    form_fields,
    may_change,
    needs,
    owned,
    page,
    services,
    tenant_for_new_rows,
)

# A page waits this long at most for a router's byte counts; a router that is down costs no more.
DATA_USED_TIMEOUT = 2.0
ENDED_SHOWN = 200
MAX_MINUTES = 7 * 24 * 60  # more than a week by hand is a typo, not goodwill
ENDED = "This session has already ended."
REFUSED = {
    "device_has_time": "This device already has time of its own.",
    "other_tenant": "The router and the package must both belong to the business.",
    "ended": "That access has ended.",
}


def _shown(db: Connection, found: list[Session]) -> list[Shown]:
    """Sessions with their router's and package's names."""
    router_names = routers.names(db, {s.router_id for s in found})
    package_names = packages.names(db, {s.package_id for s in found})
    return [Shown(s, router=router_names[s.router_id], package=package_names[s.package_id]) for s in found]


def _purchases(paid_by: dict[int, list[Purchase]]) -> dict[int, list[Shown]]:
    """What gave each session its time, with where each leads: a payment to its customer (the page shows
    the phone), a voucher to its batch, money paid by hand to its receipt; time given by hand names the
    admin who gave it."""

    def link(purchase: Purchase) -> Shown:
        if purchase.kind == "payment":
            return Shown(purchase, label=purchase.name, href=f"/admin/customers/{purchase.id}")
        if purchase.kind == "voucher":
            return Shown(purchase, label=f"voucher {purchase.name}", href=f"/admin/vouchers/{purchase.name}")
        if purchase.kind == "given":
            return Shown(purchase, label=f"given by {purchase.name}", href=None)
        href = f"/admin/payments?{urlencode({'receipt': purchase.name})}#by-hand"
        return Shown(purchase, label=f"{purchase.name} (paid by hand)", href=href)

    return {session_id: [link(p) for p in found] for session_id, found in paid_by.items()}


async def _data_used(request: Request, tenants: Scope, online: list) -> OnlineNow:
    """The byte counts of the routers that have any of these sessions online."""
    asked = {s.router_id for s in online if s.state == "active"}
    in_use = [
        router
        for router in await services(request).store.read(routers.in_scope, tenants)
        if router.id in asked
    ]
    return await routers.online_now(
        services(request).gateways, services(request).vault, in_use, DATA_USED_TIMEOUT
    )


def _session_list(db: Connection, tenants: Scope, since: datetime) -> dict:
    live, ended = sessions.live(db, tenants), sessions.ended(db, tenants, since, ENDED_SHOWN)
    return {
        "live": _shown(db, live),
        "ended": _shown(db, ended),
        "paid_by": _purchases(purchases.paid_by(db, [s.id for s in live + ended])),
    }


@get("/sessions")
async def session_list(request: Request, tenants: Tenants) -> Template:
    now = services(request).clock.now()
    found = await services(request).store.report(_session_list, tenants, now - timedelta(days=7))
    return await page(
        request, "sessions", data_used=await _data_used(request, tenants, found["live"]), **found
    )


async def _grant_page(request: Request, tenant_id: int, fields: dict, error: str = "", status_code=200):
    own = of_tenant(tenant_id)
    found_routers = await services(request).store.read(routers.in_scope, own)
    found_packages = await services(request).store.read(packages.in_scope, own)
    return await page(
        request,
        "session_new",
        status_code=status_code,
        fields=fields,
        error=error,
        routers=[(router.id, router.name) for router in found_routers if router.disabled_at is None],
        packages=[(package.id, package.name) for package in found_packages],
    )


@get("/sessions/new", guards=[needs(GIVE_TIME)])
async def grant_form(request: Request, tenants: Tenants) -> Template:
    """Filled in with the device a link names (a customer's, from their page)."""
    query = request.query_params
    named = {name: query[name] for name in ("router_id", "mac") if name in query}
    return await _grant_page(request, tenant_for_new_rows(tenants), named)


@post("/sessions/new", guards=[needs(GIVE_TIME)])
async def grant(request: Request, tenants: Tenants) -> Template | Redirect:
    """A package's time for a device, on the house: a customer whose payment went astray, a guest."""
    tenant_id = tenant_for_new_rows(tenants)
    own = of_tenant(tenant_id)
    fields = form_fields(await request.form())
    # Only this tenant's routers and packages: another's id is simply not found.
    router = await owned(request, routers.get, own, fields.get("router_id", ""))
    package = await owned(request, packages.get, own, fields.get("package_id", ""))
    problem, mac, ip = _read_device(fields)
    if not problem:

        def give(db: Connection) -> int:
            minutes = -(-package.duration_seconds // 60)
            _within_limit(db, request, tenant_id, minutes)
            session_id = sessions.open_session(
                db,
                services(request).clock,
                services(request).vault,
                tenant_id=tenant_id,
                router_id=router.id,
                package_id=package.id,
                mac=mac,
                ip=ip,
                seconds=package.duration_seconds,
            )
            detail = {"mac": mac, "router": router.name, "package": package.name, "minutes": minutes}
            audit_change(
                db,
                request,
                tenant_id=tenant_id,
                action="session_granted",
                target=f"session:{session_id}",
                detail=detail,
            )
            return session_id

        try:
            session_id = await services(request).store.write(give)
        except SessionError as error:
            problem = REFUSED.get(error.reason, str(error))
        except OverLimit as over:
            problem = f"{package.name} gives {short_duration(package.duration_seconds)}. {_over_limit(over)}"
    if problem:
        return await _grant_page(request, tenant_id, fields, problem, status_code=400)
    services(request).jobs.wake()
    return Redirect(f"/admin/sessions/{session_id}?done=granted", status_code=303)


async def _session(request: Request, tenants: Scope, session_id: int) -> Session:
    return await owned(request, sessions.get, tenants, session_id)


def _session_page(db: Connection, session: Session) -> dict:
    return {
        "session": _shown(db, [session])[0],
        "paid_by": _purchases(purchases.paid_by(db, [session.id])).get(session.id, []),
        "routers": routers.in_scope(db, of_tenant(session.tenant_id)),
    }


async def _detail(
    request: Request, tenants: Scope, session_id: int, status_code: int = 200, **extra
) -> Template:
    session = await _session(request, tenants, session_id)
    found = await services(request).store.report(_session_page, session)
    data_used = await _data_used(request, of_tenant(session.tenant_id), [session])
    return await page(request, "session", status_code=status_code, data_used=data_used, **found, **extra)


@get("/sessions/{session_id:int}")
async def session_detail(request: Request, tenants: Tenants, session_id: FromPath[int]) -> Template:
    return await _detail(request, tenants, session_id)


@post("/sessions/{session_id:int}/extend", guards=[needs(GIVE_TIME)])
async def session_extend(
    request: Request, tenants: Tenants, session_id: FromPath[int]
) -> Template | Redirect:
    session = await _session(request, tenants, session_id)
    text = form_fields(await request.form()).get("minutes", "").strip()
    minutes = whole(text, 6) or 0
    if not 1 <= minutes <= MAX_MINUTES:
        problem = f"Give the minutes to add: a whole number from 1 to {MAX_MINUTES:,} (a week)."
        return await _detail(request, tenants, session_id, 400, extend_error=problem, minutes=text)

    def extend(db: Connection) -> bool:
        _within_limit(db, request, session.tenant_id, minutes)
        if not sessions.extend_session(db, services(request).clock, session.id, minutes * 60):
            return False
        _audit(db, request, session, "session_extended", {"mac": session.mac, "minutes": minutes})
        return True

    try:
        extended = await services(request).store.write(extend)
    except OverLimit as over:
        return await _detail(request, tenants, session_id, 403, extend_error=_over_limit(over), minutes=text)
    if not extended:
        return await _detail(request, tenants, session_id, 409, extend_error=ENDED)
    services(request).jobs.wake()
    return Redirect(f"/admin/sessions/{session.id}?done=extended", status_code=303)


@get("/sessions/{session_id:int}/revoke", guards=[may_change])
async def session_revoke_form(request: Request, tenants: Tenants, session_id: FromPath[int]) -> Template:
    session = await _session(request, tenants, session_id)
    if not session.live:
        return await _detail(request, tenants, session_id, 409, revoke_error=ENDED)
    router = await services(request).store.read(routers.names, [session.router_id])
    now = services(request).clock.now()
    # Still connecting: its time has not started, so all of it is lost.
    left = f"The {left_until(session.expires_at, now)} left are" if session.expires_at else "Its paid time is"
    return await page(
        request,
        "confirm",
        title=f"End access for {session.mac}?",
        consequences=[
            f"The device is taken off {router[session.router_id]} now: it is offline within seconds.",
            f"{left} not refunded: to get back online, the customer pays again.",
            "The session stays in the history, with what paid for it.",
        ],
        action=f"/admin/sessions/{session.id}/revoke",
        button="End access now",
        back=f"/admin/sessions/{session.id}",
    )


@post("/sessions/{session_id:int}/revoke", guards=[may_change])
async def session_revoke(
    request: Request, tenants: Tenants, session_id: FromPath[int]
) -> Template | Redirect:
    session = await _session(request, tenants, session_id)

    def end(db: Connection) -> bool:
        if not sessions.end_session(db, services(request).clock, session.id):
            return False
        router = routers.names(db, [session.router_id])[session.router_id]
        _audit(db, request, session, "session_revoked", {"mac": session.mac, "router": router})
        return True

    if not await services(request).store.write(end):
        return await _detail(request, tenants, session_id, 409, revoke_error=ENDED)
    services(request).jobs.wake()
    return Redirect(f"/admin/sessions/{session.id}?done=revoked", status_code=303)


@post("/sessions/{session_id:int}/move", guards=[may_change])
async def session_move(request: Request, tenants: Tenants, session_id: FromPath[int]) -> Template | Redirect:
    session = await _session(request, tenants, session_id)
    fields = form_fields(await request.form())
    # Only the session's own tenant's routers: another's id is simply not found.
    router = await owned(
        request, routers.get, of_tenant(session.tenant_id), fields.get("router_id") or session.router_id
    )
    problem, mac, ip = _read_device(fields)
    if not problem and (router.id, mac) == (session.router_id, session.mac):
        problem = "That is the device this session is on already."
    if not problem:

        def move(db: Connection) -> None:
            old_router = routers.names(db, [session.router_id])[session.router_id]
            sessions.move_session(
                db, services(request).clock, session.id, router_id=router.id, mac=mac, ip=ip
            )
            moved = {"from": [session.mac, old_router], "to": [mac, router.name]}
            _audit(db, request, session, "session_moved", moved)

        try:
            await services(request).store.write(move)
        except SessionError as error:
            problem = REFUSED.get(error.reason, str(error))
    if problem:
        return await _detail(request, tenants, session_id, 400, move_error=problem, move=fields)
    services(request).jobs.wake()
    return Redirect(f"/admin/sessions/{session.id}?done=moved", status_code=303)


def _read_device(fields: dict[str, str]) -> tuple[str, str, str | None]:
    """(what is wrong, MAC, IP) of the device a form names."""
    try:
        mac = normalize_mac(fields.get("mac", ""))
    except ValueError:
        return "Give the device's MAC address, like AA:BB:CC:DD:EE:FF.", "", None
    ip = fields.get("ip", "").strip()
    try:
        return "", mac, str(ipaddress.ip_address(ip)) if ip else None
    except ValueError:
        return "That IP address is not one; leave it empty and the router finds the device.", mac, None


def _within_limit(db: Connection, request: Request, tenant_id: int, minutes: int) -> None:
    """Staff give goodwill up to the business's daily limit each (OverLimit past it); owners freely."""
    admin = request.state.admin
    if admin.may(GIVE_TIME_FREELY):
        return
    zone, now = services(request).settings.store.timezone, services(request).clock.now()
    goodwill.allow(db, tenant_id, admin.email, minutes, local_midnight(zone, now.astimezone(zone).date()))


def _over_limit(over: OverLimit) -> str:
    left = f"you can give {over.left} more minutes today" if over.left else "you have no minutes left today"
    return (
        f"That is more than you may give: {left}, of the {over.limit} a day the owner allows each"
        " staff member. Ask the owner to give it, or to raise the limit on the Team page."
    )


def _audit(db: Connection, request: Request, session: Session, action: str, detail: dict) -> None:
    audit_change(
        db, request, tenant_id=session.tenant_id, action=action, target=f"session:{session.id}", detail=detail
    )


handlers = [
    session_list,
    grant_form,
    grant,
    session_detail,
    session_extend,
    session_revoke_form,
    session_revoke,
    session_move,
]
