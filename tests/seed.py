"""Test data written with SQL: tenants with one of everything, payments in any state."""

import sqlite3
from collections.abc import Iterable
from contextlib import closing
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from portal.billing import earnings, payments
from portal.clock import Clock, to_text
from portal.store import Connection, Store
from portal.tenancy import admins, tenants
from portal.vault import Vault, fingerprint, new_token

PASSWORD = "correct horse battery"


@dataclass
class Seeded:
    """One tenant with one of everything, named after its slug so pages can be searched for it."""

    slug: str
    tenant_id: int
    owner: str
    staff: str
    account_id: int
    router_id: int
    package_id: int
    paid_payment_id: int
    failed_payment_id: int
    session_id: int
    batch: str = ""  # a voucher batch, when a test makes one
    staff_id: int = 0
    api_client_id: int = 0  # an API client with a webhook and an event sent to it, when a test makes one
    endpoint_id: int = 0
    message_id: int = 0


def insert(db: Connection, table: str, **values) -> int:
    """One row from keyword arguments; returns its id."""
    columns = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    sql = f"INSERT INTO {table} ({columns}) VALUES ({marks}) RETURNING id"
    return db.value(sql, tuple(values.values()))


async def seed_tenant(
    store: Store, clock: Clock, vault: Vault, slug: str, phone: str = "254712345678"
) -> Seeded:
    return await store.write(seed_tenant_in, clock, vault, slug, phone)


def seed_tenant_in(
    db: Connection, clock: Clock, vault: Vault, slug: str, phone: str = "254712345678"
) -> Seeded:
    now = to_text(clock.now())
    stamps = {"created_at": now, "updated_at": now}
    tenant_id = tenants.create(db, clock, slug, f"{slug.title()} Wi-Fi")
    owner, staff = f"owner@{slug}.example", f"staff@{slug}.example"
    admins.create_admin(db, clock, email=owner, password=PASSWORD, role="owner", tenant_id=tenant_id)
    staff_id = admins.create_admin(
        db, clock, email=staff, password=PASSWORD, role="staff", tenant_id=tenant_id
    )
    account_id = insert_account(db, clock, vault, tenant_id, f"{slug}-paybill")
    router_id = insert(
        db,
        "routers",
        tenant_id=tenant_id,
        name=f"{slug}-router",
        host="10.0.0.1",
        port=8728,
        username="portal",
        password_enc=vault.encrypt("router password"),
        mpesa_account_id=account_id,
        created_at=now,
    )
    package_id = insert(
        db,
        "packages",
        tenant_id=tenant_id,
        name=f"{slug.title()} hour",
        price=30,
        duration_seconds=3600,
        rate_limit="1M/2M",
        **stamps,
    )
    session_id = insert_session(
        db,
        clock,
        vault,
        tenant_id,
        router_id,
        package_id,
        f"AA:BB:CC:00:00:{tenant_id:02X}",
        ip="10.5.50.7",
    )
    common = {
        "tenant_id": tenant_id,
        "mpesa_account_id": account_id,
        "package_id": package_id,
        "router_id": router_id,
        "phone": phone,
        "amount": 30,
    }
    paid = insert_payment(
        db,
        **common,
        state="paid",
        at=now,
        receipt=f"R{slug.upper()}0001"[:10],
        access_session_id=session_id,
    )
    failed = insert_payment(
        db,
        **common,
        state="failed",
        at=now,
        result_code="1032",
        result_desc="Request cancelled by user",
    )
    seeded = Seeded(
        slug, tenant_id, owner, staff, account_id, router_id, package_id, paid, failed, session_id
    )
    seeded.staff_id = staff_id
    return seeded


def insert_account(db: Connection, clock: Clock, vault: Vault, tenant_id: int, name: str) -> int:
    """A sandbox PayBill 174379 with made-up credentials (nothing here calls Daraja with them)."""
    now = to_text(clock.now())
    return insert(
        db,
        "mpesa_accounts",
        tenant_id=tenant_id,
        name=name,
        shortcode="174379",
        kind="paybill",
        environment="sandbox",
        consumer_key_enc=vault.encrypt("key"),
        consumer_secret_enc=vault.encrypt("secret"),
        passkey_enc=vault.encrypt("passkey"),
        created_at=now,
        updated_at=now,
    )


def insert_session(
    db: Connection,
    clock: Clock,
    vault: Vault,
    tenant_id: int,
    router_id: int,
    package_id: int,
    mac: str,
    **values,
) -> int:
    """A device online since now, with an hour paid (unless `values` say otherwise)."""
    now = to_text(clock.now())
    row = {
        "state": "active",
        "paid_seconds": 3600,
        "started_at": now,
        "expires_at": to_text(clock.now() + timedelta(hours=1)),
        "created_at": now,
        "updated_at": now,
    }
    return insert(
        db,
        "access_sessions",
        tenant_id=tenant_id,
        router_id=router_id,
        package_id=package_id,
        mac=mac,
        access_code_hash=fingerprint(new_token()),
        access_code_enc=vault.encrypt("code"),
        **(row | values),
    )


def insert_payment(db: Connection, *, state: str, at: str, **values) -> int:
    """A payment in `state` as of `at` (paid then, if it was paid), counted in the earnings as the
    transition to paid counts it."""
    payment_id = insert(
        db,
        "payments",
        ref=values.pop("ref", "P" + new_token(5).upper()),
        callback_token=new_token(),
        mac="AA:BB:CC:DD:EE:FF",
        ip="10.5.50.7",
        state=state,
        created_at=at,
        updated_at=at,
        paid_at=at if state in ("paid", "reversed") else None,
        **values,
    )
    # An older portal's database has no earnings to count in: its upgrade counts what it finds.
    if state == "paid" and db.value("SELECT count(*) FROM sqlite_master WHERE name = 'prompt_earnings'"):
        earnings.count_paid(db, payments.get(db, payment_id))
    return payment_id


async def on_emulator(
    store: Store,
    vault: Vault,
    router_id: int,
    port: int,
    password: str = "secret",  # noqa: S107
) -> None:
    """Points a seeded router at the RouterOS emulator on loopback (API user admin)."""
    await store.write(
        lambda db: db.execute(
            "UPDATE routers SET host = '127.0.0.1', port = ?, username = 'admin', password_enc = ?"
            " WHERE id = ?",
            (port, vault.encrypt(password), router_id),
        )
    )


# -- in a database file another process owns (a CLI command, an installed service) --

WRITTEN_AT = "2026-01-05T09:00:00.000000+00:00"


def add_shop_rows(path: Path) -> None:
    """Tenant 1 with M-Pesa account 1 and package 1, for payments to refer to."""
    with closing(sqlite3.connect(path)) as connection, connection:
        connection.execute(
            "INSERT INTO tenants (slug, name, created_at) VALUES ('cafe', 'Cafe', ?)", (WRITTEN_AT,)
        )
        connection.execute(
            "INSERT INTO mpesa_accounts (tenant_id, name, shortcode, kind, environment, consumer_key_enc,"
            " consumer_secret_enc, passkey_enc, created_at, updated_at)"
            " VALUES (1, 'main', '174379', 'paybill', 'sandbox', 'x', 'x', 'x', ?, ?)",
            (WRITTEN_AT, WRITTEN_AT),
        )
        connection.execute(
            "INSERT INTO packages (tenant_id, name, price, duration_seconds, created_at, updated_at)"
            " VALUES (1, '1 hour', 10, 3600, ?, ?)",
            (WRITTEN_AT, WRITTEN_AT),
        )


def add_paid_payments(path: Path, refs: Iterable[str]) -> None:
    with closing(sqlite3.connect(path)) as connection, connection:
        connection.executemany(
            "INSERT INTO payments (tenant_id, ref, callback_token, mpesa_account_id, package_id, phone,"
            " amount, state, created_at, updated_at)"
            " VALUES (1, ?, ?, 1, 1, '254712345678', 10, 'paid', ?, ?)",
            [(ref, f"token-{ref}", WRITTEN_AT, WRITTEN_AT) for ref in refs],
        )


def payment_refs(path: Path) -> set[str]:
    with closing(sqlite3.connect(path)) as connection:
        return {ref for (ref,) in connection.execute("SELECT ref FROM payments")}
