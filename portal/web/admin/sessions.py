"""Sessions: who is online, until when and how much they used; and the owner's hand on them (give a
device a package's time, add time, end, move to another device). Every change is audited, and the
session worker is woken so that the router follows at once."""

import ipaddress
from datetime import timedelta

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from ... import packages, reports, routers
from ...gateway.base import normalize_mac
from ...numbers import whole
from ...scope import Scope
from ...sessions import SessionError, end_session, extend_session, move_session, open_session
from .base import Tenants, audit_change, form_fields, may_change, owned, page, services, tenant_for_new_rows

# A page waits this long at most for a router's byte counts; a router that is down costs no more.
DATA_USED_TIMEOUT = 2.0
ENDED_SHOWN = 200
MAX_MINUTES = 7 * 24 * 60  # more than a week by hand is a typo, not goodwill
ENDED = "This session has already ended."


async def _data_used(request: Request, tenants: Scope, sessions: list) -> routers.DataUsed:
    """The byte counts of the routers that have any of these sessions online."""
    online = {row["router_id"] for row in sessions if row["state"] == "active"}
    asked = [row for row in await routers.routers(services(request).db, tenants) if row["id"] in online]
    return await routers.data_used(services(request).gateways, asked, DATA_USED_TIMEOUT)


@get("/sessions")
async def session_list(request: Request, tenants: Tenants) -> Template:
    db, now = services(request).db, services(request).clock.now()
    live = await reports.live_sessions(db, tenants)
    ended = await reports.ended_sessions(db, tenants, now - timedelta(days=7), limit=ENDED_SHOWN)
    return await page(
        request,
        "sessions",
        live=live,
        ended=ended,
        paid_by=await reports.paid_by(db, live + ended),
        data_used=await _data_used(request, tenants, live),
    )


async def _grant_page(request: Request, tenant_id: int, fields: dict, error: str = "", status_code=200):
    own, db = Scope((tenant_id,)), services(request).db
    return await page(
        request,
        "session_new",
        status_code=status_code,
        fields=fields,
        error=error,
        routers=[(row["id"], row["name"]) for row in await routers.routers(db, own)],
        packages=[(row["id"], row["name"]) for row in await packages.packages(db, own)],
    )


@get("/sessions/new", guards=[may_change])
async def grant_form(request: Request, tenants: Tenants) -> Template:
    return await _grant_page(request, tenant_for_new_rows(tenants), {})


@post("/sessions/new", guards=[may_change])
async def grant(request: Request, tenants: Tenants) -> Template | Redirect:
    """A package's time for a device, on the house: a customer whose payment went astray, a guest."""
    tenant_id = tenant_for_new_rows(tenants)
    own = Scope((tenant_id,))
    fields = form_fields(await request.form())
    # Only this tenant's routers and packages: another's id is simply not found.
    router = await owned(request, routers.router, own, fields.get("router_id", ""))
    package = await owned(request, packages.package, own, fields.get("package_id", ""))
    problem, mac, ip = _read_device(fields)
    if not problem:
        try:
            async with services(request).db.transaction() as tx:
                session_id = await open_session(
                    tx,
                    services(request).clock,
                    services(request).vault,
                    tenant_id=tenant_id,
                    router_id=router["id"],
                    package_id=package["id"],
                    mac=mac,
                    ip=ip,
                    seconds=package["duration_seconds"],
                )
                await audit_change(
                    tx,
                    request,
                    tenant_id=tenant_id,
                    action="session_granted",
                    target=f"session:{session_id}",
                    detail={"mac": mac, "router": router["name"], "package": package["name"]},
                )
        except SessionError as error:
            problem = str(error)[:1].upper() + str(error)[1:] + "."
    if problem:
        return await _grant_page(request, tenant_id, fields, problem, status_code=400)
    services(request).sessions.wake()
    return Redirect(f"/admin/sessions/{session_id}?done=granted", status_code=303)


async def _session(request: Request, tenants: Scope, session_id: int):
    return await owned(request, reports.session, tenants, session_id)


async def _detail(
    request: Request, tenants: Scope, session_id: int, status_code: int = 200, **extra
) -> Template:
    row = await _session(request, tenants, session_id)
    own = Scope((row["tenant_id"],))
    return await page(
        request,
        "session",
        status_code=status_code,
        session=row,
        paid_by=(await reports.paid_by(services(request).db, [row])).get(row["id"], []),
        routers=await routers.routers(services(request).db, own),
        data_used=await _data_used(request, own, [row]),
        **extra,
    )


@get("/sessions/{session_id:int}")
async def session_detail(request: Request, tenants: Tenants, session_id: FromPath[int]) -> Template:
    return await _detail(request, tenants, session_id)


@post("/sessions/{session_id:int}/extend", guards=[may_change])
async def session_extend(
    request: Request, tenants: Tenants, session_id: FromPath[int]
) -> Template | Redirect:
    row = await _session(request, tenants, session_id)
    text = form_fields(await request.form()).get("minutes", "").strip()
    minutes = whole(text, 6) or 0
    if not 1 <= minutes <= MAX_MINUTES:
        problem = f"Give the minutes to add: a whole number from 1 to {MAX_MINUTES:,} (a week)."
        return await _detail(request, tenants, session_id, 400, extend_error=problem, minutes=text)
    async with services(request).db.transaction() as tx:
        if extended := await extend_session(tx, services(request).clock, row["id"], minutes * 60):
            await _audit(tx, request, row, "session_extended", {"mac": row["mac"], "minutes": minutes})
    if not extended:
        return await _detail(request, tenants, session_id, 409, extend_error=ENDED)
    services(request).sessions.wake()
    return Redirect(f"/admin/sessions/{row['id']}?done=extended", status_code=303)


@post("/sessions/{session_id:int}/revoke", guards=[may_change])
async def session_revoke(
    request: Request, tenants: Tenants, session_id: FromPath[int]
) -> Template | Redirect:
    row = await _session(request, tenants, session_id)
    async with services(request).db.transaction() as tx:
        if revoked := await end_session(tx, services(request).clock, row["id"]):
            await _audit(tx, request, row, "session_revoked", {"mac": row["mac"], "router": row["router"]})
    if not revoked:
        return await _detail(request, tenants, session_id, 409, revoke_error=ENDED)
    services(request).sessions.wake()
    return Redirect(f"/admin/sessions/{row['id']}?done=revoked", status_code=303)


@post("/sessions/{session_id:int}/move", guards=[may_change])
async def session_move(request: Request, tenants: Tenants, session_id: FromPath[int]) -> Template | Redirect:
    row = await _session(request, tenants, session_id)
    fields = form_fields(await request.form())
    # Only the session's own tenant's routers: another's id is simply not found.
    router = await owned(
        request, routers.router, Scope((row["tenant_id"],)), fields.get("router_id") or row["router_id"]
    )
    problem, mac, ip = _read_device(fields)
    if not problem and (router["id"], mac) == (row["router_id"], row["mac"]):
        problem = "That is the device this session is on already."
    if not problem:
        try:
            async with services(request).db.transaction() as tx:
                await move_session(
                    tx, services(request).clock, row["id"], router_id=router["id"], mac=mac, ip=ip
                )
                moved = {"from": [row["mac"], row["router"]], "to": [mac, router["name"]]}
                await _audit(tx, request, row, "session_moved", moved)
        except SessionError as error:
            problem = str(error)[:1].upper() + str(error)[1:] + "."
    if problem:
        return await _detail(request, tenants, session_id, 400, move_error=problem, move=fields)
    services(request).sessions.wake()
    return Redirect(f"/admin/sessions/{row['id']}?done=moved", status_code=303)


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


async def _audit(tx, request: Request, row, action: str, detail: dict) -> None:
    await audit_change(
        tx, request, tenant_id=row["tenant_id"], action=action, target=f"session:{row['id']}", detail=detail
    )


handlers = [session_list, grant_form, grant, session_detail, session_extend, session_revoke, session_move]
