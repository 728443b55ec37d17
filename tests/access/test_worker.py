"""The outbox worker (access/worker.py) against the RouterOS emulator: grants that start paid time only
once the router confirms, extends and revokes, retries with back-off, outages, the data a device used
counted against its session's cap, and the plans of the tenant's packages."""

import asyncio
from datetime import timedelta

import pytest

from portal.access import outbox, plans, sessions
from portal.access.provisioning import add_router_as_typed
from portal.access.worker import RETRY_CAP, RouterWorker, retry_delay
from portal.catalog import packages
from portal.catalog.packages import PackageSpec
from portal.clock import to_text
from portal.gateways.registry import Gateways
from portal.gateways.routeros.durations import parse_duration
from portal.gateways.routeros.gateway import GRACE_SECONDS
from portal.metrics import Metrics
from portal.sim.routeros import RouterEmulator
from tests.access.conftest import (
    HOUR,
    IP,
    MAC,
    assert_data_left,
    attempts,
    buy,
    capped,
    has,
    logins,
    moved_after_using,
    profile,
    router_form,
    session,
    tasks,
    user_on_router,
)
from tests.conftest import eventually, execute, reach, rows, value

NEW_MAC, NEW_IP = "AA:BB:CC:DD:EE:99", "10.5.50.99"


# -- grants ---------------------------------------------------------------------------------------------


async def test_paid_time_starts_when_the_router_confirms_access(store, clock, vault, site, worker, emulator):
    emulator.connect_device(MAC, IP)
    session_id = await buy(store, clock, vault, site)
    assert (await session(store, session_id)).state == "pending"
    clock.advance(minutes=10)  # e.g. the worker was busy
    await worker.run_due_tasks()
    row = await session(store, session_id)
    assert row.state == "active" and row.started_at == clock.now()
    assert row.expires_at == clock.now() + timedelta(hours=1)
    assert emulator.has_access(MAC)
    [task] = await tasks(store, session_id)
    assert (task["kind"], task["state"], task["attempts"]) == ("grant", "done", 1)
    assert await attempts(store, task["id"]) == [True]


async def test_more_time_bought_while_the_grant_is_in_flight_reaches_the_router(
    store, clock, vault, site, worker, emulator
):
    emulator.connect_device(MAC, IP)
    session_id = await buy(store, clock, vault, site)
    emulator.inject_trap("/ip/hotspot/active/login", "busy")  # the first grant attempt fails late...
    await worker.run_due_tasks()
    await buy(store, clock, vault, site)  # ...and the customer buys again meanwhile
    clock.advance(retry_delay(1))
    await worker.run_due_tasks()
    row = await session(store, session_id)
    assert row.expires_at - row.started_at == timedelta(hours=2)
    assert parse_duration(user_on_router(emulator)["limit-uptime"]) == 2 * HOUR + GRACE_SECONDS


async def test_a_session_moved_while_its_grant_is_in_flight_starts_on_the_new_device(
    store, clock, vault, site, emulator
):
    emulator.connect_device(MAC, IP)
    emulator.connect_device(NEW_MAC, NEW_IP)
    gateways = Gateways(reach(timeout=5.0))  # the held answer must not time out meanwhile
    worker = RouterWorker(store, clock, vault, gateways, Metrics())
    session_id = await buy(store, clock, vault, site)
    emulator.hold_replies(after="/ip/hotspot/active/login")
    running = asyncio.create_task(worker.run_due_tasks())
    await eventually(has(emulator, MAC))  # the router let the old device in...
    await store.write(  # ...and before the portal hears of it, the session moves
        sessions.move_session, clock, session_id, router_id=site.router_id, mac=NEW_MAC, ip=NEW_IP
    )
    emulator.release_replies()
    await running
    assert emulator.has_access(NEW_MAC) and not emulator.has_access(MAC)
    row = await session(store, session_id)
    assert (row.state, row.mac, row.ip) == ("active", NEW_MAC, NEW_IP)
    assert row.expires_at == clock.now() + timedelta(hours=1)
    await worker.stop()
    await gateways.close()


async def test_a_session_ended_before_its_grant_ran_never_reaches_the_router(
    store, clock, vault, site, worker, emulator
):
    emulator.connect_device(MAC, IP)
    session_id = await buy(store, clock, vault, site)
    await store.write(sessions.end_session, clock, session_id)
    await worker.run_due_tasks()
    assert logins(emulator) == [] and not emulator.has_access(MAC)
    assert [t["state"] for t in await tasks(store, session_id)] == ["done", "done"]


async def test_a_usual_grant_sends_the_user_the_login_and_its_check_in_one_round_trip(
    store, clock, vault, site, worker, emulator
):
    emulator.connect_device(MAC, IP)
    session_id = await buy(store, clock, vault, site)
    emulator.hold_replies(after="/ip/hotspot/user/add")  # no answer comes back until all is sent
    before = len(emulator.sentences)
    granting = asyncio.create_task(worker.run_due_tasks())

    async def all_sent() -> bool:
        sent = [sentence[0] for sentence in list(emulator.sentences)[before:]]
        return sent == ["/ip/hotspot/user/add", "/ip/hotspot/active/login", "/ip/hotspot/active/print"]

    await eventually(all_sent)
    emulator.release_replies()
    await granting
    assert (await session(store, session_id)).state == "active" and emulator.has_access(MAC)
    assert len(logins(emulator)) == 1


async def test_a_grant_for_a_device_that_is_away_leaves_nothing_on_the_router_and_its_retries_only_read(
    store, clock, vault, site, worker, emulator
):
    await buy(store, clock, vault, site)
    await worker.run_due_tasks()
    assert user_on_router(emulator) is None and not emulator.has_access(MAC)
    for attempt in range(1, 4):  # it may stay away for days
        before = len(emulator.sentences)
        clock.advance(retry_delay(attempt))
        await worker.run_due_tasks()
        sent = [sentence[0] for sentence in list(emulator.sentences)[before:]]
        assert sent == ["/ip/hotspot/host/print"] and user_on_router(emulator) is None


# -- retries and outages --------------------------------------------------------------------------------


async def test_router_down_during_the_grant_grants_once_when_it_returns_and_time_starts_then(
    store, clock, vault, site, worker, emulator
):
    emulator.connect_device(MAC, IP)
    await emulator.down()
    session_id = await buy(store, clock, vault, site)
    for attempt in range(1, 4):
        await worker.run_due_tasks()
        [task] = await tasks(store, session_id)
        assert task["attempts"] == attempt and "no RouterOS API answered" in task["last_error"]
        assert task["next_attempt_at"] == to_text(clock.now() + timedelta(seconds=retry_delay(attempt)))
        clock.advance(retry_delay(attempt))
    status = await store.read(sessions.session_status, clock, session_id)
    assert status.connecting and status.attempts == 3 and "no RouterOS API answered" in status.last_error
    assert status.seconds_left == HOUR  # nothing of the paid hour is spent while waiting
    assert "no RouterOS API answered" in await value(
        store, "SELECT last_error FROM routers WHERE id = ?", (site.router_id,)
    )
    failures = {"router": "cafe", "kind": "grant"}
    assert worker.metrics.registry.get_sample_value("portal_router_task_failures_total", failures) == 3
    await emulator.up()
    await worker.run_due_tasks()
    row = await session(store, session_id)
    assert row.state == "active" and row.started_at == clock.now()
    assert len(logins(emulator)) == 1 and emulator.has_access(MAC)
    assert await attempts(store, task["id"]) == [False, False, False, True]


def test_back_off_doubles_up_to_a_cap():
    assert [retry_delay(n) for n in range(1, 8)] == [2, 4, 8, 16, 32, 60, 60]


async def test_a_grant_whose_answer_was_lost_logs_the_device_in_exactly_once(
    store, clock, vault, site, worker, emulator
):
    emulator.connect_device(MAC, IP)
    session_id = await buy(store, clock, vault, site)
    emulator.hold_replies(after="/ip/hotspot/active/login")
    await worker.run_due_tasks()
    emulator.release_replies()
    assert (await session(store, session_id)).state == "pending"
    assert emulator.has_access(MAC)  # the router did it; the portal just never heard
    clock.advance(retry_delay(1))
    await worker.run_due_tasks()
    assert (await session(store, session_id)).state == "active"
    assert len(logins(emulator)) == 1


async def test_an_expired_device_is_revoked_before_grants_that_wait_for_devices_away(
    store, clock, vault, site, worker, emulator
):
    emulator.connect_device(MAC, IP)
    session_id = await buy(store, clock, vault, site, seconds=600)
    await worker.run_due_tasks()
    for n in range(20):
        await buy(store, clock, vault, site, mac=f"AA:BB:CC:DD:EF:{n:02X}")  # paid, then walked away
    clock.advance(600)
    await store.write(sessions.expire_due, clock)
    before = len(emulator.sentences)
    await worker.run_due_tasks()
    sent = [sentence[0] for sentence in list(emulator.sentences)[before:]]
    assert sent.index("/ip/hotspot/active/remove") < sent.index("/ip/hotspot/host/print")
    assert (await tasks(store, session_id))[-1]["state"] == "done" and not emulator.has_access(MAC)


async def test_an_outage_postpones_the_routers_other_tasks_instead_of_timing_each_out(
    store, clock, vault, site, worker, emulator
):
    await emulator.down()
    ids = [await buy(store, clock, vault, site, mac=f"AA:BB:CC:DD:EE:{n:02X}") for n in range(5)]
    await store.write(outbox.queue_plans, clock.now(), [site.router_id])
    await worker.run_due_tasks()
    grants = [(await tasks(store, i))[0] for i in ids]
    [plans_task] = await rows(
        store, "SELECT * FROM router_tasks WHERE kind = 'update_plans' AND state = 'queued'"
    )
    assert [grant["attempts"] for grant in grants] == [1] * 5  # tried together: one timeout for all
    assert plans_task["attempts"] == 0
    assert {task["next_attempt_at"] for task in [*grants, plans_task]} == {
        to_text(clock.now() + timedelta(seconds=retry_delay(1)))
    }


async def test_a_task_that_hits_a_bug_backs_off_like_any_failure_and_spares_the_others(
    store, clock, vault, site, worker, emulator
):
    emulator.connect_device(MAC, IP)
    await execute(  # a task whose session is missing: the code can't cope
        store,
        "INSERT INTO router_tasks (router_id, kind, next_attempt_at, created_at) VALUES (?, 'grant', ?, ?)",
        (site.router_id, to_text(clock.now()), to_text(clock.now())),
    )
    session_id = await buy(store, clock, vault, site)
    await worker.run_due_tasks()
    [broken] = await rows(
        store, "SELECT * FROM router_tasks WHERE access_session_id IS NULL AND kind = 'grant'"
    )
    assert broken["attempts"] == 1 and broken["last_error"].startswith("internal error (")
    assert broken["next_attempt_at"] > to_text(clock.now())
    assert (await session(store, session_id)).state == "active"


async def test_a_task_retried_a_thousand_times_still_backs_off_and_spares_the_routers_other_tasks(
    store, clock, vault, site, worker, emulator
):
    away = await buy(
        store, clock, vault, site, mac="AA:BB:CC:DD:EE:77"
    )  # paid, never seen on the Wi-Fi again
    await execute(store, "UPDATE router_tasks SET attempts = 5000 WHERE access_session_id = ?", (away,))
    emulator.connect_device(MAC, IP)
    here = await buy(store, clock, vault, site)
    await worker.run_due_tasks()
    [task] = await tasks(store, away)
    assert task["attempts"] == 5001 and task["next_attempt_at"] > to_text(clock.now())
    assert (await session(store, here)).state == "active"
    assert retry_delay(10**6) == RETRY_CAP


async def test_a_task_whose_retry_bookkeeping_fails_is_set_aside_and_spares_the_others(
    store, clock, vault, site, worker, emulator, monkeypatch
):
    def broken(*_):
        raise ArithmeticError("a bug in the back-off")

    monkeypatch.setattr("portal.access.worker.retry_delay", broken)
    away = await buy(store, clock, vault, site, mac="AA:BB:CC:DD:EE:77")
    emulator.connect_device(MAC, IP)
    here = await buy(store, clock, vault, site)
    await worker.run_due_tasks()
    [task] = await tasks(store, away)
    assert task["state"] == "queued" and task["next_attempt_at"] > to_text(clock.now())
    assert (await session(store, here)).state == "active"


# -- data caps: what a device used comes off its session's cap ------------------------------------------


async def test_a_moved_session_takes_only_the_data_it_has_left_to_the_new_device(
    store, clock, vault, site, worker, emulator
):
    session_id = await moved_after_using(store, clock, vault, site, worker, emulator, NEW_MAC)
    await worker.run_due_tasks()
    assert (await session(store, session_id)).data_used_bytes == 600_000
    assert user_on_router(emulator, NEW_MAC)["limit-bytes-total"] == "400000"
    assert_data_left(emulator, NEW_MAC, 400_000)


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
    store, clock, vault, site, worker, emulator, trouble
):
    session_id = await moved_after_using(store, clock, vault, site, worker, emulator, NEW_MAC)
    trouble(emulator)
    await worker.run_due_tasks()
    clock.advance(retry_delay(1))
    await worker.run_due_tasks()
    await worker.run_due_tasks()
    assert (await session(store, session_id)).data_used_bytes == 600_000
    assert_data_left(emulator, NEW_MAC, 400_000)


async def test_data_used_before_a_move_to_another_router_comes_off_the_cap_there_whatever_runs_first(
    store, clock, vault, site, worker, emulator
):
    lounge = RouterEmulator(clock, identity="lounge-router")
    await lounge.start()
    lounge_id = await store.write(
        add_router_as_typed, clock, vault, site.tenant_id, router_form("lounge", lounge.port)
    )
    emulator.connect_device(MAC, IP)
    lounge.connect_device(NEW_MAC, "10.6.50.9")
    session_id = await buy(store, clock, vault, await capped(store, clock, site, 1_000_000))
    await worker.run_due_tasks()
    emulator.traffic(MAC, 100_000, 500_000)
    await emulator.down()  # the old router's revoke has to wait...
    await store.write(sessions.move_session, clock, session_id, router_id=lounge_id, mac=NEW_MAC, ip=None)
    await worker.run_due_tasks()  # ...while the new device is let in with the whole cap
    assert lounge.has_access(NEW_MAC)
    await emulator.up()
    clock.advance(retry_delay(1))
    await worker.run_due_tasks()  # the revoke counts what the old device used
    await worker.run_due_tasks()  # and the new device's cap comes down by as much
    assert user_on_router(lounge, NEW_MAC)["limit-bytes-total"] == "400000"
    assert_data_left(lounge, NEW_MAC, 400_000)
    assert not emulator.has_access(MAC)
    await lounge.stop()


# -- plans ----------------------------------------------------------------------------------------------


def profile_on(router, package_id: int) -> dict:
    [found] = router.console("/ip/hotspot/user/profile/print", queries=[f"name={profile(package_id)}"]).rows
    return found


async def test_an_edited_package_reaches_the_router_even_through_an_outage(
    store, clock, vault, site, worker, emulator
):
    def edit(db):
        spec = PackageSpec("1 hour", 10, HOUR, "4M/8M", None)
        assert packages.update(db, clock, site.package_id, site.tenant_id, spec)
        return plans.tell_routers(db, clock, site.tenant_id)

    await emulator.down()
    assert await store.write(edit) == 1
    await worker.run_due_tasks()
    await emulator.up()
    assert profile_on(emulator, site.package_id)["rate-limit"] == "1M/2M"
    clock.advance(retry_delay(1))
    await worker.run_due_tasks()
    assert profile_on(emulator, site.package_id)["rate-limit"] == "4M/8M"
    assert await value(store, "SELECT count(*) FROM router_tasks WHERE state = 'queued'") == 0


# -- load -----------------------------------------------------------------------------------------------


async def test_500_grants_at_once_all_reach_the_router(store, clock, vault, site, jobs, emulator):
    macs = [f"AA:BB:CC:DD:{n // 256:02X}:{n % 256:02X}" for n in range(500)]
    for n, mac in enumerate(macs):
        emulator.connect_device(mac, f"10.5.{n // 250}.{n % 250 + 2}")

    def open_all(db):
        for mac in macs:
            sessions.open_session(
                db, clock, vault, tenant_id=site.tenant_id, router_id=site.router_id,
                package_id=site.package_id, mac=mac, ip=None, seconds=HOUR,
            )  # fmt: skip

    await store.write(open_all)
    jobs.wake()

    async def all_active():
        return await value(store, "SELECT count(*) FROM access_sessions WHERE state = 'active'") == 500

    await eventually(all_active, seconds=60)
    assert len(emulator.active_sessions()) == 500 and all(emulator.has_access(mac) for mac in macs)
    assert await value(store, "SELECT count(*) FROM router_task_attempts WHERE ok = 0") == 0
