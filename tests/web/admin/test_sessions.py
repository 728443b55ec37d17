"""Sessions in the admin: add time, end access and move to another device reach the router (the RouterOS
emulator over loopback) through the running app's own worker; data used is read from the router."""

import json
from datetime import timedelta

import pytest

from portal.app import create_app
from portal.clock import to_text
from portal.gateways.routeros.durations import parse_duration
from tests.conftest import eventually, execute, free_port, rows, serving, value
from tests.seed import insert, insert_payment, insert_session, on_emulator, seed_tenant
from tests.web.admin.client import browser, csrf_of, sign_in

NEW_MAC, OTHER_MAC = "AA:BB:CC:DD:EE:77", "AA:BB:CC:DD:EE:78"


@pytest.fixture
async def alpha(store, clock, vault):
    return await seed_tenant(store, clock, vault, "alpha")


@pytest.fixture
async def online(store, clock, vault, alpha, emulator):
    """Alpha's router is the emulator, and the seeded session's device is on its hotspot."""
    await on_emulator(store, vault, alpha.router_id, emulator.port)
    [(mac, ip)] = await rows(store, "SELECT mac, ip FROM access_sessions WHERE id = ?", (alpha.session_id,))
    emulator.connect_device(mac, ip)
    return mac


async def audited(store, action: str) -> list[tuple]:
    events = await rows(
        store, "SELECT actor, target, detail, source_ip FROM audit_events WHERE action = ?", (action,)
    )
    return [(row["actor"], row["target"], json.loads(row["detail"]), row["source_ip"]) for row in events]


def user_on_router(emulator, mac: str):
    found = emulator.console("/ip/hotspot/user/print", queries=[f"name={mac}"]).rows
    return found[0] if found else None


async def router_has(emulator, mac: str, yes: bool = True):
    return emulator.has_access(mac) == yes


async def test_ending_access_in_the_admin_takes_the_device_off_the_router(
    settings, clock, vault, store, alpha, emulator, online
):
    app = create_app(settings, clock=clock, vault=vault)
    async with serving(app) as base, browser() as http:
        await app.state.services.sync.sync_router(alpha.router_id)  # the device is logged in
        assert emulator.has_access(online)
        await sign_in(http, base, alpha.owner)
        page = await http.get(f"{base}/admin/sessions/{alpha.session_id}")
        ended = await http.post(
            f"{base}/admin/sessions/{alpha.session_id}/revoke", data={"csrf": csrf_of(page.text)}
        )
        await eventually(lambda: router_has(emulator, online, False))
        again = await http.post(
            f"{base}/admin/sessions/{alpha.session_id}/revoke", data={"csrf": csrf_of(page.text)}
        )
    assert ended.status_code == 200 and "Access ended" in ended.text
    assert "End access now" not in ended.text  # nothing left to end
    assert again.status_code == 409 and "already ended" in again.text
    state = await value(store, "SELECT state FROM access_sessions WHERE id = ?", (alpha.session_id,))
    assert state == "revoked"
    assert await audited(store, "session_revoked") == [
        (
            alpha.owner,
            f"session:{alpha.session_id}",
            {"mac": online, "router": "alpha-router"},
            "127.0.0.1",
        )
    ]


async def test_time_added_in_the_admin_reaches_the_routers_cap(
    settings, clock, vault, store, alpha, emulator, online
):
    app = create_app(settings, clock=clock, vault=vault)
    async with serving(app) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, alpha.owner)).text)
        added = await http.post(
            f"{base}/admin/sessions/{alpha.session_id}/extend", data={"csrf": csrf, "minutes": "30"}
        )

        async def cap_grown():
            user = user_on_router(emulator, online)
            return user is not None and parse_duration(user["limit-uptime"]) >= 90 * 60

        await eventually(cap_grown)
    assert added.status_code == 200 and "Time added" in added.text
    expires_at = await value(
        store, "SELECT expires_at FROM access_sessions WHERE id = ?", (alpha.session_id,)
    )
    assert expires_at == to_text(clock.now() + timedelta(minutes=90))
    assert emulator.has_access(online)  # the extend logged the device in
    [(actor, target, detail, _)] = await audited(store, "session_extended")
    assert (actor, target, detail) == (
        alpha.owner,
        f"session:{alpha.session_id}",
        {"mac": online, "minutes": 30},
    )


async def test_access_given_by_hand_puts_the_device_online_for_the_packages_time(
    settings, clock, vault, store, alpha, emulator, online
):
    emulator.connect_device(NEW_MAC, "10.5.50.99")
    app = create_app(settings, clock=clock, vault=vault)
    async with serving(app) as base, browser() as http:
        await sign_in(http, base, alpha.owner)
        form = await http.get(f"{base}/admin/sessions/new")
        given = await http.post(
            f"{base}/admin/sessions/new",
            data={
                "csrf": csrf_of(form.text),
                "mac": NEW_MAC.lower().replace(":", "-"),
                "router_id": alpha.router_id,
                "package_id": alpha.package_id,
            },
        )
        await eventually(lambda: router_has(emulator, NEW_MAC))
    assert form.status_code == 200 and "alpha-router" in form.text and "Alpha hour" in form.text
    assert given.status_code == 200 and "Access given" in given.text
    [session] = await rows(store, "SELECT * FROM access_sessions WHERE mac = ?", (NEW_MAC,))
    package_seconds = await value(
        store, "SELECT duration_seconds FROM packages WHERE id = ?", (alpha.package_id,)
    )
    assert session["paid_seconds"] == package_seconds
    assert not await value(
        store, "SELECT count(*) FROM payments WHERE access_session_id = ?", (session["id"],)
    )
    assert session["expires_at"] == to_text(clock.now() + timedelta(seconds=package_seconds))
    assert emulator.has_access(online)  # the other customer is untouched
    assert await audited(store, "session_granted") == [
        (
            alpha.owner,
            f"session:{session['id']}",
            {"mac": NEW_MAC, "router": "alpha-router", "package": "Alpha hour", "minutes": 60},
            "127.0.0.1",
        )
    ]


async def test_access_by_hand_needs_a_real_mac_and_gives_nothing_otherwise(
    settings, clock, vault, store, alpha
):
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, alpha.owner)).text)
        refused = await http.post(
            f"{base}/admin/sessions/new",
            data={
                "csrf": csrf,
                "mac": "my phone",
                "router_id": alpha.router_id,
                "package_id": alpha.package_id,
            },
        )
    assert refused.status_code == 400 and "MAC address, like AA:BB:CC:DD:EE:FF" in refused.text
    assert 'value="my phone"' in refused.text  # what was typed is kept to correct
    assert await value(store, "SELECT count(*) FROM access_sessions") == 1
    assert await audited(store, "session_granted") == []


async def test_moving_a_session_hands_the_access_to_the_new_device(
    settings, clock, vault, store, alpha, emulator, online
):
    emulator.connect_device(NEW_MAC, "10.5.50.99")
    app = create_app(settings, clock=clock, vault=vault)
    async with serving(app) as base, browser() as http:
        await app.state.services.sync.sync_router(alpha.router_id)
        assert emulator.has_access(online)
        csrf = csrf_of((await sign_in(http, base, alpha.owner)).text)
        moved = await http.post(
            f"{base}/admin/sessions/{alpha.session_id}/move",
            data={"csrf": csrf, "mac": "aa-bb-cc-dd-ee-77", "router_id": str(alpha.router_id), "ip": ""},
        )

        async def handed_over():
            return emulator.has_access(NEW_MAC) and not emulator.has_access(online)

        await eventually(handed_over)
    assert moved.status_code == 200 and "Moved to the new device" in moved.text
    assert await value(store, "SELECT mac FROM access_sessions WHERE id = ?", (alpha.session_id,)) == NEW_MAC
    [(_, _, detail, _)] = await audited(store, "session_moved")
    assert detail == {"from": [online, "alpha-router"], "to": [NEW_MAC, "alpha-router"]}


async def test_session_forms_explain_mistakes_and_change_nothing(settings, clock, vault, store, alpha):
    # Another device with time of its own on the same router.
    await store.write(
        insert_session, clock, vault, alpha.tenant_id, alpha.router_id, alpha.package_id, NEW_MAC
    )
    before = [tuple(row) for row in await rows(store, "SELECT * FROM access_sessions ORDER BY id")]
    url = f"/admin/sessions/{alpha.session_id}"
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, alpha.owner)).text)
        answers = {}
        for minutes in ("", "abc", "0", "-5", "10081", "9" * 30):
            response = await http.post(f"{base}{url}/extend", data={"csrf": csrf, "minutes": minutes})
            answers[f"extend {minutes!r}"] = (
                response.status_code,
                "a whole number from 1 to 10,080" in response.text,
            )
        for mac, ip, expected in [
            ("not a mac", "", "MAC address, like AA:BB:CC:DD:EE:FF"),
            ("AA:BB:CC:DD:EE:88", "10.5.50.300", "That IP address is not one"),
            ("AA:BB:CC:00:00:01", "", "on already"),
            (NEW_MAC, "", "This device already has time of its own."),
        ]:
            response = await http.post(f"{base}{url}/move", data={"csrf": csrf, "mac": mac, "ip": ip})
            answers[f"move {mac}"] = (response.status_code, expected in response.text)
        kept = await http.post(f"{base}{url}/extend", data={"csrf": csrf, "minutes": "abc"})
    assert answers == dict.fromkeys(answers, (400, True))
    assert 'value="abc"' in kept.text  # what was typed stays, to be corrected
    assert [tuple(row) for row in await rows(store, "SELECT * FROM access_sessions ORDER BY id")] == before
    assert not await value(store, "SELECT count(*) FROM audit_events WHERE action LIKE 'session_%'")
    assert not await value(store, "SELECT count(*) FROM router_tasks WHERE kind IN ('extend', 'revoke')")


async def test_staff_see_a_session_with_add_time_but_not_move_or_end_it(settings, clock, vault, store, alpha):
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        await sign_in(http, base, alpha.staff)
        listed = await http.get(f"{base}/admin/sessions")
        detail = await http.get(f"{base}/admin/sessions/{alpha.session_id}")
    assert detail.status_code == 200 and "AA:BB:CC:00:00:01" in detail.text
    assert "Manage" in listed.text and "Give access" in listed.text
    assert f"/admin/sessions/{alpha.session_id}/extend" in detail.text
    for form in ("/move", "/revoke"):
        assert form not in detail.text


async def test_a_session_bought_several_times_is_listed_once_with_everything_that_paid_for_it(
    settings, clock, vault, store, alpha
):
    later, last = (to_text(clock.now() + timedelta(minutes=minutes)) for minutes in (40, 50))

    def bought_more(db) -> int:  # more time bought while online: the same session, extended
        top_up = insert_payment(
            db, tenant_id=alpha.tenant_id, mpesa_account_id=alpha.account_id, package_id=alpha.package_id,
            router_id=alpha.router_id, phone="254712345678", amount=90, state="paid", at=later,
            receipt="SGR0000009", access_session_id=alpha.session_id,
        )  # fmt: skip
        by_hand = insert(
            db, "c2b_payments", tenant_id=alpha.tenant_id, mpesa_account_id=alpha.account_id,
            receipt="SGR0000010", amount=30, received_at=last, claimed_at=last,
            access_session_id=alpha.session_id, for_wifi=1, spent=30,
        )  # fmt: skip
        insert(
            db, "c2b_spends", tenant_id=alpha.tenant_id, c2b_payment_id=by_hand,
            access_session_id=alpha.session_id, amount=30, spent_at=last,
        )  # fmt: skip
        return top_up

    top_up = await store.write(bought_more)
    first_ref, top_up_ref = [
        await value(store, "SELECT ref FROM payments WHERE id = ?", (payment,))
        for payment in (alpha.paid_payment_id, top_up)
    ]
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        await sign_in(http, base, alpha.owner)
        listed = await http.get(f"{base}/admin/sessions")
        detail = await http.get(f"{base}/admin/sessions/{alpha.session_id}")
    assert listed.status_code == detail.status_code == 200
    assert "Online and connecting (1)" in listed.text
    [row] = [line for line in listed.text.split("<tr") if f'id="session-{alpha.session_id}"' in line]
    assert f'<a href="/admin/customers/{alpha.paid_payment_id}">0712 345 678</a>' in row  # who paid
    assert f'href="/admin/sessions/{alpha.session_id}#paid-by">+2 more</a>' in row
    assert first_ref not in row and top_up_ref not in row  # the payments' own refs say nothing
    assert (
        f'<dd id="paid-by"><a href="/admin/customers/{alpha.paid_payment_id}">0712 345 678</a>'
        f' (<a href="/admin/payments/{alpha.paid_payment_id}">payment</a>),'
        f' <a href="/admin/customers/{top_up}">0712 345 678</a>'
        f' (<a href="/admin/payments/{top_up}">payment</a>),'
        ' <a href="/admin/payments?receipt=SGR0000010#by-hand">SGR0000010 (paid by hand)</a></dd>'
    ) in detail.text


async def test_data_used_comes_from_the_router_and_a_router_that_is_down_shows_a_dash(
    settings, clock, vault, store, alpha, emulator, online
):
    now = to_text(clock.now())

    def second_site(db) -> None:  # a second site whose router is off: nothing listens there
        down = insert(
            db,
            "routers",
            tenant_id=alpha.tenant_id,
            name="annex",
            host="127.0.0.1",
            port=free_port(),
            username="admin",
            password_enc=vault.encrypt("secret"),
            created_at=now,
        )
        insert_session(db, clock, vault, alpha.tenant_id, down, alpha.package_id, NEW_MAC)

    await store.write(second_site)
    app = create_app(settings, clock=clock, vault=vault)
    async with serving(app) as base, browser() as http:
        await app.state.services.sync.sync_router(alpha.router_id)
        emulator.traffic(online, 1_500_000, 3_000_000)
        await sign_in(http, base, alpha.owner)
        listed = await http.get(f"{base}/admin/sessions")
        detail = await http.get(f"{base}/admin/sessions/{alpha.session_id}")
    assert listed.status_code == detail.status_code == 200
    lines = {line for line in listed.text.split("<tr") if "data-used" in line}
    [on_emulator_row] = [line for line in lines if online in line]
    [on_annex_row] = [line for line in lines if NEW_MAC in line]
    assert '<td class="num data-used" data-label="Data used">4.5 MB</td>' in on_emulator_row
    assert '<td class="num data-used" data-label="Data used">—</td>' in on_annex_row
    assert "Data used is not shown for annex: no RouterOS API answered at 127.0.0.1:" in listed.text
    assert "4.5 MB" in detail.text


async def test_sessions_say_who_paid_who_gave_the_time_and_which_payment_was_reversed(
    settings, clock, vault, store, alpha
):
    app = create_app(settings, clock=clock, vault=vault)
    async with serving(app) as base, browser() as http, browser() as staff:
        csrf = csrf_of((await sign_in(http, base, alpha.owner)).text)
        given = await http.post(
            f"{base}/admin/sessions/new",
            data={"csrf": csrf, "mac": NEW_MAC, "router_id": alpha.router_id, "package_id": alpha.package_id},
        )
        await http.post(
            f"{base}/admin/payments/{alpha.paid_payment_id}/reverse",
            data={"csrf": csrf, "reason": "paid twice"},
        )
        listed = (await http.get(f"{base}/admin/sessions")).text
        await sign_in(staff, base, alpha.staff)
        seen_by_staff = (await staff.get(f"{base}/admin/sessions")).text
    given_id = int(given.url.path.rsplit("/", 1)[1])
    [paid_row] = [row for row in listed.split("<tr") if f'id="session-{alpha.session_id}"' in row]
    [given_row] = [row for row in listed.split("<tr") if f'id="session-{given_id}"' in row]
    assert f'<a href="/admin/customers/{alpha.paid_payment_id}">0712 345 678</a>' in paid_row
    reversed_link = f'<a class="state state-reversed" href="/admin/payments/{alpha.paid_payment_id}">'
    assert reversed_link + "reversed</a>" in paid_row
    assert "given by owner@alpha.example" in given_row
    assert "0712 ••• 678" in seen_by_staff and "0712 345 678" not in seen_by_staff


async def test_ending_access_asks_first_saying_what_happens_and_acts_only_on_confirm(
    settings, clock, vault, store, alpha
):
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, alpha.owner)).text)
        detail = await http.get(f"{base}/admin/sessions/{alpha.session_id}")
        asked = await http.get(f"{base}/admin/sessions/{alpha.session_id}/revoke")
        state_when_asked = await value(
            store, "SELECT state FROM access_sessions WHERE id = ?", (alpha.session_id,)
        )
        confirmed = await http.post(f"{base}/admin/sessions/{alpha.session_id}/revoke", data={"csrf": csrf})
    assert f'href="/admin/sessions/{alpha.session_id}/revoke"' in detail.text  # a link, not a form
    assert asked.status_code == 200 and 'id="confirm"' in asked.text
    assert "taken off alpha-router now" in asked.text
    assert "The 1 h left are not refunded" in asked.text
    assert state_when_asked == "active"
    assert "Access ended" in confirmed.text
    assert (
        await value(store, "SELECT state FROM access_sessions WHERE id = ?", (alpha.session_id,)) == "revoked"
    )


async def test_staff_give_goodwill_time_within_the_daily_limit_and_are_refused_past_it(
    settings, clock, vault, store, alpha
):
    await execute(store, "UPDATE tenants SET staff_goodwill_minutes = 90")
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, alpha.staff)).text)
        extend = f"{base}/admin/sessions/{alpha.session_id}/extend"
        within = await http.post(extend, data={"csrf": csrf, "minutes": "30"})
        # The package is an hour: 30 + 60 is the day's 90.
        given = await http.post(
            f"{base}/admin/sessions/new",
            data={"csrf": csrf, "router_id": alpha.router_id, "package_id": alpha.package_id, "mac": NEW_MAC},
        )
        past = await http.post(extend, data={"csrf": csrf, "minutes": "1"})
        clock.advance(days=1)  # a new day in Nairobi: the limit starts again
        next_day = await http.post(
            f"{base}/admin/sessions/new",
            data={
                "csrf": csrf,
                "router_id": alpha.router_id,
                "package_id": alpha.package_id,
                "mac": OTHER_MAC,
            },
        )
    assert within.status_code == 200 and "Time added" in within.text
    assert given.status_code == 200 and "Access given" in given.text
    assert past.status_code == 403
    assert "you have no minutes left today, of the 90 a day the owner allows each staff member" in past.text
    assert next_day.status_code == 200 and "Access given" in next_day.text
    given_by = await rows(
        store,
        "SELECT actor, action FROM audit_events WHERE action IN ('session_extended', 'session_granted')"
        " ORDER BY id",
    )
    assert [tuple(row) for row in given_by] == [
        (alpha.staff, "session_extended"),
        (alpha.staff, "session_granted"),
        (alpha.staff, "session_granted"),
    ]
    paid = await value(store, "SELECT paid_seconds FROM access_sessions WHERE id = ?", (alpha.session_id,))
    assert paid == 3600 + 30 * 60


async def test_staff_are_told_what_is_left_when_a_package_is_more_than_that(
    settings, clock, vault, store, alpha
):
    await execute(store, "UPDATE tenants SET staff_goodwill_minutes = 45")
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, alpha.staff)).text)
        await http.post(
            f"{base}/admin/sessions/{alpha.session_id}/extend", data={"csrf": csrf, "minutes": "15"}
        )
        refused = await http.post(
            f"{base}/admin/sessions/new",
            data={"csrf": csrf, "router_id": alpha.router_id, "package_id": alpha.package_id, "mac": NEW_MAC},
        )
    assert refused.status_code == 400
    assert (
        "Alpha hour gives 1 h. That is more than you may give: you can give 30 more minutes today"
        in refused.text
    )
    assert not await value(store, "SELECT count(*) FROM access_sessions WHERE mac = ?", (NEW_MAC,))


async def test_owners_give_time_beyond_the_staff_limit(settings, clock, vault, store, alpha):
    await execute(store, "UPDATE tenants SET staff_goodwill_minutes = 0")
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, alpha.owner)).text)
        added = await http.post(
            f"{base}/admin/sessions/{alpha.session_id}/extend", data={"csrf": csrf, "minutes": "120"}
        )
    assert added.status_code == 200 and "Time added" in added.text
