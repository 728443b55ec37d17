"""The audit_events table: who did what to what, when, and from where. Rows are only ever added.

`detail` is a small JSON object of facts about the change (never a secret: for a credential, say
which field changed, not its value).
"""

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..clock import Clock, from_text, to_text
from ..store import Connection, marks
from . import tenants
from .scope import Scope


@dataclass(frozen=True)
class AuditEvent:
    at: datetime
    tenant_id: int | None
    tenant_name: str | None
    actor: str
    action: str
    target: str
    detail: str  # JSON text, '{}' when there is nothing more to say
    source_ip: str


def record(
    db: Connection,
    clock: Clock,
    *,
    tenant_id: int | None,
    actor: str,
    action: str,
    target: str = "",
    detail: dict[str, Any] | None = None,
    source_ip: str = "",
) -> None:
    db.execute(
        "INSERT INTO audit_events (tenant_id, at, actor, action, target, detail, source_ip)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            tenant_id,
            to_text(clock.now()),
            actor,
            action,
            target,
            json.dumps(detail or {}, sort_keys=True),
            source_ip,
        ),
    )


def events(db: Connection, scope: Scope, *, limit: int, offset: int) -> tuple[list[AuditEvent], int]:
    """A page of events, newest first, and how many there are in all.

    Events of no tenant (a platform admin signing in, a failure for an unknown email) are shown to
    platform admins only."""
    tenant, params = scope.where("tenant_id")
    where = f"({tenant} OR (? AND tenant_id IS NULL))"
    params = [*params, scope.platform_wide]
    total = db.value(f"SELECT count(*) FROM audit_events WHERE {where}", params)
    rows = db.all(
        "SELECT at, tenant_id, actor, action, target, detail, source_ip FROM audit_events"
        f" WHERE {where} ORDER BY at DESC, id DESC LIMIT ? OFFSET ?",
        (*params, limit, offset),
    )
    names = tenants.names(db, {row["tenant_id"] for row in rows if row["tenant_id"] is not None})
    return [
        AuditEvent(
            at=from_text(row["at"]),
            tenant_id=row["tenant_id"],
            tenant_name=names.get(row["tenant_id"]),
            actor=row["actor"],
            action=row["action"],
            target=row["target"],
            detail=row["detail"],
            source_ip=row["source_ip"],
        )
        for row in rows
    ], total


def done_to(
    db: Connection, targets: Collection[str], actions: Collection[str]
) -> list[tuple[str, str, datetime]]:
    """(target, actor, when) of the `actions` done to these `targets` ('session:12'), oldest first."""
    rows = db.all(
        f"SELECT target, actor, at FROM audit_events WHERE target IN ({marks(targets)})"
        f" AND action IN ({marks(actions)}) ORDER BY at, id",
        (*targets, *actions),
    )
    return [(row["target"], row["actor"], from_text(row["at"])) for row in rows]


# What an admin does to a session that gives it time by hand: access given to a device, time added to
# it. Their detail says how many minutes were given.
GOODWILL_ACTIONS = ("session_granted", "session_extended")


def minutes_given(db: Connection, tenant_id: int, actor: str, since: datetime) -> int:
    """How many minutes of goodwill `actor` gave in the business since `since`."""
    rows = db.all(
        "SELECT detail FROM audit_events WHERE tenant_id = ? AND at >= ? AND actor = ?"
        f" AND action IN ({marks(GOODWILL_ACTIONS)})",
        (tenant_id, to_text(since), actor, *GOODWILL_ACTIONS),
    )
    return sum(json.loads(row["detail"]).get("minutes", 0) for row in rows)
