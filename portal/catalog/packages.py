"""The packages table: what a customer can buy (price, time, speed, data cap), in the owner's order.

A package's speed is kept as the owner typed it, upload/download with an optional k, M or G
(`1M/2M`, see gateways/base.py `Speed`). Each package is one plan on every router of its tenant: whoever
changes packages tells the routers in the same transaction (access/plans.py), so they follow.
"""

from collections.abc import Collection
from dataclasses import asdict, dataclass
from datetime import datetime

from ..clock import Clock, to_text
from ..gateways.base import Speed
from ..store import Conflict, Connection, Record, columns, marks
from ..tenancy.scope import Scope

MAX_PRICE = 250_000  # M-Pesa's largest single payment
MAX_DURATION = 366 * 86400


class NameTaken(ValueError):
    """The business sells a package of that name already: customers could not tell the two apart."""

    def __init__(self) -> None:
        super().__init__("You have a package with that name already: choose another, or change that one.")


@dataclass(frozen=True)
class PackageSpec:
    """A package as the owner describes it (checked by whoever read the form)."""

    name: str
    price: int
    duration_seconds: int
    rate_limit: str  # '' = as fast as the line allows
    data_cap_bytes: int | None


class Package(Record, frozen=True):
    id: int
    tenant_id: int
    name: str
    price: int
    duration_seconds: int
    rate_limit: str
    data_cap_bytes: int | None
    position: int
    hidden: bool  # not sold: disabled by the owner (its sessions run on)
    removed_at: datetime | None  # hidden and out of the lists, kept because the books name it

    @property
    def speed(self) -> Speed | None:
        return Speed.parse(self.rate_limit)


COLUMNS = columns(Package)


def get(db: Connection, package_id: int, scope: Scope | None = None) -> Package | None:
    """The package, if there is one (among `scope`'s tenants, when given)."""
    where, params = scope.where("tenant_id") if scope else ("1 = 1", [])
    return db.record(
        Package, f"SELECT {COLUMNS} FROM packages WHERE id = ? AND {where}", (package_id, *params)
    )


def by_name(db: Connection, tenant_id: int, name: str) -> Package | None:
    """The business's package of this name (names are unique within a business), unless removed."""
    return db.record(
        Package,
        f"SELECT {COLUMNS} FROM packages WHERE tenant_id = ? AND name = ? AND removed_at IS NULL",
        (tenant_id, name),
    )


def in_scope(db: Connection, scope: Scope, *, removed_too: bool = False) -> list[Package]:
    """Every package of the admin's tenants (but those removed, unless `removed_too`), in each tenant's
    order."""
    where, params = scope.where("tenant_id")
    listed = "1 = 1" if removed_too else "removed_at IS NULL"
    return db.records(
        Package,
        f"SELECT {COLUMNS} FROM packages WHERE {where} AND {listed} ORDER BY tenant_id, position, id",
        params,
    )


def of_tenant(db: Connection, tenant_id: int) -> list[Package]:
    """Every package of the tenant, hidden ones too (their sessions still run on the routers)."""
    return db.records(
        Package,
        f"SELECT {COLUMNS} FROM packages WHERE tenant_id = ? ORDER BY position, id",
        (tenant_id,),
    )


def for_sale(db: Connection, tenant_id: int) -> list[Package]:
    """What the splash page offers, in the owner's order."""
    return db.records(
        Package,
        f"SELECT {COLUMNS} FROM packages WHERE tenant_id = ? AND hidden = 0 ORDER BY position, price, id",
        (tenant_id,),
    )


def names(db: Connection, package_ids: Collection[int]) -> dict[int, str]:
    rows = db.all(f"SELECT id, name FROM packages WHERE id IN ({marks(package_ids)})", list(package_ids))
    return {row["id"]: row["name"] for row in rows}


def dearest_within(db: Connection, tenant_id: int, amount: int) -> Package | None:
    """The dearest package on sale that `amount` shillings buy; a hidden one only when none on sale is
    within the amount."""
    return db.record(
        Package,
        f"SELECT {COLUMNS} FROM packages WHERE tenant_id = ? AND price <= ? AND removed_at IS NULL"
        " ORDER BY hidden, price DESC, id LIMIT 1",
        (tenant_id, amount),
    )


def cheapest(db: Connection, tenant_id: int) -> Package | None:
    """The cheapest package on sale: what the least money by hand buys."""
    return db.record(
        Package,
        f"SELECT {COLUMNS} FROM packages WHERE tenant_id = ? AND hidden = 0 ORDER BY price, id LIMIT 1",
        (tenant_id,),
    )


def changes(before: Package, spec: PackageSpec) -> dict[str, list]:
    """What an edit changes, as {field: [before, after]}, for the audit log."""
    return {
        key: [getattr(before, key), value]
        for key, value in asdict(spec).items()
        if getattr(before, key) != value
    }


def create(db: Connection, clock: Clock, tenant_id: int, spec: PackageSpec) -> int:
    now = to_text(clock.now())
    position = db.value(
        "SELECT coalesce(max(position), -1) + 1 FROM packages WHERE tenant_id = ?", (tenant_id,)
    )
    try:
        return db.value(
            "INSERT INTO packages (tenant_id, name, price, duration_seconds, rate_limit, data_cap_bytes,"
            " position, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (tenant_id, *asdict(spec).values(), position, now, now),
        )
    except Conflict:
        raise NameTaken() from None


def update(db: Connection, clock: Clock, package_id: int, tenant_id: int, spec: PackageSpec) -> bool:
    try:
        return bool(
            db.execute(
                "UPDATE packages SET name = ?, price = ?, duration_seconds = ?, rate_limit = ?,"
                " data_cap_bytes = ?, updated_at = ? WHERE id = ? AND tenant_id = ?",
                (*asdict(spec).values(), to_text(clock.now()), package_id, tenant_id),
            )
        )
    except Conflict:
        raise NameTaken() from None


def set_hidden(db: Connection, clock: Clock, package_id: int, tenant_id: int, hidden: bool) -> bool:
    """A hidden package is no longer sold; sessions that bought it keep their plan on the routers."""
    return bool(
        db.execute(
            "UPDATE packages SET hidden = ?, updated_at = ? WHERE id = ? AND tenant_id = ? AND hidden = ?",
            (int(hidden), to_text(clock.now()), package_id, tenant_id, int(not hidden)),
        )
    )


def remove(db: Connection, clock: Clock, package_id: int, tenant_id: int, *, keep: bool) -> None:
    """Deletes the package, or with `keep` (the books name it) hides it and takes it off the lists."""
    if keep:
        db.execute(
            "UPDATE packages SET hidden = 1, removed_at = ?, updated_at = ? WHERE id = ? AND tenant_id = ?",
            (to_text(clock.now()), to_text(clock.now()), package_id, tenant_id),
        )
    else:
        db.execute("DELETE FROM packages WHERE id = ? AND tenant_id = ?", (package_id, tenant_id))


def move(db: Connection, clock: Clock, package_id: int, tenant_id: int, step: int) -> bool:
    """Moves a package one place up (step -1) or down (+1) in its tenant's list; False at either end."""
    order = [package.id for package in of_tenant(db, tenant_id) if package.removed_at is None]
    here = order.index(package_id)
    there = here + step
    if not 0 <= there < len(order):
        return False
    order[here], order[there] = order[there], order[here]
    now = to_text(clock.now())
    for position, each in enumerate(order):
        db.execute(
            "UPDATE packages SET position = ?, updated_at = ? WHERE id = ? AND position <> ?",
            (position, now, each, position),
        )
    return True
