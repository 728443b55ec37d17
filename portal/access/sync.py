"""The sync that repairs drift between a router and the database (a reboot, an entry deleted by hand).

Our grants that the router lost are made again, valid sessions whose device is back are logged in
again, and our grants that no live session explains are removed. Entries portal did not create are
never touched. It runs at start (the routers may have rebooted with the box) and then on an interval
(jobs.py), the routers' syncs spread over it; a router that is out is noted and skipped until next time.

A sync never holds the event loop for long: the router is read off the loop, and the repairs go in
batches (RESTORED_AT_ONCE sessions: one read, one call to the gateway, which pipelines them), each
under the router's lock, so a purchase on the same router waits one batch at most.
"""

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..catalog import packages
from ..clock import Clock
from ..gateways.base import Gateway, GatewayError
from ..store import Connection, Store
from . import outbox, routers, sessions
from .sessions import Session
from .worker import RouterWorker, access_for, charge

log = logging.getLogger(__name__)

# Sessions repaired at once (10,000 devices logged back in after a reboot are 200 batches): big enough
# that a batch costs the router a few round trips for all of them, small enough that the router's
# lock is never held long (a purchase waits for one batch, some milliseconds).
RESTORED_AT_ONCE = 50


@dataclass(frozen=True)
class SyncReport:
    restored: int  # sessions repaired: the grant made again and the device, if present, logged in again
    removed: int  # our grants for sessions that are over, or that portal does not know


class RouterSync:
    def __init__(self, store: Store, clock: Clock, worker: RouterWorker):
        self.store = store
        self.clock = clock
        self.worker = worker  # its gateways, and its lock per router
        self._syncing: set[int] = set()  # routers whose sync is under way

    async def sync_all(self, over: float = 0) -> None:
        """Every router, their syncs started one after the other, evenly over `over` seconds: a
        thousand routers synced at the same moment would hold up everything else the box does."""
        # A disabled router may be mistyped or gone: no use asking it.
        every = [router for router in await self.store.read(routers.every) if router.disabled_at is None]
        started = self.clock.now()
        syncs = []
        for number, router in enumerate(every):
            await self.clock.sleep_until(started + timedelta(seconds=over * number / len(every)))
            syncs.append(asyncio.create_task(self._sync_noting_errors(router.id)))
        await asyncio.gather(*syncs)

    async def _sync_noting_errors(self, router_id: int) -> None:
        if router_id in self._syncing:
            return  # the last round's sync of it is still under way (a slow router): it does the job
        self._syncing.add(router_id)
        try:
            await self.sync_router(router_id)
        except GatewayError as error:
            await self.store.write(routers.record_contact, self.clock, router_id, str(error))
            log.warning("router sync failed", extra={"fields": {"router_id": router_id, "error": str(error)}})
        finally:
            self._syncing.discard(router_id)

    async def sync_router(self, router_id: int) -> SyncReport:
        """Makes the router match the database.

        The router's lock is taken per repair (per batch of them), not for the whole sync, so a purchase
        or an expiry on the same router never waits for a long repair (a reboot with thousands of
        sessions); each repair re-reads its session first, since the snapshot may be out of date by
        then."""
        router = await self.store.read(routers.get, router_id)
        gateway = await self.worker.gateway(router)
        snapshot = await gateway.snapshot()
        live, released = await self.store.write(self._router_answered, router_id, snapshot.present)
        if released:
            self.worker.changed()
        known = {(session.id, session.mac) for session in live}
        granted = {(grant.session_id, grant.mac) for grant in snapshot.grants}
        removed = restored = 0
        lock = self.worker.locks[router_id]
        for grant in snapshot.grants:
            if (grant.session_id, grant.mac) in known:
                continue
            async with lock:
                session = await self._live(grant.session_id, router_id)
                if session is None or session.mac != grant.mac:  # over, or moved to another device
                    if await self.store.read(_moved_and_revoke_queued, grant.session_id):
                        continue  # the move's own revoke is on the way, and counts the data used
                    used = await gateway.revoke(grant.mac, grant.session_id)
                    removed += 1
                    await self.store.write(charge, self.clock.now(), grant.session_id, used)
        drifted = [
            session.id
            for session in live
            if session.state != "pending"  # its grant task is on it
            # Else fine, or the device is away (it is logged in when a sync finds it back).
            and not (
                (session.id, session.mac) in granted
                and (session.mac in snapshot.online or session.mac not in snapshot.present)
            )
        ]
        for start in range(0, len(drifted), RESTORED_AT_ONCE):
            async with lock:
                restored += await self._restore(gateway, drifted[start : start + RESTORED_AT_ONCE], router_id)
        return SyncReport(restored=restored, removed=removed)

    def _router_answered(
        self, db: Connection, router_id: int, present: set[str]
    ) -> tuple[list[Session], int]:
        """The router's live sessions; and, the router having answered, whatever waited out its outage
        can go now, and so can the grant of a paid device that is back on the hotspot."""
        live = sessions.live_on_router(db, router_id)
        back = [session.id for session in live if session.state == "pending" and session.mac in present]
        released = outbox.release(db, self.clock.now(), router_id, back)
        routers.synced(db, self.clock, router_id)
        return live, released

    async def _live(self, session_id: int, router_id: int) -> Session | None:
        """The session if it still gives access on this router now, or is about to (pending)."""
        session = await self.store.read(sessions.get, session_id)
        if session is None or session.router_id != router_id or not session.live:
            return None
        return session if session.state == "pending" or session.expires_at > self.clock.now() else None

    async def _restore(self, gateway: Gateway, session_ids: list[int], router_id: int) -> int:
        """Makes the grants of these sessions again (the devices present logged in again); returns how
        many it repaired."""
        now = self.clock.now()
        restorable = await self.store.read(_restorable, session_ids, router_id, now)
        accesses = [
            access_for(session, package, int((session.expires_at - now).total_seconds()), session.expires_at)
            for session, package in restorable
        ]
        outcomes = await gateway.extend_all(accesses) if accesses else []
        for (session, _), outcome in zip(restorable, outcomes, strict=True):
            if isinstance(outcome, GatewayError):
                if outcome.outage:
                    raise outcome
                log.warning(
                    "session not restored", extra={"fields": {"session": session.id, "error": str(outcome)}}
                )
        return sum(not isinstance(outcome, GatewayError) for outcome in outcomes)


def _restorable(
    db: Connection, session_ids: list[int], router_id: int, now: datetime
) -> list[tuple[Session, packages.Package]]:
    """Those of the sessions that give access on this router now (those that ended since the snapshot,
    or still wait for their grant, are left out), each with its package."""
    found = sessions.by_ids(db, session_ids)
    return [
        (session, packages.get(db, session.package_id))
        for session_id in session_ids
        if (session := found.get(session_id)) is not None
        and session.router_id == router_id
        and session.live
        and session.state != "pending"
        and session.expires_at > now
    ]


def _moved_and_revoke_queued(db: Connection, session_id: int) -> bool:
    """A session still live on another device, whose revoke for this one waits: that task owns it."""
    session = sessions.get(db, session_id)
    return session is not None and session.live and outbox.has_queued(db, session_id, "revoke")
