"""The routers table: a tenant's hotspot sites, how to reach each one's gateway, and when it last answered.

A router's `name` is its identity in URLs: the splash page link carries it, and the login page the
router serves is fetched from `/hotspot/login.html?router=<name>`. Its `kind` names the kind of
gateway that enforces access there (gateways/registry.py).
"""

import asyncio
from collections.abc import Collection
from datetime import datetime

from .. import store
from ..clock import Clock, to_text
from ..gateways.base import GatewayError
from ..gateways.registry import Gateways, OnlineNow, Target, online_everywhere
from ..store import Conflict, Connection, Record, columns, marks, replace_each
from ..tenancy.scope import Scope
from ..vault import Vault

# A router's name is unique on the box, not only in its business: the splash finds the router by the
# name in its link alone. The refusal says so without telling whose router has it.
NAME_TAKEN = (
    "That name is taken on this box: choose another (the business and the site together, like cafe-main)."
)


class RouterError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


class Router(Record, frozen=True):
    id: int
    tenant_id: int
    name: str
    kind: str
    host: str
    port: int
    use_tls: bool
    username: str
    password_enc: str  # the vault's token (no secret without the key): `target()` decrypts it
    hotspot_server: str
    mpesa_account_id: int | None  # the account that takes payments here; None: the business's first
    last_seen_at: datetime | None
    last_error: str | None  # why the last contact failed; None when it worked
    last_sync_at: datetime | None
    # Disabled: no sales, no sync and no alarms, while its live sessions still end on time. Removed: out
    # of the lists too, kept only because the books name it.
    disabled_at: datetime | None
    removed_at: datetime | None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


COLUMNS = columns(Router)


def get(db: Connection, router_id: int, scope: Scope | None = None) -> Router | None:
    where, params = scope.where("tenant_id") if scope else ("1 = 1", [])
    return db.record(Router, f"SELECT {COLUMNS} FROM routers WHERE id = ? AND {where}", (router_id, *params))


def by_name(db: Connection, name: str) -> Router | None:
    return db.record(Router, f"SELECT {COLUMNS} FROM routers WHERE name = ?", (name,))


def in_scope(db: Connection, scope: Scope) -> list[Router]:
    """The admin's routers, disabled ones too; not those removed."""
    where, params = scope.where("tenant_id")
    return db.records(
        Router,
        f"SELECT {COLUMNS} FROM routers WHERE {where} AND removed_at IS NULL ORDER BY tenant_id, name",
        params,
    )


def every(db: Connection) -> list[Router]:
    return db.records(Router, f"SELECT {COLUMNS} FROM routers ORDER BY id")


def ids_of_tenant(db: Connection, tenant_id: int) -> list[int]:
    """The tenant's routers in use (a disabled one is told its plans when it is enabled again)."""
    rows = db.all(
        "SELECT id FROM routers WHERE tenant_id = ? AND disabled_at IS NULL ORDER BY id", (tenant_id,)
    )
    return [row["id"] for row in rows]


def names(db: Connection, router_ids: Collection[int]) -> dict[int, str]:
    rows = db.all(f"SELECT id, name FROM routers WHERE id IN ({marks(router_ids)})", list(router_ids))
    return {row["id"]: row["name"] for row in rows}


def down(db: Connection, scope: Scope) -> list[Router]:
    """Routers in use whose last contact failed."""
    where, params = scope.where("tenant_id")
    return db.records(
        Router,
        f"SELECT {COLUMNS} FROM routers WHERE {where} AND last_error IS NOT NULL AND disabled_at IS NULL"
        " ORDER BY name",
        params,
    )


def create(db: Connection, clock: Clock, vault: Vault, tenant_id: int, spec) -> int:
    """`spec` is what the router kind's form read (gateways/<kind>/form.py)."""
    try:
        return db.value(
            "INSERT INTO routers (tenant_id, name, host, port, use_tls, username, password_enc,"
            " hotspot_server, mpesa_account_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " RETURNING id",
            (
                tenant_id,
                spec.name,
                spec.host,
                spec.port,
                int(spec.use_tls),
                spec.username,
                vault.encrypt(spec.password or ""),
                spec.hotspot_server,
                spec.mpesa_account_id,
                to_text(clock.now()),
            ),
        )
    except Conflict:
        raise RouterError("name", NAME_TAKEN) from None


def update(db: Connection, vault: Vault, router_id: int, tenant_id: int, spec) -> bool:
    """Changes the router; a password given replaces the stored one, none keeps it. False if the tenant
    has no such router, or if the kept password would go to another host, port, TLS setting or user
    than it was typed for (the form asks for it again; this holds even against a racing edit)."""
    try:
        return bool(
            db.execute(
                "UPDATE routers SET name = ?, host = ?, port = ?, use_tls = ?, username = ?,"
                " hotspot_server = ?, mpesa_account_id = ?, password_enc = coalesce(?, password_enc)"
                " WHERE id = ? AND tenant_id = ?"
                " AND (? OR (host = ? AND port = ? AND use_tls = ? AND username = ?))",
                (
                    spec.name,
                    spec.host,
                    spec.port,
                    int(spec.use_tls),
                    spec.username,
                    spec.hotspot_server,
                    spec.mpesa_account_id,
                    vault.encrypt(spec.password) if spec.password else None,
                    router_id,
                    tenant_id,
                    spec.password is not None,
                    spec.host,
                    spec.port,
                    int(spec.use_tls),
                    spec.username,
                ),
            )
        )
    except Conflict:
        raise RouterError("name", NAME_TAKEN) from None


def set_disabled(db: Connection, clock: Clock, router_id: int, tenant_id: int, disabled: bool) -> bool:
    """Disables or enables the router; False if it was so already (or is removed)."""
    return store.set_disabled(db, "routers", router_id, tenant_id, to_text(clock.now()), disabled)


def remove(db: Connection, clock: Clock, router_id: int, tenant_id: int, *, keep: bool) -> None:
    """Deletes the router, or with `keep` (the books name it) disables it and takes it off the lists."""
    store.remove(db, "routers", router_id, tenant_id, to_text(clock.now()), keep=keep)


def taking_payments_for(db: Connection, account_id: int) -> list[str]:
    """The names of the routers that name this M-Pesa account."""
    rows = db.all("SELECT name FROM routers WHERE mpesa_account_id = ? ORDER BY name", (account_id,))
    return [row["name"] for row in rows]


def forget_account(db: Connection, account_id: int) -> None:
    """The routers that named this M-Pesa account take payments through the business's first one now."""
    db.execute("UPDATE routers SET mpesa_account_id = NULL WHERE mpesa_account_id = ?", (account_id,))


def record_contact(db: Connection, clock: Clock, router_id: int, error: str | None = None) -> None:
    """Remembers when the router last answered, or why it did not (shown to the admin)."""
    if error is None:
        db.execute(
            "UPDATE routers SET last_seen_at = ?, last_error = NULL WHERE id = ?",
            (to_text(clock.now()), router_id),
        )
    else:
        db.execute("UPDATE routers SET last_error = ? WHERE id = ?", (error, router_id))


def synced(db: Connection, clock: Clock, router_id: int) -> None:
    db.execute("UPDATE routers SET last_sync_at = ? WHERE id = ?", (to_text(clock.now()), router_id))
    record_contact(db, clock, router_id)


def rotate_secrets(db: Connection, vault: Vault) -> int:
    """Re-encrypts every stored router password under the vault's newest key (`portal keys rotate`)."""
    return replace_each(db, "routers", ["password_enc"], vault.rotate_token)


def target(router: Router, vault: Vault) -> Target:
    """Where and how to reach the router's gateway, its password decrypted for the gateway alone."""
    return Target(
        kind=router.kind,
        label=router.name,
        host=router.host,
        port=router.port,
        use_tls=router.use_tls,
        username=router.username,
        password=vault.decrypt(router.password_enc),
        hotspot_server=router.hotspot_server,
    )


async def gateway(gateways: Gateways, vault: Vault, router: Router):
    """The router's live gateway (kept while its settings stay the same)."""
    return await gateways.get(router.id, target(router, vault))


async def online_now(gateways: Gateways, vault: Vault, routers: list[Router], wait: float) -> OnlineNow:
    """What the routers count for the devices online on them now, each asked for at most `wait`
    seconds, so that a page never waits long for one that is down."""
    return await online_everywhere(gateways, [(router.id, target(router, vault)) for router in routers], wait)


async def usage_now(
    gateways: Gateways, vault: Vault, router: Router, mac: str, session_id: int, wait: float
) -> int | None:
    """The bytes the router counts now for the access `session_id` gave `mac`, asked for at most
    `wait` seconds, so that a page never waits long; None when the router could not say."""
    try:
        async with asyncio.timeout(wait):
            return await (await gateway(gateways, vault, router)).usage(mac, session_id)
    except (TimeoutError, GatewayError):
        return None
