"""The sync (access/sync.py) against the RouterOS emulator: what drifted on the router (a reboot, a user
deleted by hand) is repaired, what portal did not create is never touched, and a router that answers
again gets at once what waited for it."""

import asyncio
from datetime import timedelta

from portal.access import routers, sessions
from portal.access.provisioning import add_router_as_typed
from portal.access.sync import RESTORED_AT_ONCE
from portal.access.worker import AWAY_RETRY_CAP, RETRY_CAP, retry_delay
from portal.clock import to_text
from portal.gateways.routeros.durations import parse_duration
from portal.gateways.routeros.gateway import GRACE_SECONDS
from portal.sim.routeros import RouterEmulator
from tests.access.conftest import (
    HOUR,
    IP,
    MAC,
    assert_data_left,
    buy,
    moved_after_using,
    router_form,
    session,
    tasks,
    user_on_router,
)
from tests.conftest import eventually, execute

# -- drift ----------------------------------------------------------------------------------------------


async def test_after_a_router_reboot_sync_restores_every_valid_session_and_no_expired_one(
    store, clock, vault, site, worker, sync, emulator
):
    macs = [f"AA:BB:CC:DD:EE:{n:02X}" for n in range(6)]
    for n, mac in enumerate(macs):
        emulator.connect_device(mac, f"10.5.50.{20 + n}")
        await buy(store, clock, vault, site, mac=mac, seconds=HOUR if n else 600)
    await worker.run_due_tasks()
    clock.advance(601)
    await store.write(sessions.expire_due, clock)  # the first one is over; its revoke has not run yet
    emulator.reboot()
    for n, mac in enumerate(macs):
        emulator.connect_device(mac, f"10.5.50.{20 + n}")
    report = await sync.sync_router(site.router_id)
    assert [emulator.has_access(mac) for mac in macs] == [False] + [True] * 5
    assert (report.restored, report.removed) == (5, 1)
    for active in emulator.active_sessions():  # the cap counts the time used before the reboot
        assert parse_duration(active["session-time-left"]) == HOUR - 601 + GRACE_SECONDS


async def test_a_purchase_is_not_held_up_by_a_long_sync_on_the_same_router(
    store, clock, vault, site, worker, sync, emulator
):
    count = 3 * RESTORED_AT_ONCE
    macs = [f"AA:BB:CC:DD:EE:{n:02X}" for n in range(count)]
    for n, mac in enumerate(macs):
        emulator.connect_device(mac, f"10.5.50.{20 + n}")
        await buy(store, clock, vault, site, mac=mac)
    await worker.run_due_tasks()
    emulator.reboot()
    for n, mac in enumerate(macs):
        emulator.connect_device(mac, f"10.5.50.{20 + n}")
    newcomer_mac = "AA:BB:CC:DD:EF:01"
    emulator.connect_device(newcomer_mac, "10.5.51.2")
    before = len(emulator.logins)
    newcomer = await buy(store, clock, vault, site, mac=newcomer_mac)
    report, _ = await asyncio.gather(sync.sync_router(site.router_id), worker.run_due_tasks())
    after_reboot = [login["mac-address"] for login in emulator.logins[before:]]
    assert report.restored == count and (await session(store, newcomer)).state == "active"
    # It went between two batches of repairs, not after all of them.
    assert after_reboot.index(newcomer_mac) <= RESTORED_AT_ONCE


async def test_sync_recreates_a_user_deleted_by_hand_on_the_router(
    store, clock, vault, site, worker, sync, emulator
):
    emulator.connect_device(MAC, IP)
    await buy(store, clock, vault, site)
    await worker.run_due_tasks()
    emulator.console("/ip/hotspot/user/remove", {"numbers": MAC})
    session_row = emulator.console("/ip/hotspot/active/print").rows[0]
    emulator.console("/ip/hotspot/active/remove", {".id": session_row[".id"]})
    assert (await sync.sync_router(site.router_id)).restored == 1
    assert emulator.has_access(MAC) and user_on_router(emulator)["comment"].startswith("portal:s=")


async def test_sync_leaves_a_device_that_is_away_logged_out_but_keeps_its_user(
    store, clock, vault, site, worker, sync, emulator
):
    emulator.connect_device(MAC, IP)
    await buy(store, clock, vault, site)
    await worker.run_due_tasks()
    emulator.reboot()  # the device has not come back yet
    assert (await sync.sync_router(site.router_id)).restored == 0
    assert user_on_router(emulator) is not None and not emulator.has_access(MAC)
    emulator.connect_device(MAC, IP)
    assert (await sync.sync_router(site.router_id)).restored == 1 and emulator.has_access(MAC)


async def test_sync_removes_our_users_the_portal_does_not_know_and_never_touches_foreign_ones(
    store, clock, vault, site, sync, emulator
):
    emulator.connect_device("AA:BB:CC:DD:EE:02", "10.5.50.12")
    emulator.console("/ip/hotspot/user/add", {"name": "guest", "password": "g", "comment": "front desk"})
    emulator.console("/ip/hotspot/user/add", {"name": "AA:BB:CC:DD:EE:02", "password": "x"})
    emulator.console(
        "/ip/hotspot/active/login", {"user": "AA:BB:CC:DD:EE:02", "password": "x", "ip": "10.5.50.12"}
    )
    emulator.console("/ip/hotspot/user/add", {"name": "AA:BB:CC:DD:EE:03", "comment": "portal:s=999;exp=x"})
    report = await sync.sync_router(site.router_id)
    names = [row["name"] for row in emulator.console("/ip/hotspot/user/print").rows]
    assert names == ["guest", "AA:BB:CC:DD:EE:02"] and report.removed == 1
    assert emulator.has_access("AA:BB:CC:DD:EE:02")
    assert (await store.read(routers.get, site.router_id)).last_sync_at == clock.now()


async def test_the_routers_syncs_start_one_after_the_other_spread_over_the_interval(
    store, clock, vault, site, sync, emulator
):
    others = [RouterEmulator(clock) for _ in range(2)]
    for number, other in enumerate(others):
        await other.start()
        await store.write(
            add_router_as_typed, clock, vault, site.tenant_id, router_form(f"bar-{number}", other.port)
        )
    started = clock.now()

    async def synced() -> list:
        return [router.last_sync_at for router in await store.read(routers.every)]

    syncing = asyncio.create_task(sync.sync_all(over=30))
    await eventually(lambda: first_synced(synced, 1))
    assert (await synced())[1:] == [None, None]  # the others wait for their moment
    clock.advance(10)
    await eventually(lambda: first_synced(synced, 2))
    assert (await synced())[2] is None
    clock.advance(10)
    await syncing
    assert await synced() == [started + timedelta(seconds=seconds) for seconds in (0, 10, 20)]
    for other in others:
        await other.stop()


async def first_synced(synced, count: int) -> bool:
    return None not in (await synced())[:count]


async def test_a_sync_that_cannot_reach_the_router_notes_why(store, clock, vault, site, sync, emulator):
    await emulator.down()
    await sync.sync_all()
    router = await store.read(routers.get, site.router_id)
    assert "no RouterOS API answered" in router.last_error and router.last_sync_at is None


async def test_a_sync_before_the_moves_revoke_leaves_the_counting_to_it(
    store, clock, vault, site, worker, sync, emulator
):
    new_mac = "AA:BB:CC:DD:EE:99"
    session_id = await moved_after_using(store, clock, vault, site, worker, emulator, new_mac)
    await sync.sync_router(site.router_id)
    await worker.run_due_tasks()
    assert (await session(store, session_id)).data_used_bytes == 600_000
    assert_data_left(emulator, new_mac, 400_000)


# -- what waited for the router -------------------------------------------------------------------------


async def test_a_sync_sends_what_waited_out_an_outage_at_once(
    store, clock, vault, site, worker, sync, emulator
):
    emulator.connect_device(MAC, IP)
    await emulator.down()
    session_id = await buy(store, clock, vault, site)
    await worker.run_due_tasks()
    await emulator.up()
    await sync.sync_router(site.router_id)
    assert (await tasks(store, session_id))[0]["next_attempt_at"] == to_text(clock.now())
    await worker.run_due_tasks()
    assert (await session(store, session_id)).state == "active"


async def test_a_device_that_left_the_wifi_is_granted_when_it_comes_back(
    store, clock, vault, site, worker, sync, emulator
):
    session_id = await buy(store, clock, vault, site)
    await worker.run_due_tasks()
    [task] = await tasks(store, session_id)
    assert "not connected to the hotspot" in task["last_error"]
    emulator.connect_device(MAC, "10.5.50.77")
    await sync.sync_router(site.router_id)  # a sync finds the router well and makes waiting tasks due
    await worker.run_due_tasks()
    row = await session(store, session_id)
    assert row.state == "active" and row.ip == "10.5.50.77"


async def test_a_device_away_for_long_is_tried_rarely_until_a_sync_sees_it_back(
    store, clock, vault, site, worker, sync, emulator
):
    session_id = await buy(store, clock, vault, site)
    # It has been away for a while.
    await execute(store, "UPDATE router_tasks SET attempts = 10 WHERE access_session_id = ?", (session_id,))
    await worker.run_due_tasks()
    [task] = await tasks(store, session_id)
    backed_off = task["next_attempt_at"]
    assert backed_off == to_text(clock.now() + timedelta(seconds=retry_delay(11, AWAY_RETRY_CAP)))
    assert retry_delay(11, AWAY_RETRY_CAP) == AWAY_RETRY_CAP > RETRY_CAP
    await sync.sync_router(site.router_id)  # the router answers, but the device is still away
    assert (await tasks(store, session_id))[0]["next_attempt_at"] == backed_off
    emulator.connect_device(MAC, IP)
    await sync.sync_router(site.router_id)
    assert (await tasks(store, session_id))[0]["next_attempt_at"] == to_text(clock.now())
    await worker.run_due_tasks()
    assert (await session(store, session_id)).state == "active" and emulator.has_access(MAC)
