import sqlite3

import pytest

from portal.db import Database
from portal.migrations import MIGRATIONS, DatabaseTooNew, migrate, pending
from tests.seed import seed_tenant

TABLES = {
    "tenants", "admin_users", "admin_sessions", "api_tokens", "mpesa_accounts", "routers", "packages",
    "access_sessions", "payments", "payment_events", "c2b_payments", "vouchers", "router_tasks",
    "router_task_attempts", "audit_events",
}  # fmt: skip


async def test_migrates_an_empty_database_to_the_latest_schema(tmp_path):
    db = await Database.open(tmp_path / "portal.db")
    try:
        assert await pending(db) == len(MIGRATIONS)
        assert await migrate(db) == list(range(1, len(MIGRATIONS) + 1))
        assert await db.user_version() == len(MIGRATIONS)
        names = {
            row["name"] for row in await db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        assert names >= TABLES
    finally:
        await db.close()


async def test_running_migrations_again_changes_nothing(db):
    before = await db.fetchall("SELECT type, name, sql FROM sqlite_master ORDER BY name")
    assert await migrate(db) == []
    assert await db.fetchall("SELECT type, name, sql FROM sqlite_master ORDER BY name") == before


async def test_database_from_a_newer_portal_is_refused(db):
    async with db.transaction() as tx:
        await tx.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(DatabaseTooNew, match="newer than this portal understands"):
        await migrate(db)


async def test_a_failing_migration_leaves_the_database_as_it_was(tmp_path, monkeypatch):
    monkeypatch.setattr("portal.migrations.MIGRATIONS", [*MIGRATIONS, "CREATE TABLE extra (x);\nNOT SQL;"])
    db = await Database.open(tmp_path / "portal.db")
    try:
        with pytest.raises(sqlite3.OperationalError):
            await migrate(db)
        assert await db.user_version() == len(MIGRATIONS)
        assert await db.fetchval("SELECT count(*) FROM sqlite_master WHERE name = 'extra'") == 0
    finally:
        await db.close()


async def test_sessions_live_at_the_data_cap_upgrade_keep_their_packages_cap(
    tmp_path, monkeypatch, clock, vault
):
    monkeypatch.setattr("portal.migrations.MIGRATIONS", MIGRATIONS[:2])  # before caps reached routers
    db = await Database.open(tmp_path / "portal.db")
    try:
        await migrate(db)
        seeded = await seed_tenant(db, clock, vault, "alpha")
        async with db.transaction() as tx:
            await tx.execute("UPDATE packages SET data_cap_bytes = 1000000")
        monkeypatch.setattr("portal.migrations.MIGRATIONS", MIGRATIONS)
        await migrate(db)
        live = await db.fetchone("SELECT * FROM access_sessions WHERE id = ?", (seeded.session_id,))
        assert live["data_cap_bytes"] == 1_000_000
    finally:
        await db.close()


async def test_schema_refuses_a_second_open_push_for_the_same_phone(db, clock):
    async with db.transaction() as tx:
        await tx.executescript(
            """
            INSERT INTO tenants (id, slug, name, created_at) VALUES (1, 't', 'T', 'now');
            INSERT INTO mpesa_accounts (id, tenant_id, name, shortcode, kind, environment, consumer_key_enc,
                consumer_secret_enc, passkey_enc, created_at, updated_at)
                VALUES (1, 1, 'T', '174379', 'paybill', 'sandbox', 'x', 'x', 'x', 'now', 'now');
            INSERT INTO packages (id, tenant_id, name, price, duration_seconds, created_at, updated_at)
                VALUES (1, 1, 'hour', 10, 3600, 'now', 'now');
            """
        )
    insert = (
        "INSERT INTO payments (tenant_id, ref, callback_token, mpesa_account_id, package_id, phone, amount,"
        " state, created_at, updated_at) VALUES (1, ?, ?, 1, 1, '254712345678', 10, ?, 'now', 'now')"
    )
    async with db.transaction() as tx:
        await tx.execute(insert, ("r1", "t1", "pending"))
        await tx.execute(insert, ("r2", "t2", "failed"))
    with pytest.raises(sqlite3.IntegrityError):
        async with db.transaction() as tx:
            await tx.execute(insert, ("r3", "t3", "created"))
