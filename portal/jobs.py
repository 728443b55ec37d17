"""Every job portal runs in the background, and what drives it.

    job                 what it does                                    driven by
    ──────────────────  ──────────────────────────────────────────────  ────────────────────────────────────
    router tasks        runs the outbox (access/worker.py)              woken when a task is queued or a
                                                                        runner finishes; else the next
                                                                        task's due time, on the clock
    session expiry      ends sessions whose time is up and queues       woken when a session changes; else
                        their revokes (access/sessions.py)              the next expiry, on the clock
    webhooks            posts API clients' events that are due          woken when a payment is settled; else
                        (tenancy/webhooks.py)                           the next try's due time, on the clock
    reconcile payments  STK queries for open payments that are due      every second; acts only on what is due
                        (billing/confirmation.py)                       by the clock; rounds overlap while a
                                                                        slow Daraja answers
    sync routers        repairs drift on every router (access/sync.py)  at start, then every
                                                                        routers.sync_interval seconds, each
                                                                        router at its own moment in it
    register C2B URLs   tells Daraja where payments made by hand go     at start, then every 10 minutes
                        (billing/c2b.py)                                (only with a public URL)
    prune the outbox    deletes the router tasks' old notes              every hour, a batch per transaction
                        (access/outbox.py)
    API usage           writes the API calls counted in memory          every 30 s and at stop (API calls
                        (tenancy/api_usage.py)                          write them too, as they come)

State lives in the database, never in a job: each only reads the database and acts, so a restart loses
nothing and a job that runs late just finds more to do. The event-driven ones wait on the injected
clock (a test moves it; the demo speeds it up), and look at the database at least every BACKSTOP
seconds whatever woke them, which also catches a clock that jumped. The periodic ones run on
APScheduler's intervals in real time; tests pause the scheduler and call the job functions after
moving the clock.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from .access import outbox, sessions
from .access.sync import RouterSync
from .access.worker import RETRY_FIRST, RouterWorker
from .billing import c2b
from .billing.confirmation import Confirmation
from .clock import Clock
from .mpesa.daraja import DarajaClient
from .settings import Settings
from .store import Store
from .tenancy import api_usage
from .tenancy.api_usage import Meter
from .tenancy.webhooks import Sender
from .vault import Vault

log = logging.getLogger(__name__)

BACKSTOP = 30.0  # seconds: an event-driven job looks at the database at least this often
# A payer who approves just after a query looked is confirmed by the next one: sent within this long.
RECONCILE_EVERY = 1.0
# A round lasts as long as its slowest query (bounded by the client's timeouts, mpesa/daraja.py: half a
# minute at worst); the next ones start meanwhile, for the payments not being asked about already.
RECONCILE_ROUNDS_AT_ONCE = 32
C2B_REGISTRATION_EVERY = 600.0
PRUNE_EVERY = 3600.0


class Loop:
    """An event-driven job: `step` runs when woken, or when the moment it returned last comes."""

    def __init__(self, name: str, clock: Clock, step: Callable[[], Awaitable[datetime | None]]):
        self.name = name
        self.clock = clock
        self.step = step
        self._woken = asyncio.Event()
        self._task: asyncio.Task | None = None

    def wake(self) -> None:
        """Something changed: look now rather than at the next due moment or the backstop."""
        self._woken.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._forever(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _forever(self) -> None:
        while True:
            self._woken.clear()
            try:
                until = await self.step()
            except Exception:
                log.exception(f"{self.name} failed; trying again shortly")
                until = self.clock.now() + timedelta(seconds=RETRY_FIRST)
            backstop = self.clock.now() + timedelta(seconds=BACKSTOP)
            await self._wait(backstop if until is None else min(until, backstop))

    async def _wait(self, until: datetime) -> None:
        """Until the clock reaches `until` or someone wakes the loop, whichever is first. A moment, not a
        duration: time that passes before the sleep begins still counts."""
        waiters = [
            asyncio.ensure_future(self.clock.sleep_until(until)),
            asyncio.ensure_future(self._woken.wait()),
        ]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()


class Jobs:
    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        store: Store,
        vault: Vault,
        daraja: DarajaClient,
        worker: RouterWorker,
        sync: RouterSync,
        confirmation: Confirmation,
        sender: Sender,
        usage: Meter,
    ):
        self.settings = settings
        self.clock = clock
        self.store = store
        self.vault = vault
        self.daraja = daraja
        self.sync = sync
        self.confirmation = confirmation
        self.router_tasks = Loop("router-tasks", clock, worker.start_due)
        worker.changed = self.wake  # tasks left behind a runner, a device just online (its expiry)
        self.worker = worker
        self.expiry = Loop("session-expiry", clock, self.expire_due)
        self.sender = sender
        self.webhooks = Loop("webhooks", clock, self.send_webhooks)
        self.usage = usage
        self.scheduler = AsyncIOScheduler(timezone="UTC")

    def wake(self) -> None:
        """A task was queued or a session changed (a payment paid, a code used, the owner's hand, the
        router's confirmation): an API client's session has its webhooks queued."""
        self.router_tasks.wake()
        self.expiry.wake()
        self.webhooks.wake()

    async def expire_due(self) -> datetime | None:
        """Ends the sessions whose time is up; returns when the next one is. Looks before it writes: it
        is woken by every change to a session, and most find nothing due."""
        next_expiry = await self.store.read(sessions.next_expiry)
        if next_expiry is not None and next_expiry <= self.clock.now():
            if await self.store.write(sessions.expire_due, self.clock):
                self.router_tasks.wake()
                self.webhooks.wake()  # an API client's session ended: access.ended
            next_expiry = await self.store.read(sessions.next_expiry)
        return next_expiry

    async def send_webhooks(self) -> datetime | None:
        return await self.sender.send_due()

    async def prune_outbox(self) -> int:
        """Batch after batch, each its own transaction, so callbacks' writes go in between."""
        pruned = 0
        while gone := await self.store.write(outbox.prune, self.clock.now()):
            pruned += gone
        return pruned

    async def write_usage(self) -> None:
        await self.usage.flush(self.store)

    async def register_c2b_urls(self) -> None:
        await c2b.register_due(
            self.store, self.clock, self.vault, self.daraja, self.settings.server.public_url
        )

    def start(self) -> None:
        add = self.scheduler.add_job
        add(
            self.confirmation.reconcile_due,
            "interval",
            seconds=RECONCILE_EVERY,
            max_instances=RECONCILE_ROUNDS_AT_ONCE,
        )
        # Once at start (the routers may have rebooted with the box), then on the interval; each round
        # spreads the routers' syncs over the interval, so the next round may begin while the last
        # router of this one is still at it (a router still being synced is left to that sync).
        every = self.settings.routers.sync_interval
        add(self.sync.sync_all, id="sync-routers-at-start", kwargs={"over": every})
        add(
            self.sync.sync_all,
            "interval",
            seconds=every,
            id="sync-routers",
            kwargs={"over": every},
            max_instances=2,
        )
        # Payments made by hand reach the box only once Daraja has its C2B URLs.
        add(self.register_c2b_urls, id="c2b-at-start")
        add(self.register_c2b_urls, "interval", seconds=C2B_REGISTRATION_EVERY, id="c2b")
        add(self.prune_outbox, "interval", seconds=PRUNE_EVERY, id="prune-outbox")
        add(self.write_usage, "interval", seconds=api_usage.FLUSH_EVERY, id="api-usage")
        self.scheduler.start()
        self.router_tasks.start()
        self.expiry.start()
        self.webhooks.start()

    async def stop(self) -> None:
        self.scheduler.shutdown(wait=False)
        await self.router_tasks.stop()
        await self.expiry.stop()
        await self.webhooks.stop()
        await self.worker.stop()
        await self.write_usage()  # the last calls' counts, before the store closes
