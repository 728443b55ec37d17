"""The access_sessions table and its rules: paid time for one device on one router.

A session is `pending` from payment until the router confirms the device is online; only then do
`started_at` and `expires_at` get set, so an unreachable router never eats paid time. Buying again while
a session is live adds to it. The portal ends sessions on the wall clock (`expired`); the router's own
limit is only the safety net. A package's data cap is the router's to enforce: the portal only knows
how much the session bought, and how much it used on the devices it has left.

Every change the router must see is queued in the outbox (outbox.py) in the same transaction as the
decision; wake the worker once the transaction has committed.

A session an API client gave (or gave more time to) is its business's to follow through the API, and
the client is told (tenancy/webhooks.py) when it starts (`access.started`, the router confirmed) and
ends (`access.ended`: expired, or ended by hand or through the API), in the transaction that changed it.
"""

import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

import msgspec
from msgspec import Meta

from ..catalog import packages
from ..clock import Clock, from_text, to_text
from ..gateways.base import normalize_mac
from ..store import Connection, Record, columns, marks, replace_each, where_given
from ..tenancy import webhooks
from ..tenancy.scope import Scope
from ..vault import Vault, fingerprint
from . import outbox, routers

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read off a screen, typed on a phone
CODE_LENGTH = 8
# Caps add up; past this (a RouterOS counter is 64 bits, SQLite's sum would turn to a float) no more.
MAX_DATA_CAP = 2**62
LIVE = ("pending", "active")
STATES = ("pending", "active", "expired", "revoked")
LOG_IN_AGAIN_AT_MOST_EVERY = timedelta(minutes=1)


class SessionError(ValueError):
    """`reason` says why, for whoever tells a person: device_has_time, ended, not_a_mac, other_tenant,
    bad_seconds, changed_meanwhile, no_code."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(detail or reason)
        self.reason = reason


class Session(Record, frozen=True):
    id: int
    tenant_id: int
    router_id: int
    package_id: int  # its speed: the dearest package bought into it
    mac: str  # the device it is on now: a code may have moved it
    ip: str | None
    state: str  # pending | active | expired | revoked
    paid_seconds: int
    data_cap_bytes: int | None  # what its purchases bought in all; None: no cap
    data_used_bytes: int  # counted on the devices it has left
    started_at: datetime | None
    expires_at: datetime | None
    ended_at: datetime | None
    created_at: datetime
    api_client_id: int | None  # the API client that gave it, or gave it more time; told of its changes

    @property
    def live(self) -> bool:
        return self.state in LIVE

    def data_left(self) -> int | None:
        """What the device it is on now may still move; None when there is no cap."""
        return None if self.data_cap_bytes is None else max(self.data_cap_bytes - self.data_used_bytes, 0)


COLUMNS = columns(Session)


def get(db: Connection, session_id: int, scope: Scope | None = None) -> Session | None:
    where, params = scope.where("tenant_id") if scope else ("1 = 1", [])
    return db.record(
        Session, f"SELECT {COLUMNS} FROM access_sessions WHERE id = ? AND {where}", (session_id, *params)
    )


def live_on_device(db: Connection, router_id: int, mac: str) -> Session | None:
    return db.record(
        Session,
        f"SELECT {COLUMNS} FROM access_sessions WHERE router_id = ? AND mac = ?"
        " AND state IN ('pending', 'active')",
        (router_id, mac),
    )


def live_on_router(db: Connection, router_id: int) -> list[Session]:
    return db.records(
        Session,
        f"SELECT {COLUMNS} FROM access_sessions WHERE router_id = ? AND state IN ('pending', 'active')",
        (router_id,),
    )


def by_code(db: Connection, code: str) -> Session | None:
    return db.record(
        Session, f"SELECT {COLUMNS} FROM access_sessions WHERE access_code_hash = ?", (fingerprint(code),)
    )


def access_code(db: Connection, vault: Vault, session_id: int) -> str:
    """The code that moves the session's time to another device, as people read it: `K7PM-Q2XR`."""
    code = vault.decrypt(db.value("SELECT access_code_enc FROM access_sessions WHERE id = ?", (session_id,)))
    return f"{code[:4]}-{code[4:]}"


def new_access_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


# -- buying, adding, moving and ending --


def open_session(
    db: Connection,
    clock: Clock,
    vault: Vault,
    *,
    tenant_id: int,
    router_id: int,
    package_id: int,
    mac: str,
    ip: str | None,
    seconds: int,
    api_client_id: int | None = None,
) -> int:
    """Gives a device `seconds` of access on a router, inside the transaction that decided it (a paid
    payment, a used voucher, an API client's call: `api_client_id`). A device with a live session there
    gets the time added to it, and an API client that adds it follows that session from then on.
    Returns the session id."""
    mac = _mac(mac)
    check_seconds(seconds)
    router = routers.get(db, router_id)
    package = packages.get(db, package_id)
    if router is None or package is None or (router.tenant_id, package.tenant_id) != (tenant_id, tenant_id):
        raise SessionError("other_tenant", "the router and the package must both belong to the tenant")
    now = clock.now()
    live = live_on_device(db, router_id, mac)
    if live is None:
        return _insert(db, now, vault, tenant_id, router_id, package, mac, ip, seconds, api_client_id)
    # One session has one speed, for all its time: that of the dearer package, so that a cheap top-up
    # never slows down the week already bought (on a tie the session keeps the package it has).
    kept = packages.get(db, live.package_id)
    dearer = package.id if package.price > kept.price else kept.id
    _add_time(db, now, live, seconds, dearer, ip)
    # The data bought adds to what the session has: left over data is not lost, as left over time is
    # not. A package without a cap lifts the session's cap altogether: the session has one cap for all
    # its time. The router learns it from the extend that `_add_time` queued, or from the grant still
    # on its way.
    cap = None
    if live.data_cap_bytes is not None and package.data_cap_bytes is not None:
        cap = min(live.data_cap_bytes + package.data_cap_bytes, MAX_DATA_CAP)
    db.execute(
        "UPDATE access_sessions SET data_cap_bytes = ?, api_client_id = coalesce(api_client_id, ?)"
        " WHERE id = ?",
        (cap, api_client_id, live.id),
    )
    return live.id


def _insert(
    db: Connection,
    now: datetime,
    vault: Vault,
    tenant_id: int,
    router_id: int,
    package: packages.Package,
    mac: str,
    ip: str | None,
    seconds: int,
    api_client_id: int | None,
) -> int:
    for _ in range(5):
        code = new_access_code()
        # A clash of codes (31^8 of them) is rare, and another draw settles it; a second live session
        # for the device is refused by the table's own unique index, as it should be.
        session_id = db.value(
            "INSERT INTO access_sessions (tenant_id, router_id, package_id, mac, ip, state, paid_seconds,"
            " data_cap_bytes, access_code_hash, access_code_enc, created_at, updated_at, api_client_id)"
            " VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (access_code_hash) DO NOTHING RETURNING id",
            (
                tenant_id,
                router_id,
                package.id,
                mac,
                ip,
                seconds,
                package.data_cap_bytes,
                fingerprint(code),
                vault.encrypt(code),
                to_text(now),
                to_text(now),
                api_client_id,
            ),
        )
        if session_id is not None:
            outbox.queue(db, now, router_id, session_id, "grant")
            return session_id
    raise SessionError("no_code", "could not draw an unused access code")


def extend_session(db: Connection, clock: Clock, session_id: int, seconds: int) -> bool:
    """Adds time to a live session by hand (the owner's goodwill; its data cap stays as it is); False if
    it has ended."""
    check_seconds(seconds)
    live = get(db, session_id)
    if live is None or not live.live:
        return False
    _add_time(db, clock.now(), live, seconds, live.package_id, None)
    return True


def check_seconds(seconds: object) -> None:
    if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds <= 0:
        raise SessionError("bad_seconds", f"paid time is a positive whole number of seconds, not {seconds!r}")


def _mac(text: str) -> str:
    try:
        return normalize_mac(text)
    except ValueError as error:
        raise SessionError("not_a_mac", str(error)) from None


def _add_time(
    db: Connection, now: datetime, live: Session, seconds: int, package_id: int, ip: str | None
) -> None:
    # `package_id` (its speed) applies to the whole session from now on.
    if live.state == "pending":
        changed = db.execute(
            "UPDATE access_sessions SET paid_seconds = paid_seconds + ?, package_id = ?,"
            " ip = coalesce(?, ip), updated_at = ? WHERE id = ? AND state = 'pending'",
            (seconds, package_id, ip, to_text(now), live.id),
        )
    else:
        # An expiry not yet processed must not swallow the new time: count from now at the earliest.
        expires_at = max(live.expires_at, now) + timedelta(seconds=seconds)
        changed = db.execute(
            "UPDATE access_sessions SET paid_seconds = paid_seconds + ?, package_id = ?, expires_at = ?,"
            " ip = coalesce(?, ip), updated_at = ? WHERE id = ? AND state = 'active'",
            (seconds, package_id, to_text(expires_at), ip, to_text(now), live.id),
        )
        outbox.queue(db, now, live.router_id, live.id, "extend")
    if changed != 1:
        raise SessionError("changed_meanwhile", f"session {live.id} changed while being extended")


def log_in_again(
    db: Connection, clock: Clock, session_id: int, *, at_most_every: timedelta = LOG_IN_AGAIN_AT_MOST_EVERY
) -> bool:
    """The device of an active session is back at the splash page, so the router has lost its login (a
    reboot, a roam between access points): an extend logs it in again. One waiting is enough, and one
    a minute: anyone may name the device's MAC on the splash, as often as they like."""
    session = get(db, session_id)
    lately = clock.now() - at_most_every
    if (
        session is None
        or session.state != "active"
        or outbox.has_queued(db, session_id, "extend", or_done_since=lately)
    ):
        return False
    outbox.queue(db, clock.now(), session.router_id, session_id, "extend")
    return True


def ended_lately(db: Connection, clock: Clock, router_id: int, mac: str) -> bool:
    """Did this device's time run out in the last hour? The router sends it back to the splash page,
    which then says why before offering more."""
    return bool(
        db.value(
            "SELECT 1 FROM access_sessions WHERE router_id = ? AND mac = ? AND state = 'expired'"
            " AND ended_at >= ?",
            (router_id, mac, to_text(clock.now() - timedelta(hours=1))),
        )
    )


def move_session(
    db: Connection, clock: Clock, session_id: int, *, router_id: int, mac: str, ip: str | None
) -> None:
    """Carries a live session's remaining time to another device (a new phone, or the same phone with
    a new random MAC), on the same or another router of the tenant. The old device loses its access:
    its revoke names the old MAC, since the session will name the new one by the time it runs. Moving
    onto the device it already has just makes sure that device is logged in."""
    mac = _mac(mac)
    now = clock.now()
    session = get(db, session_id)
    if session is None or not session.live:
        raise SessionError("ended", "that access has ended")
    if (session.router_id, session.mac) == (router_id, mac):
        log_in_again(db, clock, session_id, at_most_every=timedelta(0))  # its own code typed: at once
        return
    router = routers.get(db, router_id)
    if router is None or router.tenant_id != session.tenant_id:
        raise SessionError("other_tenant", "the router belongs to another business")
    if live_on_device(db, router_id, mac) is not None:
        raise SessionError("device_has_time", "this device already has time of its own")
    db.execute(
        "UPDATE access_sessions SET router_id = ?, mac = ?, ip = ?, updated_at = ? WHERE id = ?",
        (router_id, mac, ip, to_text(now), session_id),
    )
    outbox.queue(db, now, session.router_id, session_id, "revoke", mac=session.mac)
    if session.state == "active":
        outbox.queue(db, now, router_id, session_id, "extend")  # logs the new device in
    else:
        # The grant task, when it runs, reads the new device; a grant queued on the old router moves too.
        outbox.move_grant(db, session_id, router_id)


def end_session(db: Connection, clock: Clock, session_id: int) -> bool:
    """Ends a session by hand (`revoked`); the router follows through the outbox. False if it had ended."""
    now = clock.now()
    session = get(db, session_id)
    ended = db.execute(
        "UPDATE access_sessions SET state = 'revoked', ended_at = ?, updated_at = ?"
        " WHERE id = ? AND state IN ('pending', 'active')",
        (to_text(now), to_text(now), session_id),
    )
    if not ended:
        return False
    outbox.queue(db, now, session.router_id, session_id, "revoke")
    _tell(db, clock, session_id, "access.ended")
    return True


# -- the router's confirmations, expiry, data --


def activate(db: Connection, clock: Clock, session: Session, ip: str) -> bool:
    """The router has the device online: the session's paid time starts now. False if it ended meanwhile
    (`session` is as read in this transaction)."""
    now = clock.now()
    expires_at = now + timedelta(seconds=session.paid_seconds)
    activated = db.execute(
        "UPDATE access_sessions SET state = 'active', started_at = ?, expires_at = ?, ip = ?,"
        " updated_at = ? WHERE id = ? AND state = 'pending'",
        (to_text(now), to_text(expires_at), ip, to_text(now), session.id),
    )
    if activated:
        _tell(db, clock, session.id, "access.started")
    return bool(activated)


def charge(db: Connection, session_id: int, used: int) -> None:
    """What a device used counts against the session's data cap."""
    db.execute(
        "UPDATE access_sessions SET data_used_bytes = data_used_bytes + ? WHERE id = ?", (used, session_id)
    )


def expire_due(db: Connection, clock: Clock) -> int:
    """Ends every active session whose paid time is over and queues its revoke; returns how many."""
    now = clock.now()
    due = db.all(
        "SELECT id, router_id FROM access_sessions WHERE state = 'active' AND expires_at <= ?",
        (to_text(now),),
    )
    for row in due:
        if db.execute(
            "UPDATE access_sessions SET state = 'expired', ended_at = ?, updated_at = ?"
            " WHERE id = ? AND state = 'active'",
            (to_text(now), to_text(now), row["id"]),
        ):
            outbox.queue(db, now, row["router_id"], row["id"], "revoke")
            _tell(db, clock, row["id"], "access.ended")
    return len(due)


def next_expiry(db: Connection) -> datetime | None:
    moment = db.value("SELECT min(expires_at) FROM access_sessions WHERE state = 'active'")
    return from_text(moment) if moment else None


@dataclass(frozen=True)
class SessionStatus:
    """What the payer's page and the admin show: online until when, or 'paid, connecting…' and why."""

    state: str
    router_id: int
    mac: str  # the device it is on now: an access code may have moved it
    connecting: bool
    seconds_left: int | None
    expires_at: datetime | None
    attempts: int  # tries at letting the device in so far
    last_error: str | None


def session_status(db: Connection, clock: Clock, session_id: int) -> SessionStatus:
    session = get(db, session_id)
    if session is None:
        raise SessionError("ended", f"no session {session_id}")
    attempts, last_error = outbox.grant_progress(db, session_id)
    seconds_left = None
    if session.state == "active":
        seconds_left = max(0, int((session.expires_at - clock.now()).total_seconds()))
    elif session.state == "pending":
        seconds_left = session.paid_seconds
    return SessionStatus(
        state=session.state,
        router_id=session.router_id,
        mac=session.mac,
        connecting=session.state == "pending",
        seconds_left=seconds_left,
        expires_at=session.expires_at,
        attempts=attempts,
        last_error=last_error if session.state == "pending" else None,
    )


# -- what an API client sees, and is told --


class ApiSession(msgspec.Struct, frozen=True):
    """A session as the API and its webhooks show it."""

    id: int
    state: Annotated[
        str,
        Meta(
            description="pending (waiting for the router: its time has not started), active, expired,"
            " or revoked (ended by hand or through the API)"
        ),
    ]
    router: Annotated[str, Meta(description="the router's name in the business")]
    mac: Annotated[str, Meta(description="the device it is on now")]
    package: Annotated[str, Meta(description="the package whose speed and data cap it has")]
    seconds: Annotated[int, Meta(description="the time it was given, in all")]
    data_cap_bytes: Annotated[int | None, Meta(description="what it may move in all; null: no cap")]
    started_at: Annotated[datetime | None, Meta(description="when the router let the device in")]
    expires_at: Annotated[datetime | None, Meta(description="when its time runs out, once started")]
    ended_at: datetime | None
    created_at: datetime


def api_views(db: Connection, found: list[Session]) -> list[ApiSession]:
    router_names = routers.names(db, {s.router_id for s in found})
    package_names = packages.names(db, {s.package_id for s in found})
    return [
        ApiSession(
            id=s.id,
            state=s.state,
            router=router_names[s.router_id],
            mac=s.mac,
            package=package_names[s.package_id],
            seconds=s.paid_seconds,
            data_cap_bytes=s.data_cap_bytes,
            started_at=s.started_at,
            expires_at=s.expires_at,
            ended_at=s.ended_at,
            created_at=s.created_at,
        )
        for s in found
    ]


def _tell(db: Connection, clock: Clock, session_id: int, event_type: str) -> None:
    """The API client that follows the session is told of its change, in order with its others."""
    session = get(db, session_id)
    if session.api_client_id is not None:
        [view] = api_views(db, [session])
        data = msgspec.to_builtins(view)
        webhooks.queue(db, clock, session.api_client_id, event_type, f"access:{session_id}", data)


def of_api(db: Connection, tenant_id: int, session_id: int) -> Session | None:
    """One of the business's sessions that an API client gave, or gave time to."""
    return db.record(
        Session,
        f"SELECT {COLUMNS} FROM access_sessions WHERE id = ? AND tenant_id = ? AND api_client_id IS NOT NULL",
        (session_id, tenant_id),
    )


def api_page(
    db: Connection,
    tenant_id: int,
    *,
    state: str,
    since: datetime | None,
    router_id: int | None,
    mac: str,
    before_id: int | None,
    limit: int,
) -> list[Session]:
    """The business's sessions of API clients, newest first, from before `before_id` (the cursor) on;
    an empty `state` or `mac` and a None `since` or `router_id` filter nothing."""
    where, params = where_given(
        ("state = ?", state or None),
        ("created_at >= ?", to_text(since) if since else None),
        ("router_id = ?", router_id),
        ("mac = ?", mac or None),
        ("id < ?", before_id),
    )
    return db.records(
        Session,
        f"SELECT {COLUMNS} FROM access_sessions WHERE tenant_id = ? AND api_client_id IS NOT NULL"
        f" AND {where} ORDER BY id DESC LIMIT ?",
        (tenant_id, *params, limit),
    )


# -- what the owner looks at --


def live(db: Connection, scope: Scope) -> list[Session]:
    """Sessions online or waiting for their router, soonest to end first."""
    where, params = scope.where("tenant_id")
    return db.records(
        Session,
        f"SELECT {COLUMNS} FROM access_sessions WHERE {where} AND state IN ('pending', 'active')"
        " ORDER BY expires_at IS NULL, expires_at, id",
        params,
    )


def ended(db: Connection, scope: Scope, since: datetime, limit: int) -> list[Session]:
    where, params = scope.where("tenant_id")
    return db.records(
        Session,
        f"SELECT {COLUMNS} FROM access_sessions WHERE {where} AND state IN ('expired', 'revoked')"
        " AND coalesce(ended_at, updated_at) >= ? ORDER BY coalesce(ended_at, updated_at) DESC LIMIT ?",
        (*params, to_text(since), limit),
    )


def active_count(db: Connection, scope: Scope, now: datetime) -> int:
    where, params = scope.where("tenant_id")
    return db.value(
        f"SELECT count(*) FROM access_sessions WHERE {where} AND state = 'active'"
        " AND (expires_at IS NULL OR expires_at > ?)",
        (*params, to_text(now)),
    )


def active_by_router(db: Connection) -> dict[int, int]:
    rows = db.all(
        "SELECT router_id, count(*) AS active FROM access_sessions WHERE state = 'active' GROUP BY router_id"
    )
    return {row["router_id"]: row["active"] for row in rows}


def pending_ids(db: Connection, scope: Scope) -> list[int]:
    """Sessions paid for and waiting for their router."""
    where, params = scope.where("tenant_id")
    return [
        row["id"]
        for row in db.all(f"SELECT id FROM access_sessions WHERE {where} AND state = 'pending'", params)
    ]


def by_ids(db: Connection, session_ids: Collection[int]) -> dict[int, Session]:
    found = db.records(
        Session,
        f"SELECT {COLUMNS} FROM access_sessions WHERE id IN ({marks(session_ids)})",
        list(session_ids),
    )
    return {session.id: session for session in found}


def rotate_secrets(db: Connection, vault: Vault) -> int:
    """Re-encrypts every stored access code under the vault's newest key (`portal keys rotate`)."""
    return replace_each(db, "access_sessions", ["access_code_enc"], vault.rotate_token)


def counts_on_router(db: Connection, router_id: int) -> tuple[int, int]:
    """(live, all) sessions on the router."""
    return _counts(db, "router_id", router_id)


def counts_of_package(db: Connection, package_id: int) -> tuple[int, int]:
    """(live, all) sessions the package bought."""
    return _counts(db, "package_id", package_id)


def _counts(db: Connection, column: str, row_id: int) -> tuple[int, int]:
    row = db.one(
        "SELECT count(*) FILTER (WHERE state IN ('pending', 'active')) AS live, count(*) AS every"
        f" FROM access_sessions WHERE {column} = ?",
        (row_id,),
    )
    return row["live"], row["every"]
