"""The sync that repairs drift between a router and the database (a reboot, an entry deleted by hand).

Our grants that the router lost are made again, valid sessions whose device is back are logged in
again, and our grants that no live session explains are removed. Entries portal did not create are
never touched. It runs at start (the routers may have rebooted with the box) and then on an interval
(jobs.py); a router that is out is noted and skipped until next time.
"""

import asyncio
import logging
from dataclasses import dataclass

from ..catalog import packages
from ..clock import Clock
from ..gateways.base import Gateway, GatewayError
from ..store import Connection, Store
from . import outbox, routers, sessions
from .sessions import Session
from .worker import RouterWorker, access_for, charge

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyncReport:
    restored: int  # sessions repaired: the grant made again and the device, if present, logged in again
    removed: int  # our grants for sessions that are over, or that portal does not know


class RouterSync:
    def __init__(self, store: Store, clock: Clock, worker: RouterWorker):
        self.store = store
        self.clock = clock
        self.worker = worker  # its gateways, and its lock per router

    async def sync_all(self) -> None:
        """Every router in use, side by side (a disabled one may be mistyped or gone: no use asking)."""
        for_routers = await self.store.read(routers.every)
        in_use = [router for router in for_routers if router.disabled_at is None]
        await asyncio.gather(*(self._sync_noting_errors(router.id) for router in in_use))

    async def _sync_noting_errors(self, router_id: int) -> None:
        try:
            await self.sync_router(router_id)
        except GatewayError as error:
            await self.store.write(routers.record_contact, self.clock, router_id, str(error))
            log.warning("router sync failed", extra={"fields": {"router_id": router_id, "error": str(error)}})

    async def sync_router(self, router_id: int) -> SyncReport:
        """Makes the router match the database.

        The router's lock is taken per repair, not for the whole sync, so a purchase or an expiry on the
        same router never waits for a long repair (a reboot with thousands of sessions); each repair
        re-reads its session first, since the snapshot may be out of date by then."""
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
                session = await self._live(grant.session_id, router_id, pending_counts=True)
                if session is None or session.mac != grant.mac:  # over, or moved to another device
                    if await self.store.read(_moved_and_revoke_queued, grant.session_id):
                        continue  # the move's own revoke is on the way, and counts the data used
                    used = await gateway.revoke(grant.mac, grant.session_id)
                    removed += 1
                    await self.store.write(charge, self.clock.now(), grant.session_id, used)
        for session in live:
            if session.state == "pending":
                continue  # its grant task is on it
            fine = session.mac in snapshot.online or session.mac not in snapshot.present
            if (session.id, session.mac) in granted and fine:
                continue  # fine, or the device is away (it is logged in when a sync finds it back)
            async with lock:
                if await self._restore(gateway, session.id, router_id):
                    restored += 1
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

    async def _live(self, session_id: int, router_id: int, pending_counts: bool = False) -> Session | None:
        """The session if it still gives access on this router now (or is about to, if pending counts)."""
        session = await self.store.read(sessions.get, session_id)
        if session is None or session.router_id != router_id or not session.live:
            return None
        if session.state == "pending":
            return session if pending_counts else None
        return session if session.expires_at > self.clock.now() else None

    async def _restore(self, gateway: Gateway, session_id: int, router_id: int) -> bool:
        session = await self._live(session_id, router_id)
        if session is None:
            return False  # ended since the snapshot, or still waiting for its grant
        package = await self.store.read(_package_of, session)
        seconds = int((session.expires_at - self.clock.now()).total_seconds())
        try:
            await gateway.extend(access_for(session, package, seconds, session.expires_at))
        except GatewayError as error:
            if error.outage:
                raise
            log.warning(
                "session not restored", extra={"fields": {"session": session_id, "error": str(error)}}
            )
            return False
        return True


def _moved_and_revoke_queued(db: Connection, session_id: int) -> bool:
    """A session still live on another device, whose revoke for this one waits: that task owns it."""
    session = sessions.get(db, session_id)
    return session is not None and session.live and outbox.has_queued(db, session_id, "revoke")


def _package_of(db: Connection, session: Session) -> packages.Package:
    return packages.get(db, session.package_id)
