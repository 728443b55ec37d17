"""Access sessions end to end: the database, the outbox worker, the expiry loop and the sync, driving the
RouterOS emulator over loopback TCP through routeros-api. Time only moves when a test advances it."""

import asyncio
from dataclasses import dataclass, replace
from datetime import timedelta

import pytest

from portal.app import create_app
from portal.clock import from_text, to_text
from portal.gateway.routeros import GRACE_SECONDS, parse_duration
from portal.routers import Gateways, add_router, profile_name
from portal.sessions import (
    AWAY_RETRY_CAP,
    CODE_ALPHABET,
    MAX_DATA_CAP,
    RETRY_CAP,
    SessionError,
    SessionWorker,
    end_session,
    extend_session,
    move_session,
    open_session,
    retry_delay,
    session_status,
)
from portal.sim.routeros import RouterEmulator
from portal.tenants import create_tenant
from portal.vault import fingerprint
from tests.conftest import eventually, serving

MAC = "AA:BB:CC:DD:EE:01"
IP = "10.5.50.11"
HOUR = 3600


@dataclass
class Site:
    tenant_id: int
    package_id: int
    router_id: int


async def add_package(
    tx, clock, tenant_id, name="1 hour", seconds=HOUR, rate="1M/2M", cap=None, price=10
) -> int:
    now = to_text(clock.now())
    cursor = await tx.execute(
        "INSERT INTO packages (tenant_id, name, price, duration_seconds, rate_limit, data_cap_bytes,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (tenant_id, name, price, seconds, rate, cap, now, now),
    )
    return cursor.lastrowid


@pytest.fixture
async def site(db, clock, vault, emulator, worker) -> Site:
    site = await make_site(db, clock, vault, emulator)
    await worker.run_due_tasks()  # the new router's profiles: a router set up and ready to sell
    return site


async def make_site(db, clock, vault, emulator) -> Site:
    async with db.transaction() as tx:
        tenant_id = await create_tenant(tx, clock, "cafe", "Cafe Wi-Fi")
        package_id = await add_package(tx, clock, tenant_id)
        router_id = await add_router(tx, clock, vault, tenant_id, {
            "name": "cafe", "host": "127.0.0.1", "port": str(emulator.port),
            "username": "admin", "password": "secret",
        })  # fmt: skip
    return Site(tenant_id, package_id, router_id)


@pytest.fixture
async def worker(db, clock, vault):
    gateways = Gateways(vault, timeout=0.5)
    worker = SessionWorker(db, clock, gateways)
    yield worker
    await worker.stop()
    await gateways.close()


async def buy(db, clock, vault, site: Site, mac=MAC, seconds=HOUR, ip=IP) -> int:
    async with db.transaction() as tx:
        return await open_session(
            tx, clock, vault, tenant_id=site.tenant_id, router_id=site.router_id,
            package_id=site.package_id, mac=mac, ip=ip, seconds=seconds,
        )  # fmt: skip


async def session(db, session_id):
    return await db.fetchone("SELECT * FROM access_sessions WHERE id = ?", (session_id,))


async def tasks(db, session_id):
    return await db.fetchall(
        "SELECT * FROM router_tasks WHERE access_session_id = ? ORDER BY id", (session_id,)
    )


def logins(emulator, mac=MAC):
    return [s for s in emulator.sentences if s[0] == "/ip/hotspot/active/login" and f"=user={mac}" in s]


def user_on_router(emulator, mac=MAC):
    rows = emulator.console("/ip/hotspot/user/print", queries=[f"name={mac}"]).rows
    return rows[0] if rows else None


# -- opening and extending ------------------------------------------------------------------------------


async def test_paid_time_starts_when_the_router_confirms_access(db, clock, vault, site, worker, emulator):
    emulator.connect_device(MAC, IP)
    session_id = await buy(db, clock, vault, site)
    assert (await session(db, session_id))["state"] == "pending"
    clock.advance(minutes=10)  # e.g. the worker was busy
    await worker.run_due_tasks()
    row = await session(db, session_id)
    assert row["state"] == "active" and row["started_at"] == to_text(clock.now())
    assert from_text(row["expires_at"]) == clock.now() + timedelta(hours=1)
    assert emulator.has_access(MAC)
    [task] = await tasks(db, session_id)
    assert (task["kind"], task["state"], task["attempts"]) == ("grant", "done", 1)
    attempts = await db.fetchall("SELECT ok FROM router_task_attempts WHERE task_id = ?", (task["id"],))
    assert [a["ok"] for a in attempts] == [1]


async def test_a_new_session_gets_a_typeable_access_code_stored_only_as_hash_and_ciphertext(
    db, clock, vault, site
):
    row = await session(db, await buy(db, clock, vault, site))
    code = vault.decrypt(row["access_code_enc"])
    assert len(code) == 8 and set(code) <= set(CODE_ALPHABET)
    assert row["access_code_hash"] == fingerprint(code) and code not in row["access_code_enc"]


async def test_open_session_refuses_a_bad_mac_fractional_time_and_another_tenants_router(
    db, clock, vault, site
):
    with pytest.raises(SessionError, match="not a MAC address"):
        await buy(db, clock, vault, site, mac="phone")
    for seconds in (0, -5, 2.5, "60"):
        with pytest.raises(SessionError, match="whole number of seconds"):
            await buy(db, clock, vault, site, seconds=seconds)
    async with db.transaction() as tx:
        other = await create_tenant(tx, clock, "other", "Other")
    with pytest.raises(SessionError, match="belong to the tenant"):
        await buy(db, clock, vault, Site(other, site.package_id, site.router_id))
    assert await db.fetchval("SELECT count(*) FROM access_sessions") == 0


async def test_buying_again_before_access_is_granted_adds_to_the_same_session(
    db, clock, vault, site, worker, emulator
):
    first = await buy(db, clock, vault, site)
    assert await buy(db, clock, vault, site, mac=MAC.lower(), seconds=1800) == first
    assert (await session(db, first))["paid_seconds"] == HOUR + 1800
    assert len(await tasks(db, first)) == 1
    emulator.connect_device(MAC, IP)
    await worker.run_due_tasks()
    row = await session(db, first)
    assert from_text(row["expires_at"]) - from_text(row["started_at"]) == timedelta(seconds=HOUR + 1800)
    assert parse_duration(user_on_router(emulator)["limit-uptime"]) == HOUR + 1800 + GRACE_SECONDS


async def test_buying_more_while_online_extends_the_same_session_on_the_router(
    db, clock, vault, site, worker, emulator
):
    emulator.connect_device(MAC, IP)
    session_id = await buy(db, clock, vault, site)
    await worker.run_due_tasks()
    first_end = from_text((await session(db, session_id))["expires_at"])
    clock.advance(minutes=50)
    assert await buy(db, clock, vault, site) == session_id
    assert from_text((await session(db, session_id))["expires_at"]) == first_end + timedelta(hours=1)
    await worker.run_due_tasks()
    assert [t["kind"] for t in await tasks(db, session_id)] == ["grant", "extend"]
    clock.advance(minutes=20)  # past the first hour: the router must not cut the device off
    assert emulator.has_access(MAC)
    [active] = emulator.active_sessions()
    assert parse_duration(active["session-time-left"]) == 50 * 60 + GRACE_SECONDS


async def test_more_time_bought_while_the_grant_is_in_flight_reaches_the_router(
    db, clock, vault, site, worker, emulator
):
    emulator.connect_device(MAC, IP)
    session_id = await buy(db, clock, vault, site)
    emulator.inject_trap("/ip/hotspot/active/login", "busy")  # the first grant attempt fails late...
    await worker.run_due_tasks()
    await buy(db, clock, vault, site)  # ...and the customer buys again meanwhile
    clock.advance(retry_delay(1))
    await worker.run_due_tasks()
    row = await session(db, session_id)
    assert from_text(row["expires_at"]) - from_text(row["started_at"]) == timedelta(hours=2)
    assert parse_duration(user_on_router(emulator)["limit-uptime"]) == 2 * HOUR + GRACE_SECONDS


async def test_a_cheaper_top_up_keeps_the_faster_speed_and_a_dearer_one_switches_to_its_own(
    db, clock, vault, site, worker, emulator
):
    async with db.transaction() as tx:
        week = await add_package(tx, clock, site.tenant_id, "7 days", 7 * 24 * HOUR, "5M/5M", price=300)
        top_up = await add_package(tx, clock, site.tenant_id, "top-up", HOUR, "2M/2M", price=20)
        same_price = await add_package(tx, clock, site.tenant_id, "3 days", 3 * 24 * HOUR, "3M/3M", price=300)
        month = await add_package(tx, clock, site.tenant_id, "30 days", 30 * 24 * HOUR, "8M/8M", price=1000)
    emulator.connect_device(MAC, IP)
    session_id = await buy(db, clock, vault, replace(site, package_id=week), seconds=7 * 24 * HOUR)
    await worker.run_due_tasks()
    assert user_on_router(emulator)["profile"] == profile_name(week)
    assert await buy(db, clock, vault, replace(site, package_id=top_up)) == session_id
    await buy(db, clock, vault, replace(site, package_id=same_price))  # a tie keeps what the session has
    await worker.run_due_tasks()
    assert (await session(db, session_id))["package_id"] == week
    assert user_on_router(emulator)["profile"] == profile_name(week)
    await buy(db, clock, vault, replace(site, package_id=month), seconds=30 * 24 * HOUR)
    await worker.run_due_tasks()
    assert (await session(db, session_id))["package_id"] == month
    assert user_on_router(emulator)["profile"] == profile_name(month)
    assert [t["kind"] for t in await tasks(db, session_id)] == ["grant", "extend", "extend", "extend"]


# -- outages --------------------------------------------------------------------------------------------


async def test_router_down_during_the_grant_grants_once_when_it_returns_and_time_starts_then(
    db, clock, vault, site, worker, emulator
):
    emulator.connect_device(MAC, IP)
    await emulator.down()
    session_id = await buy(db, clock, vault, site)
    for attempt in range(1, 4):
        await worker.run_due_tasks()
        [task] = await tasks(db, session_id)
        assert task["attempts"] == attempt and "unreachable" in task["last_error"]
        assert from_text(task["next_attempt_at"]) == clock.now() + timedelta(seconds=retry_delay(attempt))
        clock.advance(retry_delay(attempt))
    status = await session_status(db, clock, session_id)
    assert status.connecting and status.attempts == 3 and "unreachable" in status.last_error
    assert status.seconds_left == HOUR  # nothing of the paid hour is spent while waiting
    router = await db.fetchone("SELECT last_error FROM routers WHERE id = ?", (site.router_id,))
    assert "unreachable" in router["last_error"]
    await emulator.up()
    await worker.run_due_tasks()
    row = await session(db, session_id)
    assert row["state"] == "active" and row["started_at"] == to_text(clock.now())
    assert len(logins(emulator)) == 1 and emulator.has_access(MAC)
    attempts = await db.fetchall("SELECT ok FROM router_task_attempts WHERE task_id = ?", (task["id"],))
    assert [a["ok"] for a in attempts] == [0, 0, 0, 1]


def test_back_off_doubles_up_to_a_cap():
    assert [retry_delay(n) for n in range(1, 8)] == [2, 4, 8, 16, 32, 60, 60]


async def test_a_grant_whose_answer_was_lost_logs_the_device_in_exactly_once(
    db, clock, vault, site, worker, emulator
):
    emulator.connect_device(MAC, IP)
    session_id = await buy(db, clock, vault, site)
    emulator.hold_replies(after="/ip/hotspot/active/login")
    await worker.run_due_tasks()
    emulator.release_replies()
    assert (await session(db, session_id))["state"] == "pending"
    assert emulator.has_access(MAC)  # the router did it; the portal just never heard
    clock.advance(retry_delay(1))
    await worker.run_due_tasks()
    assert (await session(db, session_id))["state"] == "active"
    assert len(logins(emulator)) == 1


async def test_a_device_that_left_the_wifi_is_granted_when_it_comes_back(
    db, clock, vault, site, worker, emulator
):
    session_id = await buy(db, clock, vault, site)
    await worker.run_due_tasks()
    [task] = await tasks(db, session_id)
    assert "not connected to the hotspot" in task["last_error"]
    emulator.connect_device(MAC, "10.5.50.77")
    await worker.sync_router(site.router_id)  # a sync finds the router well and makes waiting tasks due
    await worker.run_due_tasks()
    row = await session(db, session_id)
    assert row["state"] == "active" and row["ip"] == "10.5.50.77"


async def test_a_grant_for_a_device_that_is_away_writes_nothing_to_the_router(
    db, clock, vault, site, worker, emulator
):
    before = len(emulator.sentences)
    await buy(db, clock, vault, site)
    await worker.run_due_tasks()
    sent = [sentence[0] for sentence in list(emulator.sentences)[before:]]
    assert sent == ["/ip/hotspot/host/print"] and user_on_router(emulator) is None


async def test_a_device_away_for_long_is_tried_rarely_until_a_sync_sees_it_back(
    db, clock, vault, site, worker, emulator
):
    session_id = await buy(db, clock, vault, site)
    async with db.transaction() as tx:  # it has been away for a while
        await tx.execute("UPDATE router_tasks SET attempts = 10 WHERE access_session_id = ?", (session_id,))
    await worker.run_due_tasks()
    [task] = await tasks(db, session_id)
    backed_off = from_text(task["next_attempt_at"])
    assert backed_off == clock.now() + timedelta(seconds=retry_delay(11, AWAY_RETRY_CAP))
    assert retry_delay(11, AWAY_RETRY_CAP) == AWAY_RETRY_CAP > RETRY_CAP
    await worker.sync_router(site.router_id)  # the router answers, but the device is still away
    assert from_text((await tasks(db, session_id))[0]["next_attempt_at"]) == backed_off
    emulator.connect_device(MAC, IP)
    await worker.sync_router(site.router_id)
    assert from_text((await tasks(db, session_id))[0]["next_attempt_at"]) == clock.now()
    await worker.run_due_tasks()
    assert (await session(db, session_id))["state"] == "active" and emulator.has_access(MAC)


async def test_a_sync_sends_what_waited_out_an_outage_at_once(db, clock, vault, site, worker, emulator):
    emulator.connect_device(MAC, IP)
    await emulator.down()
    session_id = await buy(db, clock, vault, site)
    await worker.run_due_tasks()
    await emulator.up()
    await worker.sync_router(site.router_id)
    assert from_text((await tasks(db, session_id))[0]["next_attempt_at"]) == clock.now()
    await worker.run_due_tasks()
    assert (await session(db, session_id))["state"] == "active"


async def test_an_expired_device_is_revoked_before_grants_that_wait_for_devices_away(
    db, clock, vault, site, worker, emulator
):
    emulator.connect_device(MAC, IP)
    session_id = await buy(db, clock, vault, site, seconds=600)
    await worker.run_due_tasks()
    for n in range(20):
        await buy(db, clock, vault, site, mac=f"AA:BB:CC:DD:EF:{n:02X}")  # paid, then walked away
    clock.advance(600)
    await worker.expire_due()
    before = len(emulator.sentences)
    await worker.run_due_tasks()
    sent = [sentence[0] for sentence in list(emulator.sentences)[before:]]
    assert sent.index("/ip/hotspot/active/remove") < sent.index("/ip/hotspot/host/print")
    assert (await tasks(db, session_id))[-1]["state"] == "done" and not emulator.has_access(MAC)


async def test_an_outage_postpones_the_routers_other_tasks_instead_of_timing_each_out(
    db, clock, vault, site, worker, emulator
):
    await emulator.down()
    ids = [await buy(db, clock, vault, site, mac=f"AA:BB:CC:DD:EE:{n:02X}") for n in range(5)]
    await worker.run_due_tasks()
    rows = [(await tasks(db, i))[0] for i in ids]
    assert [row["attempts"] for row in rows] == [1, 0, 0, 0, 0]
    assert {row["next_attempt_at"] for row in rows} == {
        to_text(clock.now() + timedelta(seconds=retry_delay(1)))
    }


async def test_a_task_that_hits_a_bug_backs_off_like_any_failure_and_spares_the_others(
    db, clock, vault, site, worker, emulator
):
    emulator.connect_device(MAC, IP)
    async with db.transaction() as tx:
        await tx.execute(  # a task whose session is missing: the code can't cope
            "INSERT INTO router_tasks (router_id, kind, next_attempt_at, created_at)"
            " VALUES (?, 'grant', ?, ?)",
            (site.router_id, to_text(clock.now()), to_text(clock.now())),
        )
    session_id = await buy(db, clock, vault, site)
    await worker.run_due_tasks()
    broken = await db.fetchone(
        "SELECT * FROM router_tasks WHERE access_session_id IS NULL AND kind = 'grant'"
    )
    assert broken["attempts"] == 1 and broken["last_error"] == "internal error (TypeError)"
    assert from_text(broken["next_attempt_at"]) > clock.now()
    assert (await session(db, session_id))["state"] == "active"


async def test_a_task_retried_a_thousand_times_still_backs_off_and_spares_the_routers_other_tasks(
    db, clock, vault, site, worker, emulator
):
    away = await buy(db, clock, vault, site, mac="AA:BB:CC:DD:EE:77")  # paid, never seen on the Wi-Fi again
    async with db.transaction() as tx:
        await tx.execute("UPDATE router_tasks SET attempts = 5000 WHERE access_session_id = ?", (away,))
    emulator.connect_device(MAC, IP)
    here = await buy(db, clock, vault, site)
    await worker.run_due_tasks()
    [task] = await tasks(db, away)
    assert task["attempts"] == 5001 and from_text(task["next_attempt_at"]) > clock.now()
    assert (await session(db, here))["state"] == "active"
    assert retry_delay(10**6) == RETRY_CAP


async def test_a_task_whose_retry_bookkeeping_fails_is_set_aside_and_spares_the_others(
    db, clock, vault, site, worker, emulator, monkeypatch
):
    def broken(*_):
        raise ArithmeticError("a bug in the back-off")

    monkeypatch.setattr("portal.sessions.retry_delay", broken)
    away = await buy(db, clock, vault, site, mac="AA:BB:CC:DD:EE:77")
    emulator.connect_device(MAC, IP)
    here = await buy(db, clock, vault, site)
    await worker.run_due_tasks()
    [task] = await tasks(db, away)
    assert task["state"] == "queued" and from_text(task["next_attempt_at"]) > clock.now()
    assert (await session(db, here))["state"] == "active"


# -- data caps ------------------------------------------------------------------------------------------


async def capped(db, clock, site: Site, cap: int) -> Site:
    """The site, selling a package of `cap` bytes."""
    async with db.transaction() as tx:
        package_id = await add_package(tx, clock, site.tenant_id, name="1 MB", cap=cap)
    return Site(site.tenant_id, package_id, site.router_id)


def assert_data_left(router, mac: str, left: int) -> None:
    """The device is online until it has moved exactly `left` more bytes."""
    router.traffic(mac, left // 2, left - left // 2 - 1)
    assert router.has_access(mac)
    router.traffic(mac, 1, 0)
    assert not router.has_access(mac) and router.ended[-1]["cause"] == "traffic-limit"


async def test_a_packages_data_cap_holds_on_the_router_and_buying_more_adds_to_it(
    db, clock, vault, site, worker, emulator
):
    mb = await capped(db, clock, site, 1_000_000)
    emulator.connect_device(MAC, IP)
    session_id = await buy(db, clock, vault, mb)
    await worker.run_due_tasks()
    assert user_on_router(emulator)["limit-bytes-total"] == "1000000"
    emulator.traffic(MAC, 600_000, 400_000)
    assert not emulator.has_access(MAC) and emulator.ended[-1]["cause"] == "traffic-limit"
    await worker.sync_router(site.router_id)  # the sync does not undo the cap
    assert not emulator.has_access(MAC)
    assert await buy(db, clock, vault, mb) == session_id  # more data, bought while the time lasts
    await worker.run_due_tasks()
    assert (await session(db, session_id))["data_cap_bytes"] == 2_000_000
    assert_data_left(emulator, MAC, 1_000_000)


async def test_caps_add_up_to_what_a_router_counter_holds_and_no_further(
    db, clock, vault, site, worker, emulator
):
    huge = await capped(db, clock, site, 2**61)
    emulator.connect_device(MAC, IP)
    session_id = await buy(db, clock, vault, huge)
    for _ in range(3):
        await buy(db, clock, vault, huge)
    await worker.run_due_tasks()
    assert (await session(db, session_id))["data_cap_bytes"] == MAX_DATA_CAP
    assert user_on_router(emulator)["limit-bytes-total"] == str(2**62)


async def test_buying_a_package_without_a_cap_lifts_the_sessions_cap(
    db, clock, vault, site, worker, emulator
):
    emulator.connect_device(MAC, IP)
    session_id = await buy(db, clock, vault, await capped(db, clock, site, 1_000_000))
    await worker.run_due_tasks()
    await buy(db, clock, vault, site)
    await worker.run_due_tasks()
    assert (await session(db, session_id))["data_cap_bytes"] is None
    emulator.traffic(MAC, 5_000_000, 5_000_000)
    assert emulator.has_access(MAC)


async def test_a_moved_session_takes_only_the_data_it_has_left_to_the_new_device(
    db, clock, vault, site, worker, emulator
):
    new_mac, new_ip = "AA:BB:CC:DD:EE:99", "10.5.50.99"
    emulator.connect_device(MAC, IP)
    emulator.connect_device(new_mac, new_ip)
    session_id = await buy(db, clock, vault, await capped(db, clock, site, 1_000_000))
    await worker.run_due_tasks()
    emulator.traffic(MAC, 100_000, 500_000)
    async with db.transaction() as tx:
        await move_session(tx, clock, session_id, router_id=site.router_id, mac=new_mac, ip=new_ip)
    await worker.run_due_tasks()
    assert (await session(db, session_id))["data_used_bytes"] == 600_000
    assert user_on_router(emulator, new_mac)["limit-bytes-total"] == "400000"
    assert_data_left(emulator, new_mac, 400_000)


async def moved_after_using(db, clock, vault, site, worker, emulator, new_mac: str) -> int:
    """A 1 MB session whose device used 600 kB, moved to `new_mac` on the same router; its session id."""
    emulator.connect_device(MAC, IP)
    emulator.connect_device(new_mac, "10.5.50.99")
    session_id = await buy(db, clock, vault, await capped(db, clock, site, 1_000_000))
    await worker.run_due_tasks()
    emulator.traffic(MAC, 100_000, 500_000)
    async with db.transaction() as tx:
        await move_session(tx, clock, session_id, router_id=site.router_id, mac=new_mac, ip="10.5.50.99")
    return session_id


async def test_a_sync_before_the_moves_revoke_leaves_the_counting_to_it(
    db, clock, vault, site, worker, emulator
):
    new_mac = "AA:BB:CC:DD:EE:99"
    session_id = await moved_after_using(db, clock, vault, site, worker, emulator, new_mac)
    await worker.sync_router(site.router_id)
    await worker.run_due_tasks()
    assert (await session(db, session_id))["data_used_bytes"] == 600_000
    assert_data_left(emulator, new_mac, 400_000)


@pytest.mark.parametrize(
    "trouble",
    [
        # Cut off half way, after the user and its login are gone: the retry finds nothing to count.
        lambda router: router.inject_fatal("/ip/hotspot/cookie/print"),
        # The revoke backs off and the new device's grant goes first, with the whole cap.
        lambda router: router.inject_trap("/ip/hotspot/user/print", "busy"),
    ],
    ids=["revoke cut off half way", "revoke runs late"],
)
async def test_what_the_old_device_used_comes_off_the_new_devices_cap_whatever_happens_to_its_revoke(
    db, clock, vault, site, worker, emulator, trouble
):
    new_mac = "AA:BB:CC:DD:EE:99"
    session_id = await moved_after_using(db, clock, vault, site, worker, emulator, new_mac)
    trouble(emulator)
    await worker.run_due_tasks()
    clock.advance(retry_delay(1))
    await worker.run_due_tasks()
    await worker.run_due_tasks()
    assert (await session(db, session_id))["data_used_bytes"] == 600_000
    assert_data_left(emulator, new_mac, 400_000)


async def test_data_used_before_a_move_to_another_router_comes_off_the_cap_there_whatever_runs_first(
    db, clock, vault, site, worker, emulator
):
    lounge = RouterEmulator(clock, identity="lounge-router")
    await lounge.start()
    async with db.transaction() as tx:
        lounge_id = await add_router(tx, clock, vault, site.tenant_id, {
            "name": "lounge", "host": "127.0.0.1", "port": str(lounge.port),
            "username": "admin", "password": "secret",
        })  # fmt: skip
    new_mac = "AA:BB:CC:DD:EE:99"
    emulator.connect_device(MAC, IP)
    lounge.connect_device(new_mac, "10.6.50.9")
    session_id = await buy(db, clock, vault, await capped(db, clock, site, 1_000_000))
    await worker.run_due_tasks()
    emulator.traffic(MAC, 100_000, 500_000)
    await emulator.down()  # the old router's revoke has to wait...
    async with db.transaction() as tx:
        await move_session(tx, clock, session_id, router_id=lounge_id, mac=new_mac, ip=None)
    await worker.run_due_tasks()  # ...while the new device is let in with the whole cap
    assert lounge.has_access(new_mac)
    await emulator.up()
    clock.advance(retry_delay(1))
    await worker.run_due_tasks()  # the revoke counts what the old device used
    await worker.run_due_tasks()  # and the new device's cap comes down by as much
    assert user_on_router(lounge, new_mac)["limit-bytes-total"] == "400000"
    assert_data_left(lounge, new_mac, 400_000)
    assert not emulator.has_access(MAC)
    await lounge.stop()


# -- expiry ---------------------------------------------------------------------------------------------


async def test_the_device_is_off_the_router_the_moment_its_paid_time_ends(
    db, clock, vault, site, worker, emulator
):
    emulator.connect_device(MAC, IP)
    worker.start()
    session_id = await buy(db, clock, vault, site)
    worker.wake()

    async def active():
        return (await session(db, session_id))["state"] == "active"

    await eventually(active)
    expires_at = from_text((await session(db, session_id))["expires_at"])
    clock.advance(HOUR - 1)
    await asyncio.sleep(0.05)
    assert emulator.has_access(MAC)
    clock.advance(1)  # exactly the end of the paid hour; the clock does not move again

    async def off():
        return not emulator.has_access(MAC)

    await eventually(off)
    assert clock.now() == expires_at
    assert emulator.ended[-1]["cause"] == "admin-reset" and emulator.ended[-1]["at"] == expires_at
    row = await session(db, session_id)
    assert row["state"] == "expired" and row["ended_at"] == to_text(expires_at)
    assert user_on_router(emulator) is None


async def test_expiry_wakes_for_a_shorter_session_that_arrives_while_it_sleeps(
    db, clock, vault, site, worker, emulator
):
    emulator.connect_device(MAC, IP)
    emulator.connect_device("AA:BB:CC:DD:EE:02", "10.5.50.12")
    worker.start()
    await buy(db, clock, vault, site, seconds=HOUR)
    worker.wake()
    await eventually(lambda: _has(emulator, MAC))
    short = await buy(db, clock, vault, site, mac="AA:BB:CC:DD:EE:02", seconds=600)
    worker.wake()
    await eventually(lambda: _has(emulator, "AA:BB:CC:DD:EE:02"))
    clock.advance(600)
    await eventually(lambda: _has(emulator, "AA:BB:CC:DD:EE:02", False))
    assert (await session(db, short))["state"] == "expired" and emulator.has_access(MAC)


async def _has(emulator, mac, expected=True):
    return emulator.has_access(mac) == expected


async def test_expiry_while_the_router_is_down_the_router_cap_holds_and_revoke_follows_its_return(
    db, clock, vault, site, worker, emulator
):
    emulator.connect_device(MAC, IP)
    session_id = await buy(db, clock, vault, site)
    await worker.run_due_tasks()
    await emulator.down()
    clock.advance(HOUR)
    assert await worker.expire_due() == 1
    await worker.run_due_tasks()
    revoke = (await tasks(db, session_id))[-1]
    assert (revoke["kind"], revoke["state"], revoke["attempts"]) == ("revoke", "queued", 1)
    assert emulator.has_access(MAC)  # unreachable, so the portal can't cut it off yet...
    clock.advance(GRACE_SECONDS)
    assert not emulator.has_access(MAC)  # ...but the router's own cap does
    assert emulator.ended[-1]["cause"] == "uptime-limit"
    await emulator.up()
    await worker.run_due_tasks()
    assert (await tasks(db, session_id))[-1]["state"] == "done"
    assert user_on_router(emulator) is None


async def test_ending_a_session_by_hand_takes_access_away(db, clock, vault, site, worker, emulator):
    emulator.connect_device(MAC, IP)
    session_id = await buy(db, clock, vault, site)
    await worker.run_due_tasks()
    async with db.transaction() as tx:
        assert await end_session(tx, clock, session_id)
        assert not await end_session(tx, clock, session_id)
    await worker.run_due_tasks()
    assert not emulator.has_access(MAC) and (await session(db, session_id))["state"] == "revoked"


async def test_extending_by_hand_adds_time_on_the_router_and_refuses_an_ended_session(
    db, clock, vault, site, worker, emulator
):
    emulator.connect_device(MAC, IP)
    session_id = await buy(db, clock, vault, site)
    await worker.run_due_tasks()
    async with db.transaction() as tx:
        assert await extend_session(tx, clock, session_id, 30 * 60)
    await worker.run_due_tasks()
    row = await session(db, session_id)
    assert from_text(row["expires_at"]) == clock.now() + timedelta(minutes=90)
    assert parse_duration(user_on_router(emulator)["limit-uptime"]) == 90 * 60 + GRACE_SECONDS
    async with db.transaction() as tx:
        await end_session(tx, clock, session_id)
        assert not await extend_session(tx, clock, session_id, 60)


async def test_moving_a_session_hands_its_remaining_time_to_the_new_device_and_ends_the_old(
    db, clock, vault, site, worker, emulator
):
    new_mac, new_ip = "AA:BB:CC:DD:EE:99", "10.5.50.99"
    emulator.connect_device(MAC, IP)
    emulator.connect_device(new_mac, new_ip)
    session_id = await buy(db, clock, vault, site)
    await worker.run_due_tasks()
    expires_at = (await session(db, session_id))["expires_at"]
    clock.advance(minutes=20)
    async with db.transaction() as tx:
        await move_session(tx, clock, session_id, router_id=site.router_id, mac=new_mac, ip=new_ip)
    await worker.run_due_tasks()
    assert emulator.has_access(new_mac) and not emulator.has_access(MAC)
    assert user_on_router(emulator) is None
    row = await session(db, session_id)
    assert (row["mac"], row["state"], row["expires_at"]) == (new_mac, "active", expires_at)
    report = await worker.sync_router(site.router_id)  # the move left nothing for a sync to repair
    assert (report.restored, report.removed) == (0, 0)


async def test_a_session_moved_while_its_grant_is_in_flight_starts_on_the_new_device(
    db, clock, vault, site, emulator
):
    new_mac, new_ip = "AA:BB:CC:DD:EE:99", "10.5.50.99"
    emulator.connect_device(MAC, IP)
    emulator.connect_device(new_mac, new_ip)
    gateways = Gateways(vault, timeout=5.0)  # the held answer must not time out meanwhile
    worker = SessionWorker(db, clock, gateways)
    session_id = await buy(db, clock, vault, site)
    emulator.hold_replies(after="/ip/hotspot/active/login")
    running = asyncio.create_task(worker.run_due_tasks())
    await eventually(lambda: _has(emulator, MAC))  # the router let the old device in...
    async with db.transaction() as tx:  # ...and before the portal hears of it, the session moves
        await move_session(tx, clock, session_id, router_id=site.router_id, mac=new_mac, ip=new_ip)
    emulator.release_replies()
    await running
    assert emulator.has_access(new_mac) and not emulator.has_access(MAC)
    row = await session(db, session_id)
    assert (row["state"], row["mac"], row["ip"]) == ("active", new_mac, new_ip)
    assert from_text(row["expires_at"]) == clock.now() + timedelta(hours=1)
    await gateways.close()


async def test_a_session_cannot_move_onto_a_device_that_has_its_own_time(db, clock, vault, site, worker):
    first = await buy(db, clock, vault, site)
    await buy(db, clock, vault, site, mac="AA:BB:CC:DD:EE:99")
    with pytest.raises(SessionError, match="already has time"):
        async with db.transaction() as tx:
            await move_session(tx, clock, first, router_id=site.router_id, mac="aa-bb-cc-dd-ee-99", ip=None)


async def test_a_session_ended_before_its_grant_ran_never_reaches_the_router(
    db, clock, vault, site, worker, emulator
):
    emulator.connect_device(MAC, IP)
    session_id = await buy(db, clock, vault, site)
    async with db.transaction() as tx:
        await end_session(tx, clock, session_id)
    await worker.run_due_tasks()
    assert logins(emulator) == [] and not emulator.has_access(MAC)
    assert [t["state"] for t in await tasks(db, session_id)] == ["done", "done"]


# -- sync -----------------------------------------------------------------------------------------------


async def test_after_a_router_reboot_sync_restores_every_valid_session_and_no_expired_one(
    db, clock, vault, site, worker, emulator
):
    macs = [f"AA:BB:CC:DD:EE:{n:02X}" for n in range(6)]
    for n, mac in enumerate(macs):
        emulator.connect_device(mac, f"10.5.50.{20 + n}")
        await buy(db, clock, vault, site, mac=mac, seconds=HOUR if n else 600)
    await worker.run_due_tasks()
    clock.advance(601)
    await worker.expire_due()  # the first one is over; its revoke has not reached the router yet
    emulator.reboot()
    for n, mac in enumerate(macs):
        emulator.connect_device(mac, f"10.5.50.{20 + n}")
    report = await worker.sync_router(site.router_id)
    assert [emulator.has_access(mac) for mac in macs] == [False] + [True] * 5
    assert (report.restored, report.removed) == (5, 1)
    for active in emulator.active_sessions():  # the cap counts the time used before the reboot
        assert parse_duration(active["session-time-left"]) == HOUR - 601 + GRACE_SECONDS


async def test_a_purchase_is_not_held_up_by_a_long_sync_on_the_same_router(
    db, clock, vault, site, worker, emulator
):
    macs = [f"AA:BB:CC:DD:EE:{n:02X}" for n in range(30)]
    for n, mac in enumerate(macs):
        emulator.connect_device(mac, f"10.5.50.{20 + n}")
        await buy(db, clock, vault, site, mac=mac)
    await worker.run_due_tasks()
    emulator.reboot()
    for n, mac in enumerate(macs):
        emulator.connect_device(mac, f"10.5.50.{20 + n}")
    newcomer_mac = "AA:BB:CC:DD:EF:01"
    emulator.connect_device(newcomer_mac, "10.5.51.2")
    before = len(emulator.logins)
    newcomer = await buy(db, clock, vault, site, mac=newcomer_mac)
    report, _ = await asyncio.gather(worker.sync_router(site.router_id), worker.run_due_tasks())
    after_reboot = [login["mac-address"] for login in emulator.logins[before:]]
    assert report.restored == 30 and (await session(db, newcomer))["state"] == "active"
    assert after_reboot.index(newcomer_mac) < 2  # it went between the repairs, not after all thirty


async def test_sync_recreates_a_user_deleted_by_hand_on_the_router(db, clock, vault, site, worker, emulator):
    emulator.connect_device(MAC, IP)
    await buy(db, clock, vault, site)
    await worker.run_due_tasks()
    emulator.console("/ip/hotspot/user/remove", {"numbers": MAC})
    session_row = emulator.console("/ip/hotspot/active/print").rows[0]
    emulator.console("/ip/hotspot/active/remove", {".id": session_row[".id"]})
    assert (await worker.sync_router(site.router_id)).restored == 1
    assert emulator.has_access(MAC) and user_on_router(emulator)["comment"].startswith("portal:s=")


async def test_sync_leaves_a_device_that_is_away_logged_out_but_keeps_its_user(
    db, clock, vault, site, worker, emulator
):
    emulator.connect_device(MAC, IP)
    await buy(db, clock, vault, site)
    await worker.run_due_tasks()
    emulator.reboot()  # the device has not come back yet
    assert (await worker.sync_router(site.router_id)).restored == 0
    assert user_on_router(emulator) is not None and not emulator.has_access(MAC)
    emulator.connect_device(MAC, IP)
    assert (await worker.sync_router(site.router_id)).restored == 1 and emulator.has_access(MAC)


async def test_sync_removes_our_users_the_portal_does_not_know_and_never_touches_foreign_ones(
    db, clock, vault, site, worker, emulator
):
    emulator.connect_device("AA:BB:CC:DD:EE:02", "10.5.50.12")
    emulator.console("/ip/hotspot/user/add", {"name": "guest", "password": "g", "comment": "front desk"})
    emulator.console("/ip/hotspot/user/add", {"name": "AA:BB:CC:DD:EE:02", "password": "x"})
    emulator.console(
        "/ip/hotspot/active/login", {"user": "AA:BB:CC:DD:EE:02", "password": "x", "ip": "10.5.50.12"}
    )
    emulator.console("/ip/hotspot/user/add", {"name": "AA:BB:CC:DD:EE:03", "comment": "portal:s=999;exp=x"})
    report = await worker.sync_router(site.router_id)
    names = [row["name"] for row in emulator.console("/ip/hotspot/user/print").rows]
    assert names == ["guest", "AA:BB:CC:DD:EE:02"] and report.removed == 1
    assert emulator.has_access("AA:BB:CC:DD:EE:02")
    assert (await db.fetchone("SELECT last_sync_at FROM routers"))["last_sync_at"] == to_text(clock.now())


async def test_a_sync_that_cannot_reach_the_router_notes_why(db, clock, vault, site, worker, emulator):
    await emulator.down()
    await worker.sync_all()
    router = await db.fetchone("SELECT last_error, last_sync_at FROM routers")
    assert "unreachable" in router["last_error"] and router["last_sync_at"] is None


# -- load -----------------------------------------------------------------------------------------------


async def test_500_grants_at_once_all_reach_the_router(db, clock, vault, site, worker, emulator):
    macs = [f"AA:BB:CC:DD:{n // 256:02X}:{n % 256:02X}" for n in range(500)]
    for n, mac in enumerate(macs):
        emulator.connect_device(mac, f"10.5.{n // 250}.{n % 250 + 2}")
    async with db.transaction() as tx:
        for mac in macs:
            await open_session(
                tx, clock, vault, tenant_id=site.tenant_id, router_id=site.router_id,
                package_id=site.package_id, mac=mac, ip=None, seconds=HOUR,
            )  # fmt: skip
    worker.start()
    worker.wake()

    async def all_active():
        return await db.fetchval("SELECT count(*) FROM access_sessions WHERE state = 'active'") == 500

    await eventually(all_active, seconds=60)
    assert len(emulator.active_sessions()) == 500 and all(emulator.has_access(mac) for mac in macs)
    assert await db.fetchval("SELECT count(*) FROM router_task_attempts WHERE ok = 0") == 0


# -- in the app -----------------------------------------------------------------------------------------


async def test_the_running_app_grants_and_ends_access_through_its_own_worker(
    settings, clock, vault, emulator
):
    emulator.connect_device(MAC, IP)
    app = create_app(settings, clock=clock, vault=vault)
    async with serving(app):
        services = app.state.services
        site = await make_site(services.db, clock, vault, emulator)
        session_id = await buy(services.db, clock, vault, site)
        services.sessions.wake()
        await eventually(lambda: _has(emulator, MAC))
        clock.advance(HOUR)
        await eventually(lambda: _has(emulator, MAC, False))
        assert (await session(services.db, session_id))["state"] == "expired"
