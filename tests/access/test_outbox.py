"""The outbox's own records: what is pruned, when, and what never is."""

from portal.access import outbox
from portal.jobs import Jobs
from tests.access.conftest import IP, MAC, attempts, buy, tasks
from tests.conftest import value

AWAY_MAC = "AA:BB:CC:DD:EE:02"  # paid, then left the Wi-Fi: its grant fails every try


async def test_old_tries_and_long_finished_tasks_are_pruned_and_the_sessions_stay(
    settings, store, clock, vault, emulator, worker, sync, site, monkeypatch
):
    # No loop runs tasks meanwhile.
    jobs = Jobs(settings, clock, store, vault, None, worker, sync, None, None, None)
    monkeypatch.setattr(outbox, "PRUNED_AT_ONCE", 1)  # one row a batch: the job goes on till done
    emulator.connect_device(MAC, IP)
    online = await buy(store, clock, vault, site)
    away = await buy(store, clock, vault, site, mac=AWAY_MAC, ip="10.5.50.12")
    for _ in range(3):
        await worker.run_due_tasks()
        clock.advance(minutes=10)
    [granted] = await tasks(store, online)
    [waiting] = await tasks(store, away)
    assert await attempts(store, granted["id"]) == [True]
    assert await attempts(store, waiting["id"]) == [False, False, False]

    clock.advance(days=29)
    assert await jobs.prune_outbox() == 0  # a month of tries is kept for the owner to read
    clock.advance(days=2)
    assert await jobs.prune_outbox() == 3
    assert await attempts(store, waiting["id"]) == []  # the failed tries went...
    assert [task["state"] for task in await tasks(store, away)] == ["queued"]  # ...the task still runs
    assert await attempts(store, granted["id"]) == [True]

    clock.advance(days=60)
    assert (
        await jobs.prune_outbox() == 4
    )  # the grant and the router's set-up, finished 90 days ago, and their tries
    assert await tasks(store, online) == []
    assert await value(store, "SELECT count(*) FROM access_sessions") == 2  # the books stay whole
