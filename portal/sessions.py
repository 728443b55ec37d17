"""Access sessions: paid time for one device on one router, and the outbox that carries it to the router.

A session is `pending` from payment until the router confirms the device is online; only then do
`started_at` and `expires_at` get set, so an unreachable router never eats paid time. Buying again while
a session is live adds to it. The portal ends sessions on the wall clock (`expired`); the router's
`limit-uptime` is only the safety net. A package's data cap is the router's to enforce
(`limit-bytes-total`): the portal only knows how much the session bought, and how much it used on the
devices it has left.

Every change the router must see is a row in `router_tasks`, written in the same transaction as the
decision. The worker runs tasks at once and retries them with back-off until the router confirms;
each try is recorded in `router_task_attempts`. Tasks read the session when they run, so a retried
task always does what the session needs *now*. A sync per router repairs whatever drifted (a reboot,
an entry deleted by hand) and never touches entries portal did not create.
"""

import asyncio
import json
import logging
import secrets
import sqlite3
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from .clock import Clock, from_text, to_text
from .db import Database, Transaction
from .gateway.base import Access, DeviceNotConnected, GatewayError, normalize_mac
from .routers import Gateways, package_profiles, profile_for, record_contact, record_contact_in
from .vault import Vault, fingerprint

log = logging.getLogger(__name__)

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read off a screen, typed on a phone
CODE_LENGTH = 8
# Caps add up; past this (a RouterOS counter is 64 bits, SQLite's sum would turn to a float) no more.
MAX_DATA_CAP = 2**62
RETRY_FIRST = 2.0  # seconds before the first retry; doubles each time
RETRY_CAP = 60.0  # a paying customer waits at most this long after the router comes back
# A device that left the Wi-Fi may stay away for days: its grant is tried this rarely, and a sync that
# finds it back on the hotspot makes the grant due at once.
AWAY_RETRY_CAP = 300.0
BACKSTOP = 30.0  # the loops look at the database at least this often, whatever woke them (or not)


class SessionError(ValueError):
    pass


def new_access_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


async def open_session(
    tx: Transaction,
    clock: Clock,
    vault: Vault,
    *,
    tenant_id: int,
    router_id: int,
    package_id: int,
    mac: str,
    ip: str | None,
    seconds: int,
) -> int:
    """Gives a device `seconds` of access on a router, inside the transaction that decided it (a paid
    payment, a used voucher). A device with a live session there gets the time added to it. Returns
    the session id. Call `SessionWorker.wake()` once the transaction has committed (or inside it)."""
    try:
        mac = normalize_mac(mac)
    except ValueError as error:
        raise SessionError(str(error)) from None
    check_seconds(seconds)
    owners = await tx.fetchone(
        "SELECT (SELECT tenant_id FROM routers WHERE id = ?), (SELECT tenant_id FROM packages WHERE id = ?)",
        (router_id, package_id),
    )
    if tuple(owners) != (tenant_id, tenant_id):
        raise SessionError("the router and the package must both belong to the tenant")
    now = clock.now()
    live = await tx.fetchone(
        "SELECT id, router_id, package_id, state, expires_at FROM access_sessions"
        " WHERE router_id = ? AND mac = ? AND state IN ('pending', 'active')",
        (router_id, mac),
    )
    if live is None:
        return await _insert_session(tx, now, vault, tenant_id, router_id, package_id, mac, ip, seconds)
    # One session has one speed, for all its time: that of the dearer package, so that a cheap top-up
    # never slows down the week already bought (on a tie the session keeps the package it has).
    dearer = await tx.fetchval(
        "SELECT CASE WHEN new.price > kept.price THEN new.id ELSE kept.id END"
        " FROM packages new, packages kept WHERE new.id = ? AND kept.id = ?",
        (package_id, live["package_id"]),
    )
    await _add_time(tx, now, live, seconds, dearer, ip)
    # The data bought adds to what the session has: left over data is not lost, as left over time is
    # not. A package without a cap (NULL, which absorbs the sum) lifts the session's cap altogether:
    # the session has one cap for all its time. The router learns it from the extend that `_add_time`
    # queued, or from the grant still on its way.
    await tx.execute(
        "UPDATE access_sessions SET data_cap_bytes = min(data_cap_bytes"
        " + (SELECT data_cap_bytes FROM packages WHERE id = ?), ?) WHERE id = ?",
        (package_id, MAX_DATA_CAP, live["id"]),
    )
    return live["id"]


async def extend_session(tx: Transaction, clock: Clock, session_id: int, seconds: int) -> bool:
    """Adds time to a live session by hand (the owner's goodwill; its data cap stays as it is); False if
    it has ended."""
    check_seconds(seconds)
    live = await tx.fetchone(
        "SELECT id, router_id, package_id, state, expires_at FROM access_sessions"
        " WHERE id = ? AND state IN ('pending', 'active')",
        (session_id,),
    )
    if live is None:
        return False
    await _add_time(tx, clock.now(), live, seconds, live["package_id"], None)
    return True


def check_seconds(seconds: object) -> None:
    if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds <= 0:
        raise SessionError(f"paid time is a positive whole number of seconds, not {seconds!r}")


async def _add_time(
    tx: Transaction, now: datetime, live: sqlite3.Row, seconds: int, package_id: int, ip: str | None
) -> None:
    # `package_id` (its speed) applies to the whole session from now on.
    if live["state"] == "pending":
        cursor = await tx.execute(
            "UPDATE access_sessions SET paid_seconds = paid_seconds + ?, package_id = ?,"
            " ip = coalesce(?, ip), updated_at = ? WHERE id = ? AND state = 'pending'",
            (seconds, package_id, ip, to_text(now), live["id"]),
        )
    else:
        # An expiry not yet processed must not swallow the new time: count from now at the earliest.
        expires_at = max(from_text(live["expires_at"]), now) + timedelta(seconds=seconds)
        cursor = await tx.execute(
            "UPDATE access_sessions SET paid_seconds = paid_seconds + ?, package_id = ?, expires_at = ?,"
            " ip = coalesce(?, ip), updated_at = ? WHERE id = ? AND state = 'active'",
            (seconds, package_id, to_text(expires_at), ip, to_text(now), live["id"]),
        )
        await queue_task(tx, now, live["router_id"], live["id"], "extend")
    if cursor.rowcount != 1:
        raise SessionError(f"session {live['id']} changed while being extended")


async def log_in_again(tx: Transaction, clock: Clock, session_id: int) -> bool:
    """The device of an active session is back at the splash page, so the router has lost its login (a
    reboot, a roam between access points): an extend logs it in again. One waiting is enough."""
    row = await tx.fetchone(
        "SELECT router_id FROM access_sessions s WHERE id = ? AND state = 'active' AND NOT EXISTS"
        " (SELECT 1 FROM router_tasks t WHERE t.access_session_id = s.id AND t.kind = 'extend'"
        " AND t.state = 'queued')",
        (session_id,),
    )
    if row is None:
        return False
    await queue_task(tx, clock.now(), row["router_id"], session_id, "extend")
    return True


async def ended_lately(db: Database, clock: Clock, router_id: int, mac: str) -> bool:
    """Did this device's time run out in the last hour? The router sends it back to the splash page,
    which then says why before offering more."""
    return bool(
        await db.fetchval(
            "SELECT 1 FROM access_sessions WHERE router_id = ? AND mac = ? AND state = 'expired'"
            " AND ended_at >= ?",
            (router_id, mac, to_text(clock.now() - timedelta(hours=1))),
        )
    )


async def move_session(
    tx: Transaction, clock: Clock, session_id: int, *, router_id: int, mac: str, ip: str | None
) -> None:
    """Carries a live session's remaining time to another device (a new phone, or the same phone with
    a new random MAC), on the same or another router of the tenant. The old device loses its access:
    its revoke names the old MAC, since the session will name the new one by the time it runs. Moving
    onto the device it already has just makes sure that device is logged in."""
    try:
        mac = normalize_mac(mac)
    except ValueError as error:
        raise SessionError(str(error)) from None
    now = clock.now()
    row = await tx.fetchone(
        "SELECT id, tenant_id, router_id, mac, state FROM access_sessions"
        " WHERE id = ? AND state IN ('pending', 'active')",
        (session_id,),
    )
    if row is None:
        raise SessionError("that access has ended")
    if (row["router_id"], row["mac"]) == (router_id, mac):
        await log_in_again(tx, clock, session_id)
        return
    if await tx.fetchval("SELECT tenant_id FROM routers WHERE id = ?", (router_id,)) != row["tenant_id"]:
        raise SessionError("the router belongs to another business")
    if await tx.fetchval(
        "SELECT id FROM access_sessions WHERE router_id = ? AND mac = ? AND state IN ('pending', 'active')",
        (router_id, mac),
    ):
        raise SessionError("this device already has time of its own")
    await tx.execute(
        "UPDATE access_sessions SET router_id = ?, mac = ?, ip = ?, updated_at = ? WHERE id = ?",
        (router_id, mac, ip, to_text(now), session_id),
    )
    await queue_task(tx, now, row["router_id"], session_id, "revoke", mac=row["mac"])
    if row["state"] == "active":
        await queue_task(tx, now, router_id, session_id, "extend")  # logs the new device in
    else:
        # The grant task, when it runs, reads the new device; a grant queued on the old router moves too.
        await tx.execute(
            "UPDATE router_tasks SET router_id = ? WHERE access_session_id = ? AND kind = 'grant'"
            " AND state = 'queued'",
            (router_id, session_id),
        )


async def _insert_session(
    tx: Transaction,
    now: datetime,
    vault: Vault,
    tenant_id: int,
    router_id: int,
    package_id: int,
    mac: str,
    ip: str | None,
    seconds: int,
) -> int:
    for _ in range(5):
        code = new_access_code()
        try:
            cursor = await tx.execute(
                "INSERT INTO access_sessions (tenant_id, router_id, package_id, mac, ip, state, paid_seconds,"
                " data_cap_bytes, access_code_hash, access_code_enc, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, 'pending', ?, (SELECT data_cap_bytes FROM packages WHERE id = ?),"
                " ?, ?, ?, ?)",
                (
                    tenant_id,
                    router_id,
                    package_id,
                    mac,
                    ip,
                    seconds,
                    package_id,
                    fingerprint(code),
                    vault.encrypt(code),
                    to_text(now),
                    to_text(now),
                ),
            )
        except sqlite3.IntegrityError as error:
            if "access_code_hash" in str(error):
                continue  # 31^8 codes: a clash is rare, and another draw settles it
            raise
        await queue_task(tx, now, router_id, cursor.lastrowid, "grant")
        return cursor.lastrowid
    raise SessionError("could not draw an unused access code")


async def end_session(tx: Transaction, clock: Clock, session_id: int) -> bool:
    """Ends a session by hand (`revoked`); the router follows through the outbox. False if it had ended."""
    now = clock.now()
    row = await tx.fetchone("SELECT router_id FROM access_sessions WHERE id = ?", (session_id,))
    cursor = await tx.execute(
        "UPDATE access_sessions SET state = 'revoked', ended_at = ?, updated_at = ?"
        " WHERE id = ? AND state IN ('pending', 'active')",
        (to_text(now), to_text(now), session_id),
    )
    if cursor.rowcount != 1:
        return False
    await queue_task(tx, now, row["router_id"], session_id, "revoke")
    return True


async def queue_task(
    tx: Transaction, now: datetime, router_id: int, session_id: int, kind: str, *, mac: str | None = None
) -> int:
    """`mac` pins a revoke to a device the session no longer names (it moved)."""
    cursor = await tx.execute(
        "INSERT INTO router_tasks (router_id, access_session_id, kind, payload, next_attempt_at, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (router_id, session_id, kind, json.dumps({"mac": mac} if mac else {}), to_text(now), to_text(now)),
    )
    return cursor.lastrowid


def retry_delay(attempts: int, cap: float = RETRY_CAP) -> float:
    # The exponent stops where the cap is long reached: a task tried a thousand times (a device that
    # stays away for days) must not overflow a float.
    return min(RETRY_FIRST * 2 ** min(max(attempts - 1, 0), 16), cap)


@dataclass(frozen=True)
class SessionStatus:
    """What the payer's page and the admin show: online until when, or 'paid, connecting…' and why."""

    state: str
    router_id: int
    mac: str  # the device it is on now: an access code may have moved it
    connecting: bool
    seconds_left: int | None
    expires_at: str | None
    attempts: int
    last_error: str | None


async def session_status(db: Database, clock: Clock, session_id: int) -> SessionStatus:
    row = await db.fetchone(
        "SELECT s.state, s.router_id, s.mac, s.expires_at, s.paid_seconds, t.attempts, t.last_error"
        " FROM access_sessions s LEFT JOIN router_tasks t"
        " ON t.access_session_id = s.id AND t.kind = 'grant'"
        " WHERE s.id = ? ORDER BY t.id DESC LIMIT 1",
        (session_id,),
    )
    if row is None:
        raise SessionError(f"no session {session_id}")
    seconds_left = None
    if row["state"] == "active":
        seconds_left = max(0, int((from_text(row["expires_at"]) - clock.now()).total_seconds()))
    elif row["state"] == "pending":
        seconds_left = row["paid_seconds"]
    return SessionStatus(
        state=row["state"],
        router_id=row["router_id"],
        mac=row["mac"],
        connecting=row["state"] == "pending",
        seconds_left=seconds_left,
        expires_at=row["expires_at"],
        attempts=row["attempts"] or 0,
        last_error=row["last_error"] if row["state"] == "pending" else None,
    )


@dataclass(frozen=True)
class SyncReport:
    restored: int  # sessions repaired: the user re-created and the device, if present, logged in again
    removed: int  # our users for sessions that are over, or that portal does not know


SESSION_FOR_ROUTER = """
    SELECT s.id, s.router_id, s.package_id, s.mac, s.ip, s.state, s.paid_seconds, s.expires_at,
           s.data_cap_bytes, s.data_used_bytes, p.rate_limit
    FROM access_sessions s JOIN packages p ON p.id = s.package_id
"""


class SessionWorker:
    """Runs router tasks, expires sessions on time, and syncs routers.

    One runner per router drains its due tasks in order; routers don't wait for each other. A router
    lock keeps a sync and the tasks of the same router from interleaving.
    """

    def __init__(self, db: Database, clock: Clock, gateways: Gateways):
        self.db = db
        self.clock = clock
        self.gateways = gateways
        self._tasks_due = asyncio.Event()
        self._expiry_changed = asyncio.Event()
        self._runners: dict[int, asyncio.Task] = {}
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._loops: list[asyncio.Task] = []

    def wake(self) -> None:
        """A task was queued or a session changed: look now rather than at the next back-off or backstop."""
        self._tasks_due.set()
        self._expiry_changed.set()

    def start(self) -> None:
        self._loops = [
            asyncio.create_task(self._run_tasks_forever(), name="router-tasks"),
            asyncio.create_task(self._expire_forever(), name="session-expiry"),
        ]

    async def stop(self) -> None:
        for task in [*self._loops, *self._runners.values()]:
            task.cancel()
        await asyncio.gather(*self._loops, *self._runners.values(), return_exceptions=True)
        self._loops, self._runners = [], {}

    # -- router tasks --

    async def run_due_tasks(self) -> None:
        """Runs every due task now (one runner per router) and waits for them to finish."""
        await asyncio.gather(*[self._runner(router_id) for router_id in await self._due_routers()])

    async def _due_routers(self) -> list[int]:
        # Read under the write lock: a task queued by a transaction that is still open is then seen.
        async with self.db.transaction() as tx:
            rows = await tx.fetchall(
                "SELECT DISTINCT router_id FROM router_tasks WHERE state = 'queued' AND next_attempt_at <= ?",
                (to_text(self.clock.now()),),
            )
        return [row["router_id"] for row in rows]

    async def _run_tasks_forever(self) -> None:
        while True:
            self._tasks_due.clear()
            try:
                for router_id in await self._due_routers():
                    self._runner(router_id)
                until = await self._next_moment(
                    "SELECT min(next_attempt_at) FROM router_tasks WHERE state = 'queued'"
                )
            except Exception:
                log.exception("router task loop failed; trying again shortly")
                until = self.clock.now() + timedelta(seconds=RETRY_FIRST)
            busy = [runner for runner in self._runners.values() if not runner.done()]
            if busy and until <= self.clock.now():
                # Tasks due now belong to a runner at work: wait for it to finish rather than spin.
                until = self.clock.now() + timedelta(seconds=BACKSTOP)
            await self._wait(self._tasks_due, until, also=busy)

    def _runner(self, router_id: int) -> asyncio.Task:
        runner = self._runners.get(router_id)
        if runner is None or runner.done():
            runner = asyncio.create_task(self._drain(router_id), name=f"router-{router_id}-tasks")
            self._runners[router_id] = runner
        return runner

    async def _drain(self, router_id: int) -> None:
        """Runs the router's due tasks one by one until none is due (an outage postpones them all).
        Revokes go first, whatever else waits: an expired device must be off within moments, not after
        a queue of grants for devices that walked away. Then the oldest first."""
        try:
            while True:
                task = await self.db.fetchone(
                    "SELECT * FROM router_tasks WHERE router_id = ? AND state = 'queued'"
                    " AND next_attempt_at <= ? ORDER BY kind <> 'revoke', id LIMIT 1",
                    (router_id, to_text(self.clock.now())),
                )
                if task is None:
                    return
                router = await self.db.fetchone("SELECT * FROM routers WHERE id = ?", (router_id,))
                async with self._locks[router_id]:
                    try:
                        if not await self._run_task(router, task):
                            return
                    except Exception:
                        # Recording the try failed (a bug): the task still has to move out of the way,
                        # or it would come first again and again and hold up the router.
                        log.exception(
                            "router task bookkeeping failed", extra={"fields": {"task": task["id"]}}
                        )
                        await self._set_aside(task)
        except Exception:
            log.exception("router tasks failed", extra={"fields": {"router_id": router_id}})

    async def _run_task(self, router: sqlite3.Row, task: sqlite3.Row) -> bool:
        """One try at one task; False when the router is out (the rest of its tasks then wait)."""
        session = await self.db.fetchone(f"{SESSION_FOR_ROUTER} WHERE s.id = ?", (task["access_session_id"],))
        try:
            gateway = await self.gateways.get(router)
            if task["kind"] == "grant":
                await self._grant(gateway, task, session)
            elif task["kind"] == "extend":
                await self._extend(gateway, task, session)
            elif task["kind"] == "revoke":
                await self._revoke(gateway, task, session, router["id"])
            elif task["kind"] == "sync_profiles":
                await gateway.sync_profiles(await package_profiles(self.db, router["tenant_id"]))
                await self._finish(task, router["id"])
            else:
                raise GatewayError(f"unknown task kind {task['kind']!r}", outage=False)
        except GatewayError as error:
            await self._retry_later(task, router["id"], error)
            return not error.outage
        except Exception as error:
            # A bug must neither stop the router's other tasks nor have this one retried in a tight loop.
            log.exception("router task failed", extra={"fields": {"task": task["id"]}})
            failure = GatewayError(f"internal error ({type(error).__name__})", outage=False)
            await self._retry_later(task, router["id"], failure)
        return True

    async def _grant(self, gateway, task: sqlite3.Row, session: sqlite3.Row) -> None:
        if session["state"] != "pending":
            await self._finish(task, session["router_id"])  # revoked before it ever got through
            return
        paid = session["paid_seconds"]
        now = self.clock.now()
        confirmed = await gateway.grant(self._access(session, paid, now + timedelta(seconds=paid)))
        now = self.clock.now()
        async with self.db.transaction() as tx:
            current = await tx.fetchone(
                "SELECT router_id, mac, state, paid_seconds, data_cap_bytes FROM access_sessions"
                " WHERE id = ?",
                (session["id"],),
            )
            if (current["router_id"], current["mac"]) != (session["router_id"], session["mac"]):
                # Moved while this grant was on its way: the device just let in is no longer the
                # session's (the move's revoke takes it off again). Paid time starts when the new
                # device is online, through a grant of its own.
                if current["state"] == "pending":
                    await queue_task(tx, now, current["router_id"], session["id"], "grant")
                await self._finish_in(tx, task, session["router_id"], now)
                self._tasks_due.set()
                return
            # Paid time starts now, when the router has the device online.
            cursor = await tx.execute(
                "UPDATE access_sessions SET state = 'active', started_at = ?, expires_at = ?, ip = ?,"
                " updated_at = ? WHERE id = ? AND state = 'pending'",
                (
                    to_text(now),
                    to_text(now + timedelta(seconds=current["paid_seconds"])),
                    confirmed.ip,
                    to_text(now),
                    session["id"],
                ),
            )
            bought_meanwhile = (current["paid_seconds"], current["data_cap_bytes"]) != (
                paid,
                session["data_cap_bytes"],
            )
            if cursor.rowcount == 1 and bought_meanwhile:
                # More was bought while this grant was on its way: the router's caps must grow too.
                await queue_task(tx, now, session["router_id"], session["id"], "extend")
            elif cursor.rowcount == 0:
                # Ended while the grant was in flight: take the access back.
                await queue_task(tx, now, session["router_id"], session["id"], "revoke")
            await self._finish_in(tx, task, session["router_id"], now)
        self._expiry_changed.set()  # a new expires_at, maybe the next one due

    async def _revoke(self, gateway, task: sqlite3.Row, session: sqlite3.Row, router_id: int) -> None:
        payload = json.loads(task["payload"])
        mac = payload.get("mac") or session["mac"]  # a device the session moved away from, or its own
        if "used" not in payload and session["data_cap_bytes"] is not None:
            # Only a cap makes the data used matter (an uncapped session stays so: NULL absorbs what is
            # bought later), so only then is it read: before anything is removed, and kept with the
            # task, as a retry after a lost answer would find nothing left to count.
            payload["used"] = await gateway.usage(mac, session["id"])
            async with self.db.transaction() as tx:
                await tx.execute(
                    "UPDATE router_tasks SET payload = ? WHERE id = ?", (json.dumps(payload), task["id"])
                )
        await gateway.revoke(mac, session["id"])
        now = self.clock.now()
        async with self.db.transaction() as tx:
            await self._charge(tx, now, session["id"], payload.get("used", 0))
            await self._finish_in(tx, task, router_id, now)

    @staticmethod
    async def _charge(tx: Transaction, now: datetime, session_id: int, used: int) -> None:
        """What a device used counts against the session's data cap on the device it has now; if that
        one is online with a cap (it moved there, and got in before this was counted), its router is
        told the smaller cap."""
        await tx.execute(
            "UPDATE access_sessions SET data_used_bytes = data_used_bytes + ? WHERE id = ?",
            (used, session_id),
        )
        online_capped = await tx.fetchval(
            "SELECT router_id FROM access_sessions WHERE id = ? AND state = 'active'"
            " AND data_cap_bytes IS NOT NULL",
            (session_id,),
        )
        if used and online_capped:
            await queue_task(tx, now, online_capped, session_id, "extend")

    async def _extend(self, gateway, task: sqlite3.Row, session: sqlite3.Row) -> None:
        now = self.clock.now()
        if session["state"] == "active" and (expires_at := from_text(session["expires_at"])) > now:
            seconds = int((expires_at - now).total_seconds())
            await gateway.extend(self._access(session, seconds, expires_at))
        await self._finish(task, session["router_id"])

    @staticmethod
    def _access(session: sqlite3.Row, seconds: int, expires_at: datetime) -> Access:
        cap = session["data_cap_bytes"]
        return Access(
            session_id=session["id"],
            mac=session["mac"],
            ip=session["ip"],
            profile=profile_for(session["package_id"], session["rate_limit"]),
            seconds=seconds,
            expires_at=expires_at,
            data_cap_bytes=None if cap is None else max(cap - session["data_used_bytes"], 0),
        )

    async def _finish(self, task: sqlite3.Row, router_id: int) -> None:
        async with self.db.transaction() as tx:
            await self._finish_in(tx, task, router_id, self.clock.now())

    async def _finish_in(self, tx: Transaction, task: sqlite3.Row, router_id: int, now: datetime) -> None:
        await tx.execute(
            "UPDATE router_tasks SET state = 'done', attempts = attempts + 1, done_at = ?, last_error = NULL"
            " WHERE id = ? AND state = 'queued'",
            (to_text(now), task["id"]),
        )
        await tx.execute(
            "INSERT INTO router_task_attempts (task_id, at, ok) VALUES (?, ?, 1)", (task["id"], to_text(now))
        )
        await record_contact_in(tx, self.clock, router_id, None)

    async def _retry_later(self, task: sqlite3.Row, router_id: int, error: GatewayError) -> None:
        now = self.clock.now()
        attempts = task["attempts"] + 1
        away = isinstance(error, DeviceNotConnected)
        retry_at = to_text(
            now + timedelta(seconds=retry_delay(attempts, AWAY_RETRY_CAP if away else RETRY_CAP))
        )
        async with self.db.transaction() as tx:
            await tx.execute(
                "UPDATE router_tasks SET attempts = ?, next_attempt_at = ?, last_error = ?,"
                " held_by_outage = ? WHERE id = ? AND state = 'queued'",
                (attempts, retry_at, str(error), int(error.outage), task["id"]),
            )
            await tx.execute(
                "INSERT INTO router_task_attempts (task_id, at, ok, error) VALUES (?, ?, 0, ?)",
                (task["id"], to_text(now), str(error)),
            )
            if error.outage:
                # The router is out: its other tasks wait as long, instead of each timing out in turn.
                await tx.execute(
                    "UPDATE router_tasks SET next_attempt_at = ?, held_by_outage = 1"
                    " WHERE router_id = ? AND state = 'queued' AND next_attempt_at < ?",
                    (retry_at, router_id, retry_at),
                )
                await record_contact_in(tx, self.clock, router_id, str(error))
        level = logging.INFO if away else logging.WARNING
        log.log(
            level,
            "router task postponed",
            extra={
                "fields": {
                    "task": task["id"],
                    "kind": task["kind"],
                    "attempts": attempts,
                    "error": str(error),
                }
            },
        )

    async def _set_aside(self, task: sqlite3.Row) -> None:
        retry_at = self.clock.now() + timedelta(seconds=RETRY_CAP)
        async with self.db.transaction() as tx:
            await tx.execute(
                "UPDATE router_tasks SET next_attempt_at = ? WHERE id = ? AND state = 'queued'",
                (to_text(retry_at), task["id"]),
            )

    # -- expiry --

    async def expire_due(self) -> int:
        """Ends every active session whose paid time is over and queues its revoke; returns how many."""
        now = self.clock.now()
        async with self.db.transaction() as tx:
            due = await tx.fetchall(
                "SELECT id, router_id FROM access_sessions WHERE state = 'active' AND expires_at <= ?",
                (to_text(now),),
            )
            for session in due:
                cursor = await tx.execute(
                    "UPDATE access_sessions SET state = 'expired', ended_at = ?, updated_at = ?"
                    " WHERE id = ? AND state = 'active'",
                    (to_text(now), to_text(now), session["id"]),
                )
                if cursor.rowcount == 1:
                    await queue_task(tx, now, session["router_id"], session["id"], "revoke")
        if due:
            self._tasks_due.set()
        return len(due)

    async def _expire_forever(self) -> None:
        # Sleeps until the next session is due, not on a sweep interval: a device is off within moments
        # of its time ending. New or extended sessions wake it; the backstop catches clock jumps.
        while True:
            self._expiry_changed.clear()
            try:
                await self.expire_due()
                until = await self._next_moment(
                    "SELECT min(expires_at) FROM access_sessions WHERE state = 'active'"
                )
            except Exception:
                log.exception("session expiry failed; trying again shortly")
                until = self.clock.now() + timedelta(seconds=RETRY_FIRST)
            await self._wait(self._expiry_changed, until)

    # -- sync --

    async def sync_all(self) -> None:
        """Every router, side by side; one that is out is noted and skipped until next time."""
        routers = await self.db.fetchall("SELECT id FROM routers ORDER BY id")
        await asyncio.gather(*(self._sync_noting_errors(row["id"]) for row in routers))

    async def _sync_noting_errors(self, router_id: int) -> None:
        try:
            await self.sync_router(router_id)
        except GatewayError as error:
            await record_contact(self.db, self.clock, router_id, str(error))
            log.warning("router sync failed", extra={"fields": {"router_id": router_id, "error": str(error)}})

    async def sync_router(self, router_id: int) -> SyncReport:
        """Makes the router match the database: our users that it lost are re-created, valid sessions
        whose device is back are logged in again, and our users that no live session explains are
        removed. Entries portal did not create are never touched.

        The router's lock is taken per repair, not for the whole sync, so a purchase or an expiry on the
        same router never waits for a long repair (a reboot with thousands of sessions); each repair
        re-reads its session first, since the snapshot may be out of date by then."""
        router = await self.db.fetchone("SELECT * FROM routers WHERE id = ?", (router_id,))
        gateway = await self.gateways.get(router)
        snapshot = await gateway.snapshot()
        present = {host.mac for host in snapshot.hosts}
        await self._router_answered(router_id, present)
        rows = await self.db.fetchall(
            f"{SESSION_FOR_ROUTER} WHERE s.router_id = ? AND s.state IN ('pending', 'active')", (router_id,)
        )
        known = {(row["id"], row["mac"]) for row in rows}
        with_user = {(user.session_id, user.name) for user in snapshot.users}
        online = {session.mac for session in snapshot.active if session.user == session.mac}
        removed = restored = 0
        for user in snapshot.users:
            if (user.session_id, user.name) in known:
                continue
            async with self._locks[router_id]:
                live = await self._live(user.session_id, router_id, pending_counts=True)
                if live is None or live["mac"] != user.name:  # over, or moved to another device
                    if await self._moved_and_revoke_queued(user.session_id):
                        continue  # the move's own revoke is on the way, and counts the data used
                    used = await gateway.revoke(user.name, user.session_id)
                    removed += 1
                    async with self.db.transaction() as tx:
                        await self._charge(tx, self.clock.now(), user.session_id, used)
        for row in rows:
            if row["state"] == "pending":
                continue  # its grant task is on it
            if (row["id"], row["mac"]) in with_user and (row["mac"] in online or row["mac"] not in present):
                continue  # fine, or the device is away (it is logged in when a sync finds it back)
            async with self._locks[router_id]:
                if await self._restore(gateway, row["id"], router_id):
                    restored += 1
        return SyncReport(restored=restored, removed=removed)

    async def _moved_and_revoke_queued(self, session_id: int) -> bool:
        """A session still live on another device, whose revoke for this one waits: that task owns it."""
        return bool(
            await self.db.fetchval(
                "SELECT 1 FROM router_tasks t JOIN access_sessions s ON s.id = t.access_session_id"
                " WHERE t.access_session_id = ? AND t.kind = 'revoke' AND t.state = 'queued'"
                " AND s.state IN ('pending', 'active')",
                (session_id,),
            )
        )

    async def _live(
        self, session_id: int, router_id: int, pending_counts: bool = False
    ) -> sqlite3.Row | None:
        """The session if it still gives access on this router now (or is about to, if pending counts)."""
        row = await self.db.fetchone(
            f"{SESSION_FOR_ROUTER} WHERE s.id = ? AND s.router_id = ?", (session_id, router_id)
        )
        if row is None or row["state"] not in {"pending", "active"}:
            return None
        if row["state"] == "pending":
            return row if pending_counts else None
        return row if from_text(row["expires_at"]) > self.clock.now() else None

    async def _restore(self, gateway, session_id: int, router_id: int) -> bool:
        session = await self._live(session_id, router_id)
        if session is None:
            return False  # ended since the snapshot, or still waiting for its grant
        expires_at = from_text(session["expires_at"])
        seconds = int((expires_at - self.clock.now()).total_seconds())
        try:
            await gateway.extend(self._access(session, seconds, expires_at))
        except GatewayError as error:
            if error.outage:
                raise
            log.warning(
                "session not restored", extra={"fields": {"session": session_id, "error": str(error)}}
            )
            return False
        return True

    async def _router_answered(self, router_id: int, present: set[str]) -> None:
        now = to_text(self.clock.now())
        async with self.db.transaction() as tx:
            await tx.execute("UPDATE routers SET last_sync_at = ? WHERE id = ?", (now, router_id))
            await record_contact_in(tx, self.clock, router_id, None)
            # The router answers: whatever was waiting out its outage can go now, and so can the grant
            # of a paid device that is back on the hotspot. Other back-offs stand.
            cursor = await tx.execute(
                "UPDATE router_tasks SET next_attempt_at = ?, held_by_outage = 0"
                " WHERE router_id = ? AND state = 'queued' AND next_attempt_at > ? AND (held_by_outage = 1"
                " OR kind = 'grant' AND access_session_id IN (SELECT id FROM access_sessions"
                " WHERE router_id = ? AND state = 'pending' AND mac IN (SELECT value FROM json_each(?))))",
                (now, router_id, now, router_id, json.dumps(sorted(present))),
            )
        if cursor.rowcount:
            self._tasks_due.set()

    # -- waiting --

    async def _next_moment(self, sql: str) -> datetime:
        """The moment `sql` names, or the backstop's if that is sooner (or there is none)."""
        backstop = self.clock.now() + timedelta(seconds=BACKSTOP)
        moment = await self.db.fetchval(sql)
        return backstop if moment is None else min(from_text(moment), backstop)

    async def _wait(self, event: asyncio.Event, until: datetime, also: Sequence[asyncio.Task] = ()) -> None:
        """Until the clock reaches `until`, `event` is set or one of `also` ends, whichever is first. A
        moment, not a duration: time that passes before the sleep begins still counts."""
        waiters = [asyncio.ensure_future(self.clock.sleep_until(until)), asyncio.ensure_future(event.wait())]
        try:
            await asyncio.wait([*waiters, *also], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
