from datetime import timedelta

import pytest

from portal.billing import earnings, payments
from portal.clock import to_text
from portal.store import Conflict, StoreError
from portal.store.migrations.sqlite import MIGRATIONS
from portal.store.sqlite import SQLiteStore
from portal.tenancy import api_clients
from portal.tenancy.scope import of_tenant
from portal.vault import fingerprint
from tests.conftest import execute, rows, value
from tests.seed import Seeded, insert, insert_account, insert_payment, seed_tenant

TABLES = {
    "tenants", "admin_users", "admin_sessions", "mpesa_accounts", "routers", "packages",
    "access_sessions", "payments", "payment_events", "c2b_payments", "vouchers", "router_tasks",
    "router_task_attempts", "audit_events", "receipt_checks", "c2b_spends", "sign_in_slowdowns",
    "api_clients", "webhook_endpoints", "webhook_messages", "webhook_attempts", "api_usage",
    "prompt_earnings",
}  # fmt: skip


async def table_names(store) -> set[str]:
    found = await rows(
        store, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    )
    return {row["name"] for row in found}


async def test_migrates_an_empty_database_to_the_latest_schema(tmp_path):
    store = await SQLiteStore.open(tmp_path / "portal.db")
    try:
        assert store.latest_version == len(MIGRATIONS)
        assert await store.schema_version() == 0
        assert await store.migrate() == list(range(1, len(MIGRATIONS) + 1))
        assert await store.schema_version() == len(MIGRATIONS)
        assert await table_names(store) == TABLES
    finally:
        await store.close()


async def test_running_migrations_again_changes_nothing(store):
    schema = "SELECT type, name, sql FROM sqlite_master ORDER BY name"
    before = [tuple(row) for row in await rows(store, schema)]
    assert await store.migrate() == []
    assert [tuple(row) for row in await rows(store, schema)] == before


async def test_database_from_a_newer_portal_is_refused(store):
    await execute(store, f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(StoreError, match="newer than this portal understands"):
        await store.migrate()
    assert await store.schema_version() == len(MIGRATIONS) + 1


async def test_a_failing_migration_leaves_the_database_as_it_was(tmp_path, monkeypatch):
    monkeypatch.setattr("portal.store.sqlite.MIGRATIONS", [*MIGRATIONS, "CREATE TABLE extra (x);\nNOT SQL;"])
    store = await SQLiteStore.open(tmp_path / "portal.db")
    try:
        with pytest.raises(StoreError, match="syntax error"):
            await store.migrate()
        assert await store.schema_version() == len(MIGRATIONS)  # those before it are kept
        assert await value(store, "SELECT count(*) FROM sqlite_master WHERE name = 'extra'") == 0
    finally:
        await store.close()


async def older_portal(tmp_path, monkeypatch, version: int, make) -> tuple[SQLiteStore, Seeded]:
    """The database of a portal that had only the first `version` migrations, with what `make` wrote
    into it; returns it opened by this portal, not yet migrated, and what `make` returned."""
    with monkeypatch.context() as older:
        older.setattr("portal.store.sqlite.MIGRATIONS", MIGRATIONS[:version])
        store = await SQLiteStore.open(tmp_path / "portal.db")
        try:
            await store.migrate()
            made = await make(store)
        finally:
            await store.close()
    return await SQLiteStore.open(tmp_path / "portal.db"), made


async def test_sessions_live_at_the_data_cap_upgrade_keep_their_packages_cap(
    tmp_path, monkeypatch, clock, vault
):
    async def make(store) -> Seeded:  # before caps reached routers
        seeded = await seed_tenant(store, clock, vault, "alpha")
        await execute(store, "UPDATE packages SET data_cap_bytes = 1000000")
        return seeded

    store, seeded = await older_portal(tmp_path, monkeypatch, 2, make)
    try:
        assert await store.migrate() == list(range(3, len(MIGRATIONS) + 1))
        cap = "SELECT data_cap_bytes FROM access_sessions WHERE id = ?"
        assert await value(store, cap, (seeded.session_id,)) == 1_000_000
    finally:
        await store.close()


async def test_the_gateway_upgrade_keeps_routers_and_their_queued_plans(tmp_path, monkeypatch, clock, vault):
    async def make(store) -> Seeded:
        seeded = await seed_tenant(store, clock, vault, "alpha")
        await execute(
            store,
            "INSERT INTO router_tasks (router_id, kind, next_attempt_at, created_at)"
            " VALUES (?, 'sync_profiles', 'now', 'now')",
            (seeded.router_id,),
        )
        assert "api_tokens" in await table_names(store)
        return seeded

    store, seeded = await older_portal(tmp_path, monkeypatch, 5, make)
    try:
        assert await store.migrate() == list(range(6, len(MIGRATIONS) + 1))
        assert await table_names(store) == TABLES  # api_tokens is gone
        assert await value(store, "SELECT kind FROM routers WHERE id = ?", (seeded.router_id,)) == "routeros"
        assert await value(store, "SELECT kind FROM router_tasks") == "update_plans"
    finally:
        await store.close()


async def test_schema_refuses_a_second_open_push_for_the_same_phone(store):
    def shop(db) -> None:
        db.execute("INSERT INTO tenants (id, slug, name, created_at) VALUES (1, 't', 'T', 'now')")
        db.execute(
            "INSERT INTO mpesa_accounts (id, tenant_id, name, shortcode, kind, environment, consumer_key_enc,"
            " consumer_secret_enc, passkey_enc, created_at, updated_at)"
            " VALUES (1, 1, 'T', '174379', 'paybill', 'sandbox', 'x', 'x', 'x', 'now', 'now')"
        )
        db.execute(
            "INSERT INTO packages (id, tenant_id, name, price, duration_seconds, created_at, updated_at)"
            " VALUES (1, 1, 'hour', 10, 3600, 'now', 'now')"
        )

    await store.write(shop)
    insert = (
        "INSERT INTO payments (tenant_id, ref, callback_token, mpesa_account_id, package_id, phone, amount,"
        " state, created_at, updated_at) VALUES (1, ?, ?, 1, 1, '254712345678', 10, ?, 'now', 'now')"
    )
    await execute(store, insert, ("r1", "t1", "pending"))
    await execute(store, insert, ("r2", "t2", "failed"))
    with pytest.raises(Conflict):
        await execute(store, insert, ("r3", "t3", "created"))
    assert await value(store, "SELECT count(*) FROM payments") == 2


async def test_the_money_upgrade_keeps_payments_and_counts_only_wifi_money_paid_by_hand(
    tmp_path, monkeypatch, clock, vault
):
    async def make(store) -> Seeded:
        seeded = await seed_tenant(store, clock, vault, "alpha")
        for receipt, bill_ref, claimed in (
            ("RWIFI1", " wi fi ", None),
            ("RRENT1", "RENT-APT4", None),
            ("ROLD1", "x", "now"),
        ):
            await execute(
                store,
                "INSERT INTO c2b_payments (tenant_id, mpesa_account_id, receipt, amount, bill_ref,"
                " received_at, claimed_at) VALUES (?, ?, ?, 30, ?, 'now', ?)",
                (seeded.tenant_id, seeded.account_id, receipt, bill_ref, claimed),
            )
        return seeded

    store, seeded = await older_portal(tmp_path, monkeypatch, 6, make)
    try:
        assert await store.migrate() == list(range(7, len(MIGRATIONS) + 1))
        assert await value(store, "SELECT count(*) FROM payments") == 2
        await execute(
            store, "UPDATE payments SET state = 'unknown' WHERE id = ?", (seeded.failed_payment_id,)
        )
        money = await rows(store, "SELECT receipt, for_wifi, spent FROM c2b_payments ORDER BY receipt")
        assert [tuple(row) for row in money] == [("ROLD1", 1, 30), ("RRENT1", 0, 0), ("RWIFI1", 1, 0)]
        assert await value(store, "SELECT wifi_words FROM tenants") == "WIFI"
    finally:
        await store.close()


async def test_the_money_upgrade_keeps_what_earlier_claims_bought_and_takes_a_tills_money_as_wifi(
    tmp_path, monkeypatch, clock, vault
):
    claimed_at = "2026-01-05T09:00:00.000000+00:00"

    def add_money(db, seeded: Seeded) -> None:
        till = insert_account(db, clock, vault, seeded.tenant_id, "till")
        db.execute("UPDATE mpesa_accounts SET kind = 'till', till_number = '123456' WHERE id = ?", (till,))
        common = {"tenant_id": seeded.tenant_id, "amount": 40, "received_at": claimed_at}
        claimed = {"claimed_at": claimed_at, "access_session_id": seeded.session_id}
        insert(
            db, "c2b_payments", mpesa_account_id=seeded.account_id, receipt="RCLAIMED", **common, **claimed
        )
        insert(db, "c2b_payments", mpesa_account_id=till, receipt="RTILL", **common)

    async def make(store) -> Seeded:
        seeded = await seed_tenant(store, clock, vault, "alpha")
        await store.write(add_money, seeded)
        return seeded

    store, seeded = await older_portal(tmp_path, monkeypatch, 6, make)
    try:
        assert await store.migrate() == list(range(7, len(MIGRATIONS) + 1))
        money = await rows(store, "SELECT receipt, for_wifi, spent FROM c2b_payments ORDER BY receipt")
        assert [tuple(row) for row in money] == [("RCLAIMED", 1, 40), ("RTILL", 1, 0)]
        [spend] = await rows(store, "SELECT access_session_id, amount, spent_at FROM c2b_spends")
        assert tuple(spend) == (seeded.session_id, 40, claimed_at)
    finally:
        await store.close()


async def test_the_sign_in_upgrade_keeps_admins_and_starts_with_no_slowdowns_one_row_per_key(
    tmp_path, monkeypatch, clock, vault
):
    store, _ = await older_portal(
        tmp_path, monkeypatch, 7, lambda store: seed_tenant(store, clock, vault, "alpha")
    )
    try:
        assert await store.migrate() == list(range(8, len(MIGRATIONS) + 1))
        assert await value(store, "SELECT count(*) FROM admin_users") == 2
        assert await value(store, "SELECT count(*) FROM sign_in_slowdowns") == 0
        await execute(store, "INSERT INTO sign_in_slowdowns VALUES ('address:203.0.113.9', 1, 'now')")
        with pytest.raises(Conflict):
            await execute(store, "INSERT INTO sign_in_slowdowns VALUES ('address:203.0.113.9', 2, 'now')")
    finally:
        await store.close()


async def test_the_api_upgrade_keeps_payments_and_gives_a_reused_idempotency_key_to_the_newest(
    tmp_path, monkeypatch, clock, vault
):
    async def make(store) -> Seeded:
        seeded = await seed_tenant(store, clock, vault, "alpha")
        # Before the key was unique, one reused after its 24 hours named two payments.
        await execute(store, "UPDATE payments SET idempotency_key = 'order-1', request_hash = 'h'")
        return seeded

    store, seeded = await older_portal(tmp_path, monkeypatch, 9, make)
    try:
        assert await store.migrate() == list(range(10, len(MIGRATIONS) + 1))
        kept = await rows(store, "SELECT id, idempotency_key, package_id FROM payments ORDER BY id")
        assert [tuple(row) for row in kept] == [
            (seeded.paid_payment_id, None, seeded.package_id),
            (seeded.failed_payment_id, "order-1", seeded.package_id),
        ]
        assert await table_names(store) == TABLES
    finally:
        await store.close()


async def older_api_client(store, clock, tenant_id: int) -> tuple[int, str]:
    """An API client as the API's first portal wrote it: (its id, its token)."""
    token = f"{api_clients.PREFIX}0a1b2c3d_{'s' * 43}"
    client_id = await store.write(
        insert,
        "api_clients",
        tenant_id=tenant_id,
        key_id="0a1b2c3d",
        token_hash=fingerprint(token),
        name="Shop",
        scopes="payments:read",
        created_at=to_text(clock.now()),
    )
    return client_id, token


async def test_the_webhooks_upgrade_keeps_api_clients_and_starts_with_no_endpoints(
    tmp_path, monkeypatch, clock, vault
):
    async def make(store) -> int:
        tenant_id = (await seed_tenant(store, clock, vault, "alpha")).tenant_id
        return (await older_api_client(store, clock, tenant_id))[0]

    store, client_id = await older_portal(tmp_path, monkeypatch, 13, make)
    try:
        assert await store.migrate() == list(range(14, len(MIGRATIONS) + 1))
        assert await value(store, "SELECT name FROM api_clients WHERE id = ?", (client_id,)) == "Shop"
        assert await value(store, "SELECT count(*) FROM webhook_endpoints") == 0
        assert await table_names(store) == TABLES
    finally:
        await store.close()


async def test_the_access_api_upgrade_keeps_sessions_as_no_api_clients(tmp_path, monkeypatch, clock, vault):
    async def make(store) -> int:
        return (await seed_tenant(store, clock, vault, "alpha")).session_id

    store, session_id = await older_portal(tmp_path, monkeypatch, 14, make)
    try:
        assert await store.migrate() == list(range(15, len(MIGRATIONS) + 1))
        kept = await rows(
            store, "SELECT state, api_client_id FROM access_sessions WHERE id = ?", (session_id,)
        )
        assert [tuple(row) for row in kept] == [("active", None)]
        plan = await rows(
            store,
            "EXPLAIN QUERY PLAN SELECT id FROM access_sessions WHERE tenant_id = ?"
            " AND api_client_id IS NOT NULL ORDER BY id DESC",
            (1,),
        )
        assert "access_sessions_of_api" in str([tuple(row) for row in plan])
    finally:
        await store.close()


async def test_the_limits_upgrade_keeps_api_clients_on_the_default_quotas_with_no_usage_one_row_a_day(
    tmp_path, monkeypatch, clock, vault
):
    async def make(store) -> tuple[int, str]:
        tenant_id = (await seed_tenant(store, clock, vault, "alpha")).tenant_id
        return await older_api_client(store, clock, tenant_id)

    store, (client_id, token) = await older_portal(tmp_path, monkeypatch, 17, make)
    try:
        assert await store.migrate() == list(range(18, len(MIGRATIONS) + 1))
        client = await store.write(api_clients.authenticate, clock, token)  # its token still works
        assert (client.id, client.requests_per_minute, client.pushes_per_month) == (client_id, None, None)
        assert (client.minute_calls, client.previous_token_until) == (1, None)
        assert await value(store, "SELECT count(*) FROM api_usage") == 0
        await execute(
            store, "INSERT INTO api_usage (api_client_id, day) VALUES (?, '2026-01-05')", (client_id,)
        )
        with pytest.raises(Conflict):
            await execute(
                store, "INSERT INTO api_usage (api_client_id, day) VALUES (?, '2026-01-05')", (client_id,)
            )
        with pytest.raises(StoreError, match="CHECK constraint failed"):
            await execute(store, "UPDATE api_clients SET pushes_per_month = 0")
    finally:
        await store.close()


async def test_schema_refuses_a_second_payment_for_one_idempotency_key_and_one_for_nothing(
    store, clock, vault
):
    seeded = await seed_tenant(store, clock, vault, "alpha")
    await execute(
        store, "UPDATE payments SET idempotency_key = 'order-1' WHERE id = ?", (seeded.paid_payment_id,)
    )
    with pytest.raises(Conflict):
        await execute(
            store,
            "UPDATE payments SET idempotency_key = 'order-1' WHERE id = ?",
            (seeded.failed_payment_id,),
        )
    with pytest.raises(StoreError, match="CHECK constraint failed"):
        await execute(
            store, "UPDATE payments SET package_id = NULL WHERE id = ?", (seeded.failed_payment_id,)
        )


async def test_payments_due_a_query_are_found_by_index_cancelled_ones_too(store):
    plan = await rows(
        store,
        f"EXPLAIN QUERY PLAN SELECT id FROM payments WHERE next_query_at <= ? AND {payments.ASKED_ABOUT}",
        ("2026-01-01T00:00:00Z",),
    )
    assert any("payments_due_query" in row["detail"] for row in plan)


async def test_the_team_upgrade_keeps_every_admin_active_and_never_signed_in(
    tmp_path, monkeypatch, clock, vault
):
    store, _ = await older_portal(
        tmp_path, monkeypatch, 11, lambda store: seed_tenant(store, clock, vault, "alpha")
    )
    try:
        assert await store.migrate() == list(range(12, len(MIGRATIONS) + 1))
        found = await rows(store, "SELECT email, disabled_at, last_sign_in_at FROM admin_users ORDER BY id")
        assert [tuple(row) for row in found] == [
            ("owner@alpha.example", None, None),
            ("staff@alpha.example", None, None),
        ]
    finally:
        await store.close()


async def test_the_names_upgrade_keeps_the_oldest_of_a_name_and_refuses_a_second_in_one_business(
    tmp_path, monkeypatch, clock, vault
):
    async def make(store) -> tuple[Seeded, Seeded]:  # names were unique nowhere but on routers
        alpha = await seed_tenant(store, clock, vault, "alpha")
        beta = await seed_tenant(store, clock, vault, "beta")
        await execute(store, "UPDATE packages SET name = '1 hour'")
        await execute(store, "UPDATE mpesa_accounts SET name = 'Till'")
        now = "2026-01-01T00:00:00.000000+00:00"
        package = {"price": 30, "duration_seconds": 3600, "created_at": now, "updated_at": now}
        await store.write(insert, "packages", tenant_id=alpha.tenant_id, name="1 hour", **package)
        await store.write(insert_account, clock, vault, alpha.tenant_id, "Till")
        return alpha, beta

    store, (alpha, beta) = await older_portal(tmp_path, monkeypatch, 12, make)
    try:
        assert await store.migrate() == list(range(13, len(MIGRATIONS) + 1))
        for table, name in (("packages", "1 hour"), ("mpesa_accounts", "Till")):
            found = await rows(store, f"SELECT id, tenant_id, name FROM {table} ORDER BY id")
            [first_alpha, first_beta, second_alpha] = [tuple(row) for row in found]
            assert first_alpha[1:] == (alpha.tenant_id, name)
            assert first_beta[1:] == (beta.tenant_id, name)
            assert second_alpha[1:] == (alpha.tenant_id, f"{name} ({second_alpha[0]})")
            with pytest.raises(Conflict):
                await execute(store, f"UPDATE {table} SET name = ? WHERE id = ?", (name, second_alpha[0]))
    finally:
        await store.close()


async def test_who_gave_sessions_their_time_is_found_by_index(store):
    plan = await rows(
        store,
        "EXPLAIN QUERY PLAN SELECT target, actor, at FROM audit_events WHERE target IN (?, ?)"
        " AND action IN (?, ?) ORDER BY at, id",
        ("session:1", "session:2", "session_granted", "session_extended"),
    )
    assert any("audit_events_by_target" in row["detail"] for row in plan)


async def test_the_asking_address_upgrade_keeps_payments_with_no_address_and_finds_them_by_it(
    tmp_path, monkeypatch, clock, vault
):
    store, seeded = await older_portal(
        tmp_path, monkeypatch, 16, lambda store: seed_tenant(store, clock, vault, "alpha")
    )
    try:
        assert await store.migrate() == list(range(17, len(MIGRATIONS) + 1))
        kept = await rows(store, "SELECT id, client_address FROM payments ORDER BY id")
        assert [tuple(row) for row in kept] == [
            (seeded.paid_payment_id, None),
            (seeded.failed_payment_id, None),
        ]
        plan = await rows(
            store,
            "EXPLAIN QUERY PLAN SELECT created_at FROM payments WHERE client_address = ? AND created_at > ?",
            ("10.5.50.2", "2026-01-01T00:00:00Z"),
        )
        assert any("payments_by_client_address" in row["detail"] for row in plan)
    finally:
        await store.close()


async def test_the_counter_upgrade_keeps_everything_enabled_and_gives_staff_an_hour_a_day(
    tmp_path, monkeypatch, clock, vault
):
    store, alpha = await older_portal(
        tmp_path, monkeypatch, 18, lambda store: seed_tenant(store, clock, vault, "alpha")
    )
    try:
        assert await store.migrate() == list(range(19, len(MIGRATIONS) + 1))
        assert await value(store, "SELECT staff_goodwill_minutes FROM tenants") == 60
        for table, row_id in (("routers", alpha.router_id), ("mpesa_accounts", alpha.account_id)):
            found = await rows(store, f"SELECT id, disabled_at, removed_at FROM {table}")
            assert [tuple(row) for row in found] == [(row_id, None, None)]
        assert await value(store, "SELECT removed_at FROM packages") is None
        with pytest.raises(StoreError):
            await execute(store, "UPDATE tenants SET staff_goodwill_minutes = -1")
    finally:
        await store.close()


async def test_the_earnings_upgrade_counts_every_payment_paid_so_far_in_its_quarter_hour(
    tmp_path, monkeypatch, clock, vault
):
    async def paid_before_the_upgrade(store) -> Seeded:
        alpha = await seed_tenant(store, clock, vault, "alpha")  # 30 KES paid now, with its router
        common = {"tenant_id": alpha.tenant_id, "mpesa_account_id": alpha.account_id, "amount": 5}
        quarter = clock.now() - timedelta(minutes=clock.now().minute % 15)
        client, _ = await store.write(api_clients.create, clock, alpha.tenant_id, "Till", ["payments:write"])
        for minutes, state, values in [
            (14, "paid", {"package_id": alpha.package_id}),  # the quarter before, with no router
            (15, "paid", {"package_id": alpha.package_id}),  # the quarter with the seeded one
            (15, "reversed", {"package_id": alpha.package_id}),  # given back: not earned
            (15, "paid", {"api_client_id": client.id, "reference": "A1"}),  # an API charge: no Wi-Fi money
        ]:
            at = to_text(quarter - timedelta(minutes=15) + timedelta(minutes=minutes, seconds=59))
            await store.write(insert_payment, **common, **values, phone="254711000001", state=state, at=at)
        return alpha

    store, alpha = await older_portal(tmp_path, monkeypatch, 19, paid_before_the_upgrade)
    try:
        await store.migrate()
        now = earnings.quarter_of(clock.now())
        bounds = [now - timedelta(minutes=15), now, now + timedelta(minutes=15)]
        kept = await store.read(earnings.prompt_sums, of_tenant(alpha.tenant_id), bounds, "router")
        assert sorted(kept, key=str) == [(0, None, 5, 1), (1, alpha.router_id, 30, 1), (1, None, 5, 1)]
    finally:
        await store.close()
