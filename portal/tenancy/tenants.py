"""The tenants table: the hotspot businesses on this box."""

import re
from collections.abc import Collection

from ..clock import Clock, to_text
from ..store import Conflict, Connection, Record, columns, marks

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


class TenantError(ValueError):
    pass


class Tenant(Record, frozen=True):
    id: int
    slug: str
    name: str  # what customers see
    support_phone: str
    wifi_words: str  # the accounts that mean Wi-Fi when paid by hand, comma-separated (billing/c2b.py)
    staff_goodwill_minutes: int  # what each staff member may give away a day (tenancy/goodwill.py)


def create(db: Connection, clock: Clock, slug: str, name: str, support_phone: str = "") -> int:
    if not SLUG.match(slug):
        raise TenantError(f"tenant slug {slug!r}: use lowercase letters, digits and dashes (up to 40)")
    if not name.strip():
        raise TenantError("a tenant needs a name")
    try:
        return db.value(
            "INSERT INTO tenants (slug, name, support_phone, created_at) VALUES (?, ?, ?, ?) RETURNING id",
            (slug, name.strip(), support_phone.strip(), to_text(clock.now())),
        )
    except Conflict:
        raise TenantError(f"a tenant with slug {slug!r} already exists") from None


def set_wifi_words(db: Connection, tenant_id: int, words: str) -> bool:
    """False if they were these already."""
    return bool(
        db.execute(
            "UPDATE tenants SET wifi_words = ? WHERE id = ? AND wifi_words <> ?", (words, tenant_id, words)
        )
    )


def set_staff_goodwill(db: Connection, tenant_id: int, minutes: int) -> bool:
    """False if it was this already."""
    return bool(
        db.execute(
            "UPDATE tenants SET staff_goodwill_minutes = ? WHERE id = ? AND staff_goodwill_minutes <> ?",
            (minutes, tenant_id, minutes),
        )
    )


def id_for_slug(db: Connection, slug: str) -> int:
    tenant_id = db.value("SELECT id FROM tenants WHERE slug = ?", (slug,))
    if tenant_id is None:
        raise TenantError(f"no tenant with slug {slug!r}")
    return tenant_id


def get(db: Connection, tenant_id: int) -> Tenant | None:
    return db.record(Tenant, f"SELECT {columns(Tenant)} FROM tenants WHERE id = ?", (tenant_id,))


def ids(db: Connection) -> tuple[int, ...]:
    return tuple(row["id"] for row in db.all("SELECT id FROM tenants ORDER BY id"))


def names(db: Connection, tenant_ids: Collection[int] | None = None) -> dict[int, str]:
    """Tenant id → name, of `tenant_ids` or of all of them."""
    if tenant_ids is None:
        rows = db.all("SELECT id, name FROM tenants ORDER BY name")
    else:
        rows = db.all(f"SELECT id, name FROM tenants WHERE id IN ({marks(tenant_ids)})", list(tenant_ids))
    return {row["id"]: row["name"] for row in rows}


def slugs(db: Connection) -> dict[int, str]:
    return {row["id"]: row["slug"] for row in db.all("SELECT id, slug FROM tenants")}
