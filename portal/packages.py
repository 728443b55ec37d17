"""Packages: what a tenant sells (price in whole shillings, time, speed)."""

import sqlite3

from .db import Database


def profile_name(package_id: int) -> str:
    """The router's hotspot user profile that carries this package's speed limit."""
    return f"portal-p{package_id}"


async def for_sale(db: Database, tenant_id: int) -> list[sqlite3.Row]:
    return await db.fetchall(
        "SELECT id, name, price, duration_seconds, rate_limit FROM packages"
        " WHERE tenant_id = ? AND hidden = 0 ORDER BY position, price, id",
        (tenant_id,),
    )
