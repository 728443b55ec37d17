"""The worker that empties the outbox: each router task tried until the router confirms it.

One runner per router drains its due tasks in order; routers don't wait for each other. A failed try
is retried with back-off (doubling from RETRY_FIRST up to RETRY_CAP); a router that is out holds all
its tasks until it answers again. A router's lock keeps its tasks and its sync (sync.py) from
interleaving. Data caps are charged here: what a device used is read before its access is revoked,
kept with the task, and counted against its session once the revoke is done.
"""

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..catalog import packages
from ..clock import Clock
from ..gateways.base import Access, DeviceNotConnected, Gateway, GatewayError, Online
from ..gateways.registry import Gateways
from ..metrics import Metrics
from ..store import Connection, Store
from ..vault import Vault
from . import outbox, plans, routers, sessions
from .outbox import Task
from .sessions import Session

log = logging.getLogger(__name__)

RETRY_FIRST = 2.0  # seconds before the first retry; doubles each time
RETRY_CAP = 60.0  # a paying customer waits at most this long after the router comes back
# A device that left the Wi-Fi may stay away for days: its grant is tried this rarely, and a sync that
# finds it back on the hotspot makes the grant due at once.
AWAY_RETRY_CAP = 300.0
# Grants due on one router go to it together, this many at a time: one read, one call to the gateway
# (which sends them in one round trip) and one write for all. A runner hands its router one batch at a
# time, so no router is ever asked for more than this at once; and each batch is short enough for a
# revoke that falls due meanwhile to go next, moments later.
GRANTS_AT_ONCE = 50


def retry_delay(attempts: int, cap: float = RETRY_CAP) -> float:
    # The exponent stops where the cap is long reached: a task tried a thousand times (a device that
    # stays away for days) must not overflow a float.
    return min(RETRY_FIRST * 2 ** min(max(attempts - 1, 0), 16), cap)


@dataclass(frozen=True)
class Work:
    """One task with what it acts on, read together."""

    task: Task
    router: routers.Router
    session: Session | None
    package: packages.Package | None


def access_for(session: Session, package: packages.Package, seconds: int, until: datetime) -> Access:
    return Access(
        session_id=session.id,
        mac=session.mac,
        ip=session.ip,
        plan=plans.plan_of(package),
        seconds=seconds,
        until=until,
        data_cap_bytes=session.data_left(),
    )


def _work(db: Connection, task: Task) -> Work:
    session = sessions.get(db, task.access_session_id) if task.access_session_id else None
    return Work(
        task,
        routers.get(db, task.router_id),
        session,
        packages.get(db, session.package_id) if session else None,
    )


def _next_works(db: Connection, router_id: int, now: datetime) -> list[Work]:
    """The router's next due task with what it acts on; when that is a grant, the grants due after it
    too, in order, one per device (a device's grants go one after the other)."""
    tasks = outbox.due_of_router(db, router_id, now, GRANTS_AT_ONCE)
    works: list[Work] = []
    devices = set()
    for task in tasks:
        if works and (task.kind != "grant" or works[0].task.kind != "grant"):
            break
        work = _work(db, task)
        device = work.session.mac if work.session else None
        if device in devices:
            break
        devices.add(device)
        works.append(work)
    return works


def internal_error(work: Work, error: Exception) -> GatewayError:
    """A bug must neither stop the router's other tasks nor have this one retried in a tight loop: it
    is logged, and the task backs off like any failed try."""
    log.error("router task failed", exc_info=error, extra={"fields": {"task": work.task.id}})
    return GatewayError(f"internal error ({type(error).__name__})", outage=False)


def charge(db: Connection, now: datetime, session_id: int, used: int) -> None:
    """What a device used counts against its session's data cap; if the session is online elsewhere with
    a cap (it moved there, and got in before this was counted), that router is told the smaller cap."""
    sessions.charge(db, session_id, used)
    session = sessions.get(db, session_id)
    if used and session.state == "active" and session.data_cap_bytes is not None:
        outbox.queue(db, now, session.router_id, session_id, "extend")


class RouterWorker:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        vault: Vault,
        gateways: Gateways,
        metrics: Metrics,
        changed: Callable[[], None] = lambda: None,
    ):
        """`changed` is called when the worker changed what the jobs wait for: a task fell due that no
        runner will pick up by itself (a runner finished with tasks left, a grant that moved), or a
        session went online, so its expiry has a moment of its own: wake the jobs."""
        self.store = store
        self.clock = clock
        self.vault = vault
        self.gateways = gateways
        self.metrics = metrics
        self.changed = changed
        self.locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._runners: dict[int, asyncio.Task] = {}

    async def gateway(self, router: routers.Router) -> Gateway:
        return await routers.gateway(self.gateways, self.vault, router)

    async def start_due(self) -> datetime | None:
        """Starts a runner for every router with tasks due; returns when the next task falls due (None:
        nothing to plan for, the runners at work call `changed` when they finish)."""
        now = self.clock.now()
        due, next_due = await self.store.read(_due_and_next, now)
        for router_id in due:
            self._runner(router_id)
        if next_due is not None and next_due <= now:
            return None  # due now, and a runner at work has it: it says when it is done
        return next_due

    async def run_due_tasks(self) -> None:
        """Runs every due task now (one runner per router) and waits for them to finish."""
        due = await self.store.read(outbox.due_routers, self.clock.now())
        await asyncio.gather(*[self._runner(router_id) for router_id in due])

    async def stop(self) -> None:
        for runner in self._runners.values():
            runner.cancel()
        await asyncio.gather(*self._runners.values(), return_exceptions=True)
        self._runners = {}

    def _runner(self, router_id: int) -> asyncio.Task:
        runner = self._runners.get(router_id)
        if runner is None or runner.done():
            runner = asyncio.create_task(self._drain(router_id), name=f"router-{router_id}-tasks")
            runner.add_done_callback(lambda _: self.changed())
            self._runners[router_id] = runner
        return runner

    async def _drain(self, router_id: int) -> None:
        """Runs the router's due tasks one by one until none is due (an outage postpones them all)."""
        try:
            while True:
                async with self.locks[router_id]:
                    works = await self.store.read(_next_works, router_id, self.clock.now())
                    if not works:
                        return
                    try:
                        answered = await (
                            self._grant(works) if works[0].task.kind == "grant" else self._run(works[0])
                        )
                    except Exception:
                        await self._set_aside(works)
                        answered = True
                    if not answered:
                        return
        except Exception:
            log.exception("router tasks failed", extra={"fields": {"router_id": router_id}})

    async def _set_aside(self, works: list[Work]) -> None:
        """Recording a try failed (a bug): the tasks still have to move out of the way, or they would
        come first again and again and hold up the router."""
        ids = [work.task.id for work in works]
        log.exception("router task bookkeeping failed", extra={"fields": {"tasks": ids}})
        retry_at = self.clock.now() + timedelta(seconds=RETRY_CAP)
        for task_id in ids:
            await self.store.write(outbox.set_aside, task_id, retry_at)

    async def _run(self, work: Work) -> bool:
        """One try at one task (not a grant); False when the router is out (the rest then wait)."""
        try:
            gateway = await self.gateway(work.router)
            if work.task.kind == "extend":
                await self._extend(gateway, work)
            elif work.task.kind == "revoke":
                await self._revoke(gateway, work)
            elif work.task.kind == "update_plans":
                await gateway.apply_plans(await self.store.read(plans.plans_of_tenant, work.router.tenant_id))
                await self._finish(work)
            else:
                raise GatewayError(f"unknown task kind {work.task.kind!r}", outage=False)
        except GatewayError as error:
            await self._retry_later(work, error)
            return not error.outage
        except Exception as error:
            await self._retry_later(work, internal_error(work, error))
        return True

    async def _grant(self, works: list[Work]) -> bool:
        """One try at grants to one router, all sent together; False when the router is out."""
        now = self.clock.now()
        tried: dict[int, Online | GatewayError] = {}  # by task; a task missing here was revoked
        accesses: dict[int, Access] = {}
        for work in works:
            try:
                if work.session.state == "pending":
                    seconds = work.session.paid_seconds
                    until = now + timedelta(seconds=seconds)
                    accesses[work.task.id] = access_for(work.session, work.package, seconds, until)
            except Exception as error:
                tried[work.task.id] = internal_error(work, error)
        outcomes: list[Online | GatewayError]
        try:
            gateway = await self.gateway(works[0].router)
            outcomes = await gateway.grant_all(list(accesses.values())) if accesses else []
        except GatewayError as error:
            outcomes = [error] * len(accesses)
        except Exception as error:
            outcomes = [internal_error(work, error) for work in works if work.task.id in accesses]
        tried |= dict(zip(accesses, outcomes, strict=True))
        now = self.clock.now()
        try:
            await self.store.write(self._grants_tried, works, tried, now)
        except Exception:
            # A bug in one task's bookkeeping must not cost the others theirs: each on its own.
            for work in works:
                try:
                    await self.store.write(self._grants_tried, [work], tried, now)
                except Exception:
                    await self._set_aside([work])
        for work in works:
            if isinstance(failure := tried.get(work.task.id), GatewayError):
                self._noted(work, failure)
        if any(isinstance(outcome, Online) for outcome in tried.values()):
            self.changed()  # online now (or another grant queued for a device a session moved to)
        return not any(isinstance(outcome, GatewayError) and outcome.outage for outcome in tried.values())

    def _grants_tried(
        self, db: Connection, works: list[Work], tried: dict[int, Online | GatewayError], now: datetime
    ) -> None:
        for work in works:
            outcome = tried.get(work.task.id)
            if outcome is None:
                self._finished(db, work, now)  # revoked before it ever got through
            elif isinstance(outcome, GatewayError):
                self._postponed(db, work, now, self._retry_at(work.task, outcome, now), outcome)
            else:
                self._granted(db, work, outcome.ip, now)

    def _granted(self, db: Connection, work: Work, ip: str, now: datetime) -> None:
        """Records the grant the router confirmed."""
        granted, current = work.session, sessions.get(db, work.session.id)
        outbox.finish(db, now, work.task.id)
        routers.record_contact(db, self.clock, work.router.id)
        if (current.router_id, current.mac) != (granted.router_id, granted.mac):
            # Moved while this grant was on its way: the device just let in is no longer the session's
            # (the move's revoke takes it off again). Paid time starts when the new device is online,
            # through a grant of its own.
            if current.state == "pending":
                outbox.queue(db, now, current.router_id, current.id, "grant")
            return
        # Paid time starts now, when the router has the device online.
        if not sessions.activate(db, self.clock, current, ip):
            # Ended while the grant was in flight: take the access back.
            outbox.queue(db, now, granted.router_id, granted.id, "revoke")
        elif (current.paid_seconds, current.data_cap_bytes) != (granted.paid_seconds, granted.data_cap_bytes):
            # More was bought while this grant was on its way: the router's limits must grow too.
            outbox.queue(db, now, granted.router_id, granted.id, "extend")

    async def _extend(self, gateway: Gateway, work: Work) -> None:
        session, now = work.session, self.clock.now()
        if session.state == "active" and session.expires_at > now:
            seconds = int((session.expires_at - now).total_seconds())
            await gateway.extend(access_for(session, work.package, seconds, session.expires_at))
        await self._finish(work)

    async def _revoke(self, gateway: Gateway, work: Work) -> None:
        task, session = work.task, work.session
        payload = dict(task.payload)
        mac = payload.get("mac") or session.mac  # a device the session moved away from, or its own
        if "used" not in payload and session.data_cap_bytes is not None:
            # Only a cap makes the data used matter (an uncapped session stays so), so only then is it
            # read: before anything is removed, and kept with the task, as a retry after a lost answer
            # would find nothing left to count.
            payload["used"] = await gateway.usage(mac, session.id)
            await self.store.write(outbox.keep_payload, task.id, payload)
        await gateway.revoke(mac, session.id)
        await self.store.write(self._revoked, work, payload.get("used", 0), self.clock.now())

    def _revoked(self, db: Connection, work: Work, used: int, now: datetime) -> None:
        charge(db, now, work.session.id, used)
        outbox.finish(db, now, work.task.id)
        routers.record_contact(db, self.clock, work.router.id)

    async def _finish(self, work: Work) -> None:
        await self.store.write(self._finished, work, self.clock.now())

    def _finished(self, db: Connection, work: Work, now: datetime) -> None:
        outbox.finish(db, now, work.task.id)
        routers.record_contact(db, self.clock, work.router.id)

    async def _retry_later(self, work: Work, error: GatewayError) -> None:
        now = self.clock.now()
        await self.store.write(self._postponed, work, now, self._retry_at(work.task, error, now), error)
        self._noted(work, error)

    @staticmethod
    def _retry_at(task: Task, error: GatewayError, now: datetime) -> datetime:
        away = isinstance(error, DeviceNotConnected)
        return now + timedelta(seconds=retry_delay(task.attempts + 1, AWAY_RETRY_CAP if away else RETRY_CAP))

    def _noted(self, work: Work, error: GatewayError) -> None:
        """A failed try in the metrics and the log."""
        task, away = work.task, isinstance(error, DeviceNotConnected)
        self.metrics.router_task_failures.labels(router=work.router.name, kind=task.kind).inc()
        log.log(
            logging.INFO if away else logging.WARNING,
            "router task postponed",
            extra={
                "fields": {
                    "task": task.id,
                    "kind": task.kind,
                    "attempts": task.attempts + 1,
                    "error": str(error),
                }
            },
        )

    def _postponed(
        self, db: Connection, work: Work, now: datetime, retry_at: datetime, error: GatewayError
    ) -> None:
        outbox.postpone(db, now, work.task, retry_at, str(error), outage=error.outage)
        if error.outage:
            routers.record_contact(db, self.clock, work.router.id, str(error))


def _due_and_next(db: Connection, now: datetime) -> tuple[list[int], datetime | None]:
    """The routers with tasks due, and when the next task is: one read, as the loop is woken by every
    payment that becomes paid."""
    return outbox.due_routers(db, now), outbox.next_due(db)
