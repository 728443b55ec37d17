"""Routers (a tenant's hotspot sites): their rows, the gateway each one gets, and setting them up.

A router's `name` is its identity in URLs: the splash page link carries it, and the login page the
router serves is fetched from `/hotspot/login.html?router=<name>`.
"""

import re
import sqlite3
from urllib.parse import quote

from .clock import Clock, to_text
from .db import Database, Transaction
from .gateway.base import Gateway, Profile
from .gateway.routeros import RouterOSGateway
from .vault import Vault

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
LOGIN_PAGE_PATH = "/hotspot/login.html"


class RouterError(ValueError):
    pass


async def add_router(
    tx: Transaction,
    clock: Clock,
    vault: Vault,
    *,
    tenant_id: int,
    name: str,
    host: str,
    port: int,
    username: str,
    password: str,
    use_tls: bool = False,
    hotspot_server: str = "all",
) -> int:
    if not NAME.match(name):
        raise RouterError(f"router name {name!r}: use letters, digits, '.', '_' and '-' (up to 40)")
    if not host.strip() or any(c.isspace() for c in host.strip()):
        raise RouterError(f"router host {host!r} is not a host name or address")
    if not 1 <= port <= 65535:
        raise RouterError(f"router port {port} is not between 1 and 65535")
    if not username:
        raise RouterError("the router needs an API user name")
    if not password:
        raise RouterError("the router needs the API user's password")
    if not hotspot_server.strip():
        raise RouterError("the hotspot server is a server name on the router, or 'all'")
    try:
        cursor = await tx.execute(
            "INSERT INTO routers (tenant_id, name, host, port, use_tls, username, password_enc,"
            " hotspot_server, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                tenant_id,
                name,
                host.strip(),
                port,
                int(use_tls),
                username,
                vault.encrypt(password),
                hotspot_server.strip(),
                to_text(clock.now()),
            ),
        )
    except sqlite3.IntegrityError:
        raise RouterError(f"a router named {name!r} already exists") from None
    return cursor.lastrowid


async def router_by_name(db: Database, name: str) -> sqlite3.Row:
    router = await db.fetchone("SELECT * FROM routers WHERE name = ?", (name,))
    if router is None:
        raise RouterError(f"no router named {name!r}")
    return router


def profile_for(package_id: int, rate_limit: str) -> Profile:
    """Each package is one hotspot user profile on every router of its tenant."""
    return Profile(f"portal-p{package_id}", rate_limit)


async def package_profiles(db: Database, tenant_id: int) -> list[Profile]:
    rows = await db.fetchall(
        "SELECT id, rate_limit FROM packages WHERE tenant_id = ? ORDER BY position, id", (tenant_id,)
    )
    return [profile_for(row["id"], row["rate_limit"]) for row in rows]


def login_page_url(portal_url: str, router_name: str) -> str:
    return f"{portal_url.rstrip('/')}{LOGIN_PAGE_PATH}?router={quote(router_name)}"


class Gateways:
    """One gateway per router, kept while the router's row stays the same (a connection is worth
    keeping: logging in costs a round trip, and routers log every login)."""

    def __init__(self, vault: Vault, timeout: float):
        self._vault = vault
        self._timeout = timeout
        self._gateways: dict[int, tuple[tuple, Gateway]] = {}

    async def get(self, router: sqlite3.Row) -> Gateway:
        key = tuple(
            router[c] for c in ("host", "port", "use_tls", "username", "password_enc", "hotspot_server")
        )
        cached = self._gateways.get(router["id"])
        if cached and cached[0] == key:
            return cached[1]
        if cached:
            await cached[1].close()
        gateway = RouterOSGateway(
            host=router["host"],
            port=router["port"],
            username=router["username"],
            password=self._vault.decrypt(router["password_enc"]),
            use_tls=bool(router["use_tls"]),
            hotspot_server=router["hotspot_server"],
            timeout=self._timeout,
            label=router["name"],
        )
        self._gateways[router["id"]] = (key, gateway)
        return gateway

    async def close(self) -> None:
        for _, gateway in self._gateways.values():
            await gateway.close()
        self._gateways.clear()


async def record_contact(db: Database, clock: Clock, router_id: int, error: str | None = None) -> None:
    """Remembers when the router last answered, or why it did not (shown to the admin)."""
    async with db.transaction() as tx:
        await record_contact_in(tx, clock, router_id, error)


async def record_contact_in(tx: Transaction, clock: Clock, router_id: int, error: str | None) -> None:
    if error is None:
        await tx.execute(
            "UPDATE routers SET last_seen_at = ?, last_error = NULL WHERE id = ?",
            (to_text(clock.now()), router_id),
        )
    else:
        await tx.execute("UPDATE routers SET last_error = ? WHERE id = ?", (error, router_id))


async def provision(db: Database, gateways: Gateways, router: sqlite3.Row, portal_url: str) -> list[str]:
    """Profiles for the tenant's packages, the walled-garden entry for the portal, and the login page
    (which the router fetches from the portal itself). Safe to run again at any time."""
    gateway = await gateways.get(router)
    profiles = await package_profiles(db, router["tenant_id"])
    return await gateway.provision(profiles, portal_url, login_page_url(portal_url, router["name"]))
