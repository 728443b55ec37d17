"""The router_tasks and router_task_attempts tables: the outbox between the database and the routers.

Every change a router must see is a task, written in the same transaction as the decision (a paid
payment, an expiry, a package edited). The worker (worker.py) runs tasks at once and retries them
with back-off until the router confirms; each try is an attempt row. Tasks name what to do, not how:
a task reads its session when it runs, so a retried task always does what the session needs *now*.

    grant         let a paid session's device in (its paid time starts when the router confirms)
    extend        bring the router up to date with a live session (more time, a move, a new cap)
    revoke        take a device's access away (`payload.mac` pins a device the session moved from)
    update_plans  make the router's per-package settings match the tenant's packages
"""

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..clock import from_text, to_text
from ..store import Connection, marks

KINDS = ("grant", "extend", "revoke", "update_plans")
# The outbox's notes are the worker's, not the books (payments, their events and sessions stay): a busy
# box writes thousands a day, and a device away for a week leaves a failed try every few minutes.
FINISHED_TASKS_KEPT = timedelta(days=90)
FAILED_TRIES_KEPT = timedelta(days=30)
PRUNED_AT_ONCE = 2_000  # rows per transaction: the single writer is never held for long
COLUMNS = "id, router_id, access_session_id, kind, payload, attempts, last_error, created_at"


@dataclass(frozen=True)
class Task:
    id: int
    router_id: int
    access_session_id: int | None
    kind: str
    payload: dict[str, Any]
    attempts: int
    last_error: str | None
    created_at: datetime


@dataclass(frozen=True)
class Attempt:
    at: datetime
    ok: bool
    error: str | None


@dataclass(frozen=True)
class Failing:
    """A router whose tasks keep failing, for the owner's "needs attention"."""

    router_id: int
    count: int
    last_error: str | None


def _task(row) -> Task:
    return Task(**{**row, "payload": json.loads(row["payload"]), "created_at": from_text(row["created_at"])})


def queue(
    db: Connection, now: datetime, router_id: int, session_id: int, kind: str, *, mac: str | None = None
) -> int:
    """`mac` pins a revoke to a device the session no longer names (it moved)."""
    return db.value(
        "INSERT INTO router_tasks (router_id, access_session_id, kind, payload, next_attempt_at, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        (router_id, session_id, kind, json.dumps({"mac": mac} if mac else {}), to_text(now), to_text(now)),
    )


def queue_plans(db: Connection, now: datetime, router_ids: Collection[int]) -> int:
    """Asks each router to bring its plans in line with its tenant's packages, as they are when the
    task runs. Always a new task: one already queued may be running with what it read before."""
    for router_id in router_ids:
        db.execute(
            "INSERT INTO router_tasks (router_id, kind, next_attempt_at, created_at) VALUES (?, ?, ?, ?)",
            (router_id, "update_plans", to_text(now), to_text(now)),
        )
    return len(router_ids)


def due_routers(db: Connection, now: datetime) -> list[int]:
    rows = db.all(
        "SELECT DISTINCT router_id FROM router_tasks WHERE state = 'queued' AND next_attempt_at <= ?",
        (to_text(now),),
    )
    return [row["router_id"] for row in rows]


def next_due(db: Connection) -> datetime | None:
    moment = db.value("SELECT min(next_attempt_at) FROM router_tasks WHERE state = 'queued'")
    return from_text(moment) if moment else None


def due_of_router(db: Connection, router_id: int, now: datetime, limit: int) -> list[Task]:
    """The router's next due tasks, up to `limit`, in the order they should run. Revokes go first,
    whatever else waits: an expired device must be off within moments, not after a queue of grants for
    devices that walked away. Then the oldest first."""
    rows = db.all(
        f"SELECT {COLUMNS} FROM router_tasks WHERE router_id = ? AND state = 'queued'"
        " AND next_attempt_at <= ? ORDER BY kind <> 'revoke', id LIMIT ?",
        (router_id, to_text(now), limit),
    )
    return [_task(row) for row in rows]


def keep_payload(db: Connection, task_id: int, payload: dict[str, Any]) -> None:
    db.execute("UPDATE router_tasks SET payload = ? WHERE id = ?", (json.dumps(payload), task_id))


def finish(db: Connection, now: datetime, task_id: int) -> None:
    db.execute(
        "UPDATE router_tasks SET state = 'done', attempts = attempts + 1, done_at = ?, last_error = NULL"
        " WHERE id = ? AND state = 'queued'",
        (to_text(now), task_id),
    )
    db.execute("INSERT INTO router_task_attempts (task_id, at, ok) VALUES (?, ?, 1)", (task_id, to_text(now)))


def postpone(
    db: Connection, now: datetime, task: Task, retry_at: datetime, error: str, *, outage: bool
) -> None:
    """One failed try, and when to try again. An outage holds the router's other tasks as long, instead of
    each timing out in turn; they go as soon as the router answers again (`release`)."""
    db.execute(
        "UPDATE router_tasks SET attempts = ?, next_attempt_at = ?, last_error = ?, held_by_outage = ?"
        " WHERE id = ? AND state = 'queued'",
        (task.attempts + 1, to_text(retry_at), error, int(outage), task.id),
    )
    db.execute(
        "INSERT INTO router_task_attempts (task_id, at, ok, error) VALUES (?, ?, 0, ?)",
        (task.id, to_text(now), error),
    )
    if outage:
        db.execute(
            "UPDATE router_tasks SET next_attempt_at = ?, held_by_outage = 1"
            " WHERE router_id = ? AND state = 'queued' AND next_attempt_at < ?",
            (to_text(retry_at), task.router_id, to_text(retry_at)),
        )


def set_aside(db: Connection, task_id: int, retry_at: datetime) -> None:
    db.execute(
        "UPDATE router_tasks SET next_attempt_at = ? WHERE id = ? AND state = 'queued'",
        (to_text(retry_at), task_id),
    )


def release(db: Connection, now: datetime, router_id: int, grants_for: Collection[int]) -> int:
    """The router answers: whatever was waiting out its outage can go now, and so can the grants of
    `grants_for` (sessions whose device is back on the hotspot). Other back-offs stand."""
    return db.execute(
        "UPDATE router_tasks SET next_attempt_at = ?, held_by_outage = 0"
        " WHERE router_id = ? AND state = 'queued' AND next_attempt_at > ? AND (held_by_outage = 1"
        f" OR kind = 'grant' AND access_session_id IN ({marks(grants_for)}))",
        (to_text(now), router_id, to_text(now), *grants_for),
    )


def has_queued(db: Connection, session_id: int, kind: str, *, or_done_since: datetime | None = None) -> bool:
    """Whether such a task of the session waits to run (or, with `or_done_since`, ran after then)."""
    return bool(
        db.value(
            "SELECT 1 FROM router_tasks WHERE access_session_id = ? AND kind = ?"
            " AND (state = 'queued' OR done_at > ?)",
            (session_id, kind, to_text(or_done_since) if or_done_since else None),
        )
    )


def move_grant(db: Connection, session_id: int, router_id: int) -> None:
    """A grant still queued follows its session to another router."""
    db.execute(
        "UPDATE router_tasks SET router_id = ? WHERE access_session_id = ? AND kind = 'grant'"
        " AND state = 'queued'",
        (router_id, session_id),
    )


def grant_progress(db: Connection, session_id: int) -> tuple[int, str | None]:
    """(tries, last error) of the session's latest grant: why a paid device is not online yet."""
    row = db.one(
        "SELECT attempts, last_error FROM router_tasks WHERE access_session_id = ? AND kind = 'grant'"
        " ORDER BY id DESC LIMIT 1",
        (session_id,),
    )
    return (row["attempts"], row["last_error"]) if row else (0, None)


def failing(db: Connection, router_ids: Collection[int], min_attempts: int) -> list[Failing]:
    """Routers with queued tasks that failed at least `min_attempts` times (the worker keeps trying)."""
    rows = db.all(
        "SELECT router_id, count(*) AS count, max(last_error) AS last_error FROM router_tasks"
        f" WHERE router_id IN ({marks(router_ids)}) AND state = 'queued' AND attempts >= ?"
        " GROUP BY router_id",
        (*router_ids, min_attempts),
    )
    return [Failing(**row) for row in rows]


def queued_by_router(db: Connection) -> dict[int, int]:
    rows = db.all(
        "SELECT router_id, count(*) AS queued FROM router_tasks WHERE state = 'queued' GROUP BY router_id"
    )
    return {row["router_id"]: row["queued"] for row in rows}


def history(db: Connection, session_id: int) -> list[tuple[Task, list[Attempt]]]:
    """Every task of a session with its tries, oldest first: the router's side of a payment's story."""
    tasks = [
        _task(row)
        for row in db.all(
            f"SELECT {COLUMNS} FROM router_tasks WHERE access_session_id = ? ORDER BY id",
            (session_id,),
        )
    ]
    attempts: dict[int, list[Attempt]] = {task.id: [] for task in tasks}
    for row in db.all(
        f"SELECT task_id, at, ok, error FROM router_task_attempts WHERE task_id IN ({marks(attempts)})"
        " ORDER BY id",
        list(attempts),
    ):
        attempts[row["task_id"]].append(Attempt(from_text(row["at"]), bool(row["ok"]), row["error"]))
    return [(task, attempts[task.id]) for task in tasks]


def prune(db: Connection, now: datetime) -> int:
    """Deletes up to PRUNED_AT_ONCE tasks finished long ago (with their tries) and as many old failed
    tries; returns how many rows went, so the caller goes on while there are more."""
    finished = [
        row[0]
        for row in db.all(
            "SELECT id FROM router_tasks WHERE done_at < ? ORDER BY done_at LIMIT ?",
            (to_text(now - FINISHED_TASKS_KEPT), PRUNED_AT_ONCE),
        )
    ]
    gone = db.execute(f"DELETE FROM router_task_attempts WHERE task_id IN ({marks(finished)})", finished)
    gone += db.execute(f"DELETE FROM router_tasks WHERE id IN ({marks(finished)})", finished)
    return gone + db.execute(
        "DELETE FROM router_task_attempts WHERE id IN"
        " (SELECT id FROM router_task_attempts WHERE at < ? AND ok = 0 ORDER BY at LIMIT ?)",
        (to_text(now - FAILED_TRIES_KEPT), PRUNED_AT_ONCE),
    )


def forget_router(db: Connection, router_id: int) -> None:
    """Drops a router's queued and past tasks (of a router removed before anyone used it: plans only)."""
    db.execute(
        "DELETE FROM router_task_attempts WHERE task_id IN (SELECT id FROM router_tasks WHERE router_id = ?)",
        (router_id,),
    )
    db.execute("DELETE FROM router_tasks WHERE router_id = ?", (router_id,))
