"""The rules of paid time (access/sessions.py): opening, adding to, moving and ending a session, what its
status says, and its expiry, as the running app drives it (jobs.py). Each is followed to the RouterOS
emulator through the outbox worker; the worker's own ways (retries, outages, counting data) are in
test_worker.py."""

from dataclasses import replace
from datetime import timedelta

import pytest

from portal.access import sessions
from portal.access.sessions import CODE_ALPHABET, MAX_DATA_CAP, SessionError
from portal.access.worker import retry_delay
from portal.app import create_app
from portal.gateways.routeros.durations import parse_duration
from portal.gateways.routeros.gateway import GRACE_SECONDS
from portal.tenancy import tenants
from portal.vault import fingerprint
from tests.access.conftest import (
    HOUR,
    IP,
    MAC,
    Site,
    add_package,
    add_site,
    assert_data_left,
    buy,
    capped,
    has,
    in_state,
    logins,
    profile,
    session,
    tasks,
    user_on_router,
)
from tests.conftest import eventually, rows, serving, value

NEW_MAC, NEW_IP = "AA:BB:CC:DD:EE:99", "10.5.50.99"


def tried(store, session_id: int):
    """For `eventually`: the session's grant was tried (and, its device away, failed)."""

    async def check() -> bool:
        return (await tasks(store, session_id))[0]["attempts"] > 0

    return check


async def refusal(pending) -> str:
    """Why the session rules refused what `pending` (an awaitable) asked."""
    with pytest.raises(SessionError) as refused:
        await pending
    return refused.value.reason


# -- opening and adding ---------------------------------------------------------------------------------


async def test_a_new_session_gets_a_typeable_access_code_stored_only_as_hash_and_ciphertext(
    store, clock, vault, site
):
    session_id = await buy(store, clock, vault, site)
    [stored] = await rows(
        store, "SELECT access_code_hash, access_code_enc FROM access_sessions WHERE id = ?", (session_id,)
    )
    code = vault.decrypt(stored["access_code_enc"])
    assert len(code) == 8 and set(code) <= set(CODE_ALPHABET)
    assert stored["access_code_hash"] == fingerprint(code) and code not in stored["access_code_enc"]
    assert await store.read(sessions.access_code, vault, session_id) == f"{code[:4]}-{code[4:]}"
    assert (await store.read(sessions.by_code, code)).id == session_id


async def test_open_session_refuses_a_bad_mac_fractional_time_and_another_tenants_router(
    store, clock, vault, site
):
    assert await refusal(buy(store, clock, vault, site, mac="phone")) == "not_a_mac"
    for seconds in (0, -5, 2.5, "60", True):
        assert await refusal(buy(store, clock, vault, site, seconds=seconds)) == "bad_seconds"
    other = await store.write(tenants.create, clock, "other", "Other")
    assert await refusal(buy(store, clock, vault, Site(other, site.package_id, site.router_id))) == (
        "other_tenant"
    )
    assert await value(store, "SELECT count(*) FROM access_sessions") == 0


async def test_buying_again_before_access_is_granted_adds_to_the_same_session(
    store, clock, vault, site, worker, emulator
):
    first = await buy(store, clock, vault, site)
    assert await buy(store, clock, vault, site, mac=MAC.lower(), seconds=1800) == first
    assert (await session(store, first)).paid_seconds == HOUR + 1800
    assert len(await tasks(store, first)) == 1
    emulator.connect_device(MAC, IP)
    await worker.run_due_tasks()
    row = await session(store, first)
    assert row.expires_at - row.started_at == timedelta(seconds=HOUR + 1800)
    assert parse_duration(user_on_router(emulator)["limit-uptime"]) == HOUR + 1800 + GRACE_SECONDS


async def test_buying_more_while_online_extends_the_same_session_on_the_router(
    store, clock, vault, site, worker, emulator
):
    emulator.connect_device(MAC, IP)
    session_id = await buy(store, clock, vault, site)
    await worker.run_due_tasks()
    first_end = (await session(store, session_id)).expires_at
    clock.advance(minutes=50)
    assert await buy(store, clock, vault, site) == session_id
    assert (await session(store, session_id)).expires_at == first_end + timedelta(hours=1)
    await worker.run_due_tasks()
    assert [t["kind"] for t in await tasks(store, session_id)] == ["grant", "extend"]
    clock.advance(minutes=20)  # past the first hour: the router must not cut the device off
    assert emulator.has_access(MAC)
    [active] = emulator.active_sessions()
    assert parse_duration(active["session-time-left"]) == 50 * 60 + GRACE_SECONDS


async def test_a_cheaper_top_up_keeps_the_faster_speed_and_a_dearer_one_switches_to_its_own(
    store, clock, vault, site, worker, emulator
):
    def add_packages(db):
        return [
            add_package(db, clock, site.tenant_id, "7 days", 7 * 24 * HOUR, "5M/5M", price=300),
            add_package(db, clock, site.tenant_id, "top-up", HOUR, "2M/2M", price=20),
            add_package(db, clock, site.tenant_id, "3 days", 3 * 24 * HOUR, "3M/3M", price=300),
            add_package(db, clock, site.tenant_id, "30 days", 30 * 24 * HOUR, "8M/8M", price=1000),
        ]

    week, top_up, same_price, month = await store.write(add_packages)
    emulator.connect_device(MAC, IP)
    session_id = await buy(store, clock, vault, replace(site, package_id=week), seconds=7 * 24 * HOUR)
    await worker.run_due_tasks()
    assert user_on_router(emulator)["profile"] == profile(week)
    assert await buy(store, clock, vault, replace(site, package_id=top_up)) == session_id
    await buy(store, clock, vault, replace(site, package_id=same_price))  # a tie keeps what the session has
    await worker.run_due_tasks()
    assert (await session(store, session_id)).package_id == week
    assert user_on_router(emulator)["profile"] == profile(week)
    await buy(store, clock, vault, replace(site, package_id=month), seconds=30 * 24 * HOUR)
    await worker.run_due_tasks()
    assert (await session(store, session_id)).package_id == month
    assert user_on_router(emulator)["profile"] == profile(month)
    assert [t["kind"] for t in await tasks(store, session_id)] == ["grant", "extend", "extend", "extend"]


# -- data caps ------------------------------------------------------------------------------------------


async def test_a_packages_data_cap_holds_on_the_router_and_buying_more_adds_to_it(
    store, clock, vault, site, worker, sync, emulator
):
    mb = await capped(store, clock, site, 1_000_000)
    emulator.connect_device(MAC, IP)
    session_id = await buy(store, clock, vault, mb)
    await worker.run_due_tasks()
    assert user_on_router(emulator)["limit-bytes-total"] == "1000000"
    emulator.traffic(MAC, 600_000, 400_000)
    assert not emulator.has_access(MAC) and emulator.ended[-1]["cause"] == "traffic-limit"
    await sync.sync_router(site.router_id)  # the sync does not undo the cap
    assert not emulator.has_access(MAC)
    assert await buy(store, clock, vault, mb) == session_id  # more data, bought while the time lasts
    await worker.run_due_tasks()
    assert (await session(store, session_id)).data_cap_bytes == 2_000_000
    assert_data_left(emulator, MAC, 1_000_000)


async def test_caps_add_up_to_what_a_router_counter_holds_and_no_further(
    store, clock, vault, site, worker, emulator
):
    huge = await capped(store, clock, site, 2**61)
    emulator.connect_device(MAC, IP)
    session_id = await buy(store, clock, vault, huge)
    for _ in range(3):
        await buy(store, clock, vault, huge)
    await worker.run_due_tasks()
    assert (await session(store, session_id)).data_cap_bytes == MAX_DATA_CAP
    assert user_on_router(emulator)["limit-bytes-total"] == str(2**62)


async def test_buying_a_package_without_a_cap_lifts_the_sessions_cap(
    store, clock, vault, site, worker, emulator
):
    emulator.connect_device(MAC, IP)
    session_id = await buy(store, clock, vault, await capped(store, clock, site, 1_000_000))
    await worker.run_due_tasks()
    await buy(store, clock, vault, site)
    await worker.run_due_tasks()
    assert (await session(store, session_id)).data_cap_bytes is None
    emulator.traffic(MAC, 5_000_000, 5_000_000)
    assert emulator.has_access(MAC)


# -- by hand: ending, extending, moving -----------------------------------------------------------------


async def test_ending_a_session_by_hand_takes_access_away(store, clock, vault, site, worker, emulator):
    emulator.connect_device(MAC, IP)
    session_id = await buy(store, clock, vault, site)
    await worker.run_due_tasks()

    def end_twice(db):
        return sessions.end_session(db, clock, session_id), sessions.end_session(db, clock, session_id)

    assert await store.write(end_twice) == (True, False)
    await worker.run_due_tasks()
    assert not emulator.has_access(MAC) and (await session(store, session_id)).state == "revoked"


async def test_extending_by_hand_adds_time_on_the_router_and_refuses_an_ended_session(
    store, clock, vault, site, worker, emulator
):
    emulator.connect_device(MAC, IP)
    session_id = await buy(store, clock, vault, site)
    await worker.run_due_tasks()
    assert await store.write(sessions.extend_session, clock, session_id, 30 * 60)
    await worker.run_due_tasks()
    assert (await session(store, session_id)).expires_at == clock.now() + timedelta(minutes=90)
    assert parse_duration(user_on_router(emulator)["limit-uptime"]) == 90 * 60 + GRACE_SECONDS
    await store.write(sessions.end_session, clock, session_id)
    assert not await store.write(sessions.extend_session, clock, session_id, 60)


async def test_moving_a_session_hands_its_remaining_time_to_the_new_device_and_ends_the_old(
    store, clock, vault, site, worker, sync, emulator
):
    emulator.connect_device(MAC, IP)
    emulator.connect_device(NEW_MAC, NEW_IP)
    session_id = await buy(store, clock, vault, site)
    await worker.run_due_tasks()
    expires_at = (await session(store, session_id)).expires_at
    clock.advance(minutes=20)
    await store.write(
        sessions.move_session, clock, session_id, router_id=site.router_id, mac=NEW_MAC, ip=NEW_IP
    )
    await worker.run_due_tasks()
    assert emulator.has_access(NEW_MAC) and not emulator.has_access(MAC)
    assert user_on_router(emulator) is None
    row = await session(store, session_id)
    assert (row.mac, row.state, row.expires_at) == (NEW_MAC, "active", expires_at)
    report = await sync.sync_router(site.router_id)  # the move left nothing for a sync to repair
    assert (report.restored, report.removed) == (0, 0)


async def test_a_session_cannot_move_onto_a_device_that_has_its_own_time_nor_once_it_has_ended(
    store, clock, vault, site
):
    first = await buy(store, clock, vault, site)
    await buy(store, clock, vault, site, mac=NEW_MAC)

    def move(session_id, mac):
        return store.write(
            sessions.move_session, clock, session_id, router_id=site.router_id, mac=mac, ip=None
        )

    assert await refusal(move(first, "aa-bb-cc-dd-ee-99")) == "device_has_time"
    await store.write(sessions.end_session, clock, first)
    assert await refusal(move(first, "AA:BB:CC:DD:EE:42")) == "ended"


async def test_a_device_back_at_the_splash_page_is_logged_in_again_once(
    store, clock, vault, site, worker, emulator
):
    emulator.connect_device(MAC, IP)
    session_id = await buy(store, clock, vault, site)
    await worker.run_due_tasks()
    emulator.reboot()  # the router lost the login; the device is back on the Wi-Fi and at the splash page
    emulator.connect_device(MAC, IP)
    assert await store.write(sessions.log_in_again, clock, session_id)
    assert not await store.write(sessions.log_in_again, clock, session_id)  # one waiting is enough
    await worker.run_due_tasks()
    assert emulator.has_access(MAC) and len(logins(emulator)) == 2
    # Moving a session onto the device it already has asks for no more than that.
    await store.write(sessions.move_session, clock, session_id, router_id=site.router_id, mac=MAC, ip=IP)
    assert [t["kind"] for t in await tasks(store, session_id)] == ["grant", "extend", "extend"]


async def test_the_status_says_why_a_paid_device_is_not_online_and_counts_down_only_once_it_is(
    store, clock, vault, site, worker, emulator
):
    session_id = await buy(store, clock, vault, site)
    await worker.run_due_tasks()  # the device is not on the Wi-Fi yet
    clock.advance(minutes=5)
    status = await store.read(sessions.session_status, clock, session_id)
    assert (status.state, status.connecting, status.seconds_left, status.expires_at) == (
        "pending",
        True,
        HOUR,
        None,
    )
    assert status.attempts == 1 and "not connected to the hotspot" in status.last_error
    emulator.connect_device(MAC, IP)
    await worker.run_due_tasks()
    clock.advance(minutes=10)
    status = await store.read(sessions.session_status, clock, session_id)
    assert (status.state, status.connecting, status.seconds_left) == ("active", False, HOUR - 600)
    assert status.expires_at == clock.now() + timedelta(seconds=HOUR - 600)
    assert (status.attempts, status.last_error) == (2, None)
    clock.advance(hours=1)
    status = await store.read(sessions.session_status, clock, session_id)
    assert status.seconds_left == 0  # over, though the expiry has not run yet


# -- expiry ---------------------------------------------------------------------------------------------


async def test_the_device_is_off_the_router_the_moment_its_paid_time_ends(
    store, clock, vault, site, jobs, emulator
):
    emulator.connect_device(MAC, IP)
    session_id = await buy(store, clock, vault, site)
    jobs.wake()
    await eventually(in_state(store, session_id, "active"))
    expires_at = (await session(store, session_id)).expires_at
    clock.advance(HOUR - 1)
    # A second early nothing is due: the expiry ends nothing, and waits for exactly the end.
    assert await jobs.expire_due() == expires_at
    assert (await session(store, session_id)).state == "active" and emulator.has_access(MAC)
    clock.advance(1)  # exactly the end of the paid hour; the clock does not move again
    await eventually(has(emulator, MAC, False))
    assert clock.now() == expires_at
    assert emulator.ended[-1]["cause"] == "admin-reset" and emulator.ended[-1]["at"] == expires_at
    row = await session(store, session_id)
    assert row.state == "expired" and row.ended_at == expires_at
    assert user_on_router(emulator) is None


async def test_expiry_wakes_for_a_shorter_session_that_arrives_while_it_sleeps(
    store, clock, vault, site, jobs, emulator
):
    short_mac, short = "AA:BB:CC:DD:EE:02", 10  # seconds: sooner than the expiry's backstop
    emulator.connect_device(MAC, IP)
    long_id = await buy(store, clock, vault, site, seconds=HOUR)
    short_id = await buy(store, clock, vault, site, mac=short_mac, seconds=short)
    jobs.wake()
    await eventually(in_state(store, long_id, "active"))  # the expiry sleeps until the hour is up...
    await eventually(tried(store, short_id))  # ...while the short one waits for its device to come back
    emulator.connect_device(short_mac, "10.5.50.12")
    clock.advance(retry_delay(1))  # its grant is due again: the worker's own loop, not a wake, runs it
    await eventually(in_state(store, short_id, "active"))
    clock.advance(short)
    await eventually(in_state(store, short_id, "expired"))
    await eventually(has(emulator, short_mac, False))
    assert emulator.has_access(MAC) and (await session(store, long_id)).state == "active"


async def test_expiry_while_the_router_is_down_the_router_cap_holds_and_revoke_follows_its_return(
    store, clock, vault, site, worker, emulator
):
    emulator.connect_device(MAC, IP)
    session_id = await buy(store, clock, vault, site)
    await worker.run_due_tasks()
    await emulator.down()
    clock.advance(HOUR)
    assert await store.write(sessions.expire_due, clock) == 1
    await worker.run_due_tasks()
    revoke = (await tasks(store, session_id))[-1]
    assert (revoke["kind"], revoke["state"], revoke["attempts"]) == ("revoke", "queued", 1)
    assert emulator.has_access(MAC)  # unreachable, so the portal can't cut it off yet...
    clock.advance(GRACE_SECONDS)
    assert not emulator.has_access(MAC)  # ...but the router's own cap does
    assert emulator.ended[-1]["cause"] == "uptime-limit"
    await emulator.up()
    await worker.run_due_tasks()
    assert (await tasks(store, session_id))[-1]["state"] == "done"
    assert user_on_router(emulator) is None


async def test_a_device_whose_time_ran_out_is_told_so_for_an_hour(
    store, clock, vault, site, worker, emulator
):
    emulator.connect_device(MAC, IP)
    session_id = await buy(store, clock, vault, site, seconds=600)
    await worker.run_due_tasks()
    ended_lately = (sessions.ended_lately, clock, site.router_id, MAC)
    assert not await store.read(*ended_lately)
    clock.advance(600)
    await store.write(sessions.expire_due, clock)
    assert await store.read(*ended_lately)
    assert (await session(store, session_id)).state == "expired"
    clock.advance(hours=1, seconds=1)
    assert not await store.read(*ended_lately)


async def test_the_running_app_grants_and_ends_access_through_its_own_worker(
    settings, clock, vault, emulator
):
    emulator.connect_device(MAC, IP)
    app = create_app(settings, clock=clock, vault=vault)
    async with serving(app):
        services = app.state.services
        services.jobs.scheduler.pause()  # the periodic jobs run on real time; this is about the clock's
        store = services.store
        site = await store.write(add_site, clock, vault, emulator.port)
        session_id = await buy(store, clock, vault, site)
        services.jobs.wake()
        # Paid time starts when the portal records that the router let the device in: wait for that,
        # not just for the router, before moving the clock.
        await eventually(in_state(store, session_id, "active"), seconds=20)
        assert emulator.has_access(MAC)
        assert (await session(store, session_id)).expires_at == clock.now() + timedelta(hours=1)
        clock.advance(HOUR)
        await eventually(in_state(store, session_id, "expired"), seconds=20)
        await eventually(has(emulator, MAC, False), seconds=20)
        assert user_on_router(emulator) is None
