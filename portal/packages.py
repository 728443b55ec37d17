"""Packages: what a customer can buy (price, time, speed, data cap), in the order the splash page shows.

A package becomes a hotspot user profile on every router of its tenant. Whenever what a profile
carries changes, the same transaction queues a `sync_profiles` router task per router (the router
task worker runs it and retries until the router confirms), so the routers follow the database.
"""

import re
import sqlite3
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from .clock import Clock, to_text
from .db import Database, Transaction
from .numbers import whole
from .scope import Scope

DURATION_UNITS = {"minutes": 60, "hours": 3600, "days": 86400}
CAP_UNITS = {"MB": 1000**2, "GB": 1000**3}
MAX_PRICE = 250_000  # M-Pesa's largest single payment
MAX_DURATION = 366 * 86400
# RouterOS rate-limit, the part people use: upload[/download] with an optional k/M/G, e.g. 1M/2M.
RATE_LIMIT = re.compile(r"^\d{1,6}[kKMG]?(/\d{1,6}[kKMG]?)?$")


@dataclass(frozen=True)
class PackageSpec:
    name: str
    price: int
    duration_seconds: int
    rate_limit: str
    data_cap_bytes: int | None


def read_package(form: Mapping[str, str]) -> tuple[PackageSpec | None, dict[str, str]]:
    """A package from form fields as typed, or what is wrong with each field."""
    errors = {}
    name = " ".join(form.get("name", "").split())
    if not name:
        errors["name"] = "Give the package a name customers understand, like “1 hour”."
    elif len(name) > 40:
        errors["name"] = "Keep the name under 40 characters; it has to fit on a phone."
    price = _whole(form.get("price", ""))
    if price is None or not 1 <= price <= MAX_PRICE:
        errors["price"] = f"The price is a whole number of shillings from 1 to {MAX_PRICE:,}."
    amount, unit = _whole(form.get("duration", "")), form.get("duration_unit", "")
    if amount is None or amount < 1 or unit not in DURATION_UNITS:
        errors["duration"] = "Say how long it lasts: a whole number of minutes, hours or days."
    elif amount * DURATION_UNITS[unit] > MAX_DURATION:
        errors["duration"] = "A package can last at most a year."
    rate_limit = form.get("rate_limit", "").strip()
    if rate_limit and not RATE_LIMIT.match(rate_limit):
        errors["rate_limit"] = (
            "Write the speed as upload/download, like 1M/2M or 512k/1M; leave empty for no limit."
        )
    cap, cap_unit = form.get("data_cap", "").strip(), form.get("data_cap_unit", "")
    cap_amount = _whole(cap)
    if cap and (cap_amount is None or cap_amount < 1 or cap_unit not in CAP_UNITS):
        errors["data_cap"] = "The data cap is a whole number of MB or GB; leave empty for no cap."
    if errors:
        return None, errors
    return (
        PackageSpec(
            name=name,
            price=price,
            duration_seconds=amount * DURATION_UNITS[unit],
            rate_limit=rate_limit,
            data_cap_bytes=cap_amount * CAP_UNITS[cap_unit] if cap else None,
        ),
        {},
    )


def package_fields(row: sqlite3.Row) -> dict[str, str]:
    """A stored package as the form fields that would make it."""
    unit = next(
        unit for unit in ("days", "hours", "minutes") if row["duration_seconds"] % DURATION_UNITS[unit] == 0
    )
    fields = {
        "name": row["name"],
        "price": str(row["price"]),
        "duration": str(row["duration_seconds"] // DURATION_UNITS[unit]),
        "duration_unit": unit,
        "rate_limit": row["rate_limit"],
        "data_cap": "",
        "data_cap_unit": "MB",
    }
    if cap := row["data_cap_bytes"]:
        cap_unit = "GB" if cap % CAP_UNITS["GB"] == 0 else "MB"
        fields.update(data_cap=str(cap // CAP_UNITS[cap_unit]), data_cap_unit=cap_unit)
    return fields


def _whole(text: str) -> int | None:
    return whole(text.replace(",", ""))


def changes(row: sqlite3.Row, spec: PackageSpec) -> dict[str, list]:
    """What an edit changes, as {field: [before, after]}, for the audit log."""
    return {key: [row[key], value] for key, value in asdict(spec).items() if row[key] != value}


async def packages(db: Database, scope: Scope) -> list[sqlite3.Row]:
    return await db.fetchall(
        "SELECT * FROM packages WHERE tenant_id IN (SELECT value FROM json_each(?))"
        " ORDER BY tenant_id, position, id",
        (scope.param,),
    )


async def package(db: Database, scope: Scope, package_id: int) -> sqlite3.Row | None:
    return await db.fetchone(
        "SELECT * FROM packages WHERE id = ? AND tenant_id IN (SELECT value FROM json_each(?))",
        (package_id, scope.param),
    )


async def create_package(tx: Transaction, clock: Clock, tenant_id: int, spec: PackageSpec) -> int:
    now = to_text(clock.now())
    position = await tx.fetchval(
        "SELECT coalesce(max(position), -1) + 1 FROM packages WHERE tenant_id = ?", (tenant_id,)
    )
    cursor = await tx.execute(
        "INSERT INTO packages (tenant_id, name, price, duration_seconds, rate_limit, data_cap_bytes,"
        " position, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (tenant_id, *asdict(spec).values(), position, now, now),
    )
    await queue_profile_sync(tx, clock, tenant_id)
    return cursor.lastrowid


async def update_package(
    tx: Transaction, clock: Clock, package_id: int, tenant_id: int, spec: PackageSpec
) -> bool:
    cursor = await tx.execute(
        "UPDATE packages SET name = ?, price = ?, duration_seconds = ?, rate_limit = ?, data_cap_bytes = ?,"
        " updated_at = ? WHERE id = ? AND tenant_id = ?",
        (*asdict(spec).values(), to_text(clock.now()), package_id, tenant_id),
    )
    if cursor.rowcount != 1:
        return False
    await queue_profile_sync(tx, clock, tenant_id)
    return True


async def set_hidden(tx: Transaction, clock: Clock, package_id: int, tenant_id: int, hidden: bool) -> bool:
    """A hidden package is no longer sold; sessions that bought it keep their profile on the routers."""
    cursor = await tx.execute(
        "UPDATE packages SET hidden = ?, updated_at = ? WHERE id = ? AND tenant_id = ? AND hidden = ?",
        (int(hidden), to_text(clock.now()), package_id, tenant_id, int(not hidden)),
    )
    return cursor.rowcount == 1


async def move_package(tx: Transaction, clock: Clock, package_id: int, tenant_id: int, step: int) -> bool:
    """Moves a package one place up (step -1) or down (+1) in its tenant's list; False at either end."""
    order = [
        row[0]
        for row in await tx.fetchall(
            "SELECT id FROM packages WHERE tenant_id = ? ORDER BY position, id", (tenant_id,)
        )
    ]
    here = order.index(package_id)
    there = here + step
    if not 0 <= there < len(order):
        return False
    order[here], order[there] = order[there], order[here]
    now = to_text(clock.now())
    for position, each in enumerate(order):
        await tx.execute(
            "UPDATE packages SET position = ?, updated_at = ? WHERE id = ? AND position <> ?",
            (position, now, each, position),
        )
    return True


async def queue_profile_sync(
    tx: Transaction, clock: Clock, tenant_id: int, router_id: int | None = None
) -> int:
    """Asks each router of the tenant (or just `router_id`) to bring its hotspot user profiles in line
    with the tenant's packages, as they are when the task runs. Always a new task: one already queued
    may be running with what it read before this change. Returns how many tasks were queued."""
    now = to_text(clock.now())
    cursor = await tx.execute(
        "INSERT INTO router_tasks (router_id, kind, next_attempt_at, created_at)"
        " SELECT id, 'sync_profiles', ?, ? FROM routers WHERE tenant_id = ? AND (? IS NULL OR id = ?)",
        (now, now, tenant_id, router_id, router_id),
    )
    return cursor.rowcount


def profile_name(package_id: int) -> str:
    """The router's hotspot user profile that carries this package's speed limit."""
    return f"portal-p{package_id}"


async def for_sale(db: Database, tenant_id: int) -> list[sqlite3.Row]:
    """What the splash page offers, in the owner's order."""
    return await db.fetchall(
        "SELECT id, name, price, duration_seconds, rate_limit, data_cap_bytes FROM packages"
        " WHERE tenant_id = ? AND hidden = 0 ORDER BY position, price, id",
        (tenant_id,),
    )
