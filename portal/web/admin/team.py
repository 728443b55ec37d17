"""The owner's team: who may sign in to this business's admin, invited, re-roled, reset, unlocked and
removed from the browser. Owners only (and platform admins looking at one business)."""

import asyncio

from litestar import Request, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template

from ...store import Connection
from ...tenancy import admins
from ...tenancy import tenants as tenants_table
from ...tenancy.admins import By, Member, NotInTeam
from ...tenancy.passwords import hash_password
from ...tenancy.tenants import TenantError
from ...typed_numbers import whole
from .base import (
    CurrentAdmin,
    Tenants,
    audit_change,
    form_fields,
    may_change,
    page,
    row_id,
    sentence,
    services,
    source_ip,
    tenant_for_new_rows,
)

ROLE_NAMES = {
    "owner": "Owner: everything, the team too",
    "staff": "Staff: the counter (vouchers, time up to a daily limit, checking routers); sees the rest",
}
MAX_GOODWILL = 24 * 60  # minutes a day: more than a whole day each is no limit at all


def _by(request: Request, admin: CurrentAdmin, tenants: Tenants) -> By:
    return By(admin.email, tenant_for_new_rows(tenants), source_ip(request))


async def _team_page(request: Request, by: By, status_code: int = 200, **extra) -> Template:
    members = await _members(request, by)
    business = await services(request).store.read(tenants_table.get, by.tenant_id)
    return await page(
        request,
        "team",
        status_code=status_code,
        members=members,
        role_names=ROLE_NAMES,
        **{"goodwill": str(business.staff_goodwill_minutes), **extra},
    )


async def _change(request: Request, by: By, work, *args, **kwargs) -> Template | None:
    """Runs one change of the team; the team page with its reason if it is refused, None if done."""
    try:
        await services(request).store.write(work, services(request).clock, by, *args, **kwargs)
    except NotInTeam:
        raise NotFoundException() from None
    except TenantError as refused:
        return await _team_page(request, by, status_code=400, error=sentence(str(refused)))
    return None


@get("/team", guards=[may_change])
async def team(request: Request, admin: CurrentAdmin, tenants: Tenants) -> Template:
    return await _team_page(request, _by(request, admin, tenants))


@post("/team/invite", guards=[may_change])
async def invite(request: Request, admin: CurrentAdmin, tenants: Tenants) -> Template:
    by = _by(request, admin, tenants)
    form = form_fields(await request.form())
    email, role = form.get("email", "").strip()[:200], form.get("role", "")
    password = admins.temporary_password()
    hashed = await asyncio.to_thread(hash_password, password)
    refused = await _change(request, by, admins.invite, email=email, role=role, password_hash=hashed)
    if refused:
        return refused
    return await _team_page(request, by, told={"email": email, "password": password, "invited": True})


@post("/team/goodwill", guards=[may_change])
async def set_goodwill(request: Request, admin: CurrentAdmin, tenants: Tenants) -> Template | Redirect:
    """How many minutes of Wi-Fi each staff member may give away a day (tenancy/goodwill.py)."""
    by = _by(request, admin, tenants)
    typed = form_fields(await request.form()).get("goodwill", "").strip()
    minutes = whole(typed, 5)
    if minutes is None or minutes > MAX_GOODWILL:
        error = f"Give the minutes as a whole number from 0 (none) to {MAX_GOODWILL:,} (a whole day)."
        return await _team_page(request, by, status_code=400, goodwill_error=error, goodwill=typed)

    def change(db: Connection) -> None:
        if tenants_table.set_staff_goodwill(db, by.tenant_id, minutes):
            target = f"tenant:{by.tenant_id}"
            detail = {"minutes": minutes}
            audit_change(
                db,
                request,
                tenant_id=by.tenant_id,
                action="staff_goodwill_changed",
                target=target,
                detail=detail,
            )

    await services(request).store.write(change)
    return Redirect("/admin/team?done=saved#goodwill", status_code=303)


@post("/team/{user_id:int}/reset", guards=[may_change])
async def reset(request: Request, admin: CurrentAdmin, tenants: Tenants, user_id: FromPath[int]) -> Template:
    by = _by(request, admin, tenants)
    password = admins.temporary_password()
    hashed = await asyncio.to_thread(hash_password, password)
    try:
        email = await services(request).store.write(
            admins.reset_password, services(request).clock, by, hashed, user_id=row_id(user_id)
        )
    except NotInTeam:
        raise NotFoundException() from None
    return await _team_page(request, by, told={"email": email, "password": password, "invited": False})


async def _members(request: Request, by: By) -> list[Member]:
    return await services(request).store.read(admins.team, services(request).clock, by.tenant_id)


@post("/team/{user_id:int}/unlock", guards=[may_change])
async def unlock(
    request: Request, admin: CurrentAdmin, tenants: Tenants, user_id: FromPath[int]
) -> Template | Redirect:
    by = _by(request, admin, tenants)
    return await _change(request, by, admins.unlock, user_id=row_id(user_id)) or Redirect(
        "/admin/team?done=unlocked", status_code=303
    )


@post("/team/{user_id:int}/role", guards=[may_change])
async def set_role(
    request: Request, admin: CurrentAdmin, tenants: Tenants, user_id: FromPath[int]
) -> Template | Redirect:
    by = _by(request, admin, tenants)
    role = form_fields(await request.form()).get("role", "")
    return await _change(request, by, admins.set_role, row_id(user_id), role) or Redirect(
        "/admin/team?done=saved", status_code=303
    )


@get("/team/{user_id:int}/remove", guards=[may_change])
async def remove_form(
    request: Request, admin: CurrentAdmin, tenants: Tenants, user_id: FromPath[int]
) -> Template:
    by = _by(request, admin, tenants)
    member = next((m for m in await _members(request, by) if m.admin.id == row_id(user_id)), None)
    if member is None or member.admin.disabled_at is not None:
        raise NotFoundException()
    return await page(
        request,
        "confirm",
        title=f"Remove {member.admin.email}?",
        consequences=[
            "They can't sign in any more, and every device they are signed in on is signed out now.",
            "What they did stays in the audit log and the books under their email.",
            "You can invite the same email again later: they get a new temporary password.",
        ],
        action=f"/admin/team/{member.admin.id}/remove",
        button="Remove from the team",
        back="/admin/team",
    )


@post("/team/{user_id:int}/remove", guards=[may_change])
async def remove(
    request: Request, admin: CurrentAdmin, tenants: Tenants, user_id: FromPath[int]
) -> Template | Redirect:
    by = _by(request, admin, tenants)
    refused = await _change(request, by, admins.disable, user_id=row_id(user_id))
    if refused:
        return refused
    if user_id == admin.user_id:  # they removed themself: their own session has just ended
        return Redirect("/admin/login", status_code=303)
    return Redirect("/admin/team?done=removed", status_code=303)


handlers = [team, invite, set_goodwill, reset, unlock, set_role, remove_form, remove]
