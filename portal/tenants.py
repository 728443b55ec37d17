"""Tenants (hotspot businesses) and the admin users who run them."""

import re
import sqlite3

from .clock import Clock, to_text
from .db import Transaction
from .passwords import hash_password, password_problem

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ROLES = ("platform", "owner", "staff")


class TenantError(ValueError):
    pass


async def create_tenant(tx: Transaction, clock: Clock, slug: str, name: str, support_phone: str = "") -> int:
    if not SLUG.match(slug):
        raise TenantError(f"tenant slug {slug!r}: use lowercase letters, digits and dashes (up to 40)")
    if not name.strip():
        raise TenantError("a tenant needs a name")
    try:
        cursor = await tx.execute(
            "INSERT INTO tenants (slug, name, support_phone, created_at) VALUES (?, ?, ?, ?)",
            (slug, name.strip(), support_phone.strip(), to_text(clock.now())),
        )
    except sqlite3.IntegrityError:
        raise TenantError(f"a tenant with slug {slug!r} already exists") from None
    return cursor.lastrowid


async def tenant_id_for_slug(tx: Transaction, slug: str) -> int:
    tenant_id = await tx.fetchval("SELECT id FROM tenants WHERE slug = ?", (slug,))
    if tenant_id is None:
        raise TenantError(f"no tenant with slug {slug!r}")
    return tenant_id


async def create_admin(
    tx: Transaction, clock: Clock, *, email: str, password: str, role: str, tenant_id: int | None
) -> int:
    if not EMAIL.match(email):
        raise TenantError(f"{email!r} is not an email address")
    if role not in ROLES:
        raise TenantError(f"role must be one of {', '.join(ROLES)}")
    if (role == "platform") != (tenant_id is None):
        raise TenantError("a platform admin belongs to no tenant; owners and staff belong to one")
    if problem := password_problem(password):
        raise TenantError(problem)
    try:
        cursor = await tx.execute(
            "INSERT INTO admin_users (tenant_id, email, password_hash, role, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (tenant_id, email.strip(), hash_password(password), role, to_text(clock.now())),
        )
    except sqlite3.IntegrityError:
        raise TenantError(f"an admin with email {email!r} already exists") from None
    return cursor.lastrowid
