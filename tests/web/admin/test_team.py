"""The owner's team page: invite, reset, unlock, change roles and remove, in the browser, audited."""

import contextlib
import html
import re

import pytest

from portal.app import create_app
from portal.tenancy.admins import FREE_PER_ACCOUNT
from tests.conftest import rows, serving, value
from tests.seed import seed_tenant
from tests.web.admin.client import browser, csrf_of, sign_in

TEMPORARY = re.compile(r'id="temporary-password".*?<code class="voucher-code">([^<]+)</code>', re.S)


@pytest.fixture
async def alpha(store, clock, vault):
    return await seed_tenant(store, clock, vault, "alpha")


async def user_id(store, email: str) -> int:
    return await value(store, "SELECT id FROM admin_users WHERE email = ?", (email,))


@contextlib.asynccontextmanager
async def owner_and_staff_signed_in(app, seeded):
    """The app served, its owner and its staff each signed in in a browser of their own."""
    async with serving(app) as base, browser() as owner, browser() as staff:
        csrf = csrf_of((await sign_in(owner, base, seeded.owner)).text)
        await sign_in(staff, base, seeded.staff)
        yield base, owner, staff, csrf


async def team_audit(store) -> list[tuple]:
    found = await rows(
        store,
        "SELECT actor, action, target, detail FROM audit_events"
        " WHERE action NOT IN ('sign_in', 'sign_in_failed', 'sign_out') ORDER BY id",
    )
    return [tuple(row) for row in found]


async def test_an_owner_invites_staff_who_sign_in_with_the_password_shown_once(
    settings, clock, vault, store, alpha
):
    app = create_app(settings, clock=clock, vault=vault)
    async with serving(app) as base, browser() as owner, browser() as newcomer:
        csrf = csrf_of((await sign_in(owner, base, alpha.owner)).text)
        invited = await owner.post(
            f"{base}/admin/team/invite",
            data={"csrf": csrf, "email": "wanjiru@alpha.example", "role": "staff"},
        )
        password = TEMPORARY.search(invited.text).group(1)
        again = await owner.get(f"{base}/admin/team")
        signed_in = await sign_in(newcomer, base, "wanjiru@alpha.example", password)
    assert invited.status_code == 200
    assert "wanjiru@alpha.example" in again.text
    assert password not in again.text
    assert signed_in.url.path == "/admin"
    assert await value(store, "SELECT role FROM admin_users WHERE email = 'wanjiru@alpha.example'") == "staff"
    assert password not in repr(await rows(store, "SELECT * FROM audit_events"))
    assert await team_audit(store) == [
        (alpha.owner, "admin_invited", "admin:wanjiru@alpha.example", '{"role": "staff"}')
    ]


async def test_inviting_a_taken_or_mistyped_email_says_why_and_adds_no_one(
    settings, clock, vault, store, alpha
):
    app = create_app(settings, clock=clock, vault=vault)
    async with serving(app) as base, browser() as owner:
        csrf = csrf_of((await sign_in(owner, base, alpha.owner)).text)
        taken = await owner.post(
            f"{base}/admin/team/invite", data={"csrf": csrf, "email": alpha.staff.upper(), "role": "staff"}
        )
        mistyped = await owner.post(
            f"{base}/admin/team/invite", data={"csrf": csrf, "email": "wanjiru at alpha", "role": "staff"}
        )
    assert taken.status_code == mistyped.status_code == 400
    assert "already exists" in taken.text
    assert "is not an email address" in mistyped.text
    assert 'id="temporary-password"' not in taken.text + mistyped.text
    assert await value(store, "SELECT count(*) FROM admin_users") == 2


async def test_removing_staff_asks_first_then_ends_their_session_at_once_and_keeps_them_listed(
    settings, clock, vault, store, alpha
):
    staff_id, app = alpha.staff_id, create_app(settings, clock=clock, vault=vault)
    async with owner_and_staff_signed_in(app, alpha) as (base, owner, staff, csrf):
        asked = await owner.get(f"{base}/admin/team/{staff_id}/remove")
        unchanged = await staff.get(f"{base}/admin/sessions")
        removed = await owner.post(f"{base}/admin/team/{staff_id}/remove", data={"csrf": csrf})
        after = await staff.get(f"{base}/admin/sessions")
        again = await sign_in(staff, base, alpha.staff)
    assert "signed out now" in asked.text
    assert unchanged.url.path == "/admin/sessions"
    assert removed.url.path == "/admin/team"
    assert "Removed from the team" in removed.text
    assert re.search(rf'id="admin-{staff_id}".*?removed', removed.text, re.S)
    assert after.url.path == "/admin/login"
    assert again.status_code == 401
    assert await team_audit(store) == [(alpha.owner, "admin_removed", f"admin:{alpha.staff}", "{}")]


async def test_someone_removed_can_be_invited_back_with_a_new_password(settings, clock, vault, store, alpha):
    staff_id = alpha.staff_id
    app = create_app(settings, clock=clock, vault=vault)
    async with serving(app) as base, browser() as owner, browser() as staff:
        csrf = csrf_of((await sign_in(owner, base, alpha.owner)).text)
        await owner.post(f"{base}/admin/team/{staff_id}/remove", data={"csrf": csrf})
        invited = await owner.post(
            f"{base}/admin/team/invite", data={"csrf": csrf, "email": alpha.staff, "role": "staff"}
        )
        back = await sign_in(staff, base, alpha.staff, TEMPORARY.search(invited.text).group(1))
    assert back.url.path == "/admin"
    assert await user_id(store, alpha.staff) == staff_id


async def test_a_reset_password_is_shown_once_and_signs_them_out_everywhere(
    settings, clock, vault, store, alpha
):
    staff_id, app = alpha.staff_id, create_app(settings, clock=clock, vault=vault)
    async with owner_and_staff_signed_in(app, alpha) as (base, owner, staff, csrf):
        reset = await owner.post(f"{base}/admin/team/{staff_id}/reset", data={"csrf": csrf})
        password = TEMPORARY.search(reset.text).group(1)
        signed_out = await staff.get(f"{base}/admin/sessions")
        old = await sign_in(staff, base, alpha.staff)
        new = await sign_in(staff, base, alpha.staff, password)
    assert f"New password for {alpha.staff}" in reset.text
    assert signed_out.url.path == "/admin/login"
    assert old.status_code == 401
    assert new.url.path == "/admin"
    assert await team_audit(store) == [(alpha.owner, "password_reset", f"admin:{alpha.staff}", "{}")]


async def test_unlock_lets_slowed_down_staff_sign_in_again_at_once(settings, clock, vault, store, alpha):
    staff_id = alpha.staff_id
    app = create_app(settings, clock=clock, vault=vault)
    async with serving(app) as base, browser() as owner, browser() as staff:
        csrf = csrf_of((await sign_in(owner, base, alpha.owner)).text)
        for _ in range(FREE_PER_ACCOUNT + 1):
            await sign_in(staff, base, alpha.staff, "a wrong guess")
        slowed = await owner.get(f"{base}/admin/team")
        refused = await sign_in(staff, base, alpha.staff)
        unlocked = await owner.post(f"{base}/admin/team/{staff_id}/unlock", data={"csrf": csrf})
        signed_in = await sign_in(staff, base, alpha.staff)
    assert re.search(rf'id="admin-{staff_id}".*?slowed down', slowed.text, re.S)
    assert refused.status_code == 429
    assert "they can sign in again" in unlocked.text
    assert signed_in.url.path == "/admin"
    assert await team_audit(store) == [(alpha.owner, "account_unlocked", f"admin:{alpha.staff}", "{}")]


async def test_the_last_owner_can_neither_remove_nor_demote_themself_but_can_once_there_is_another(
    settings, clock, vault, store, alpha
):
    owner_id, staff_id = await user_id(store, alpha.owner), alpha.staff_id
    app = create_app(settings, clock=clock, vault=vault)
    async with serving(app) as base, browser() as owner:
        csrf = csrf_of((await sign_in(owner, base, alpha.owner)).text)
        removing = await owner.post(f"{base}/admin/team/{owner_id}/remove", data={"csrf": csrf})
        demoting = await owner.post(
            f"{base}/admin/team/{owner_id}/role", data={"csrf": csrf, "role": "staff"}
        )
        promoting = await owner.post(
            f"{base}/admin/team/{staff_id}/role", data={"csrf": csrf, "role": "owner"}
        )
        stepping_down = await owner.post(
            f"{base}/admin/team/{owner_id}/role", data={"csrf": csrf, "role": "staff"}
        )
        as_staff = await owner.get(f"{base}/admin/team")
    assert removing.status_code == demoting.status_code == 400
    assert "the business's only owner: make someone else an owner first" in html.unescape(removing.text)
    assert promoting.url.path == stepping_down.url.path == "/admin/team"
    assert as_staff.status_code == 403
    roles = await rows(store, "SELECT email, role FROM admin_users ORDER BY id")
    assert [tuple(row) for row in roles] == [(alpha.owner, "staff"), (alpha.staff, "owner")]
    assert [event[1:3] for event in await team_audit(store)] == [
        ("admin_role_changed", f"admin:{alpha.staff}"),
        ("admin_role_changed", f"admin:{alpha.owner}"),
    ]


async def test_staff_see_no_team_and_an_owner_reaches_no_one_of_another_business(
    settings, clock, vault, store, alpha
):
    beta = await seed_tenant(store, clock, vault, "beta", phone="254722000000")
    theirs = beta.staff_id
    app = create_app(settings, clock=clock, vault=vault)
    async with serving(app) as base, browser() as owner, browser() as staff:
        csrf = csrf_of((await sign_in(owner, base, alpha.owner)).text)
        listed = await owner.get(f"{base}/admin/team")
        answers = [
            (await owner.get(f"{base}/admin/team/{theirs}/remove")).status_code,
            *[
                (
                    await owner.post(
                        f"{base}/admin/team/{theirs}/{action}", data={"csrf": csrf, "role": "owner"}
                    )
                ).status_code
                for action in ("remove", "reset", "unlock", "role")
            ],
        ]
        await sign_in(staff, base, alpha.staff)
        staff_sees = await staff.get(f"{base}/admin/team")
        dashboard = await staff.get(f"{base}/admin")
    assert beta.staff not in listed.text
    assert answers == [404] * 5
    assert staff_sees.status_code == 403
    assert 'href="/admin/team"' not in dashboard.text
    assert await value(store, "SELECT count(*) FROM admin_users WHERE disabled_at IS NOT NULL") == 0
    assert await team_audit(store) == []


async def test_the_owner_sets_how_much_time_staff_may_give_a_day(settings, clock, vault, store, alpha):
    app = create_app(settings, clock=clock, vault=vault)
    async with owner_and_staff_signed_in(app, alpha) as (base, owner, staff, csrf):
        shown = await owner.get(f"{base}/admin/team")
        saved = await owner.post(f"{base}/admin/team/goodwill", data={"csrf": csrf, "goodwill": "45"})
        typo = await owner.post(f"{base}/admin/team/goodwill", data={"csrf": csrf, "goodwill": "lots"})
        by_staff = await staff.post(
            f"{base}/admin/team/goodwill",
            data={"csrf": csrf_of((await staff.get(f"{base}/admin")).text), "goodwill": "999"},
        )
    assert 'name="goodwill" inputmode="numeric" value="60"' in shown.text
    assert saved.url.path == "/admin/team" and 'value="45"' in saved.text
    assert typo.status_code == 400 and "a whole number from 0 (none) to 1,440" in typo.text
    assert 'value="lots"' in typo.text
    assert by_staff.status_code == 403
    assert await value(store, "SELECT staff_goodwill_minutes FROM tenants") == 45
    assert await team_audit(store) == [(alpha.owner, "staff_goodwill_changed", "tenant:1", '{"minutes": 45}')]
