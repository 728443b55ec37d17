"""The audit log: who did what to what, when, and from where. Rows are only ever added.

`detail` is a small JSON object of facts about the change (never a secret: for a credential, say
which field changed, not its value).
"""

import json
import sqlite3
from datetime import datetime
from typing import Any

from .clock import Clock, to_text
from .db import Database, Transaction
from .scope import Scope


async def record(
    tx: Transaction,
    clock: Clock,
    *,
    tenant_id: int | None,
    actor: str,
    action: str,
    target: str = "",
    detail: dict[str, Any] | None = None,
    source_ip: str = "",
) -> None:
    await tx.execute(
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


async def sign_in_failures_from(tx: Transaction, source_ip: str, since: datetime) -> int:
    return await tx.fetchval(
        "SELECT count(*) FROM audit_events WHERE action = 'sign_in_failed' AND source_ip = ? AND at >= ?",
        (source_ip, to_text(since)),
    )


async def events(db: Database, scope: Scope, *, limit: int, offset: int) -> tuple[list[sqlite3.Row], int]:
    """A page of events, newest first, and how many there are in all.

    Events of no tenant (a platform admin signing in, a failure for an unknown email) are shown to
    platform admins only."""
    where = "(e.tenant_id IN (SELECT value FROM json_each(?)) OR (? AND e.tenant_id IS NULL))"
    params = (scope.param, scope.platform_wide)
    total = await db.fetchval(f"SELECT count(*) FROM audit_events e WHERE {where}", params)  # noqa: S608
    rows = await db.fetchall(
        "SELECT e.*, t.name AS tenant_name FROM audit_events e"  # noqa: S608
        " LEFT JOIN tenants t ON t.id = e.tenant_id"
        f" WHERE {where} ORDER BY e.at DESC, e.id DESC LIMIT ? OFFSET ?",
        (*params, limit, offset),
    )
    return rows, total
