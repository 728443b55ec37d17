"""Routers (a tenant's hotspot sites): their rows, the gateway each one gets, and setting them up.

A router's `name` is its identity in URLs: the splash page link carries it, and the login page the
router serves is fetched from `/hotspot/login.html?router=<name>`.
"""

import asyncio
import ipaddress
import re
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from .clock import Clock, to_text
from .db import Database, Transaction
from .gateway.base import Gateway, GatewayError, Profile
from .gateway.routeros import RouterOSGateway
from .numbers import whole
from .packages import profile_name, queue_profile_sync
from .scope import Scope
from .vault import Vault

LOGIN_PAGE_PATH = "/hotspot/login.html"
NAME = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
API_PORT, API_TLS_PORT = 8728, 8729
RETYPE_PASSWORD = (
    "The address, port, TLS or user changed: type the password again. A stored password is only sent"  # noqa: S105
    " to the router and user it was typed for."
)


class RouterError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


async def add_router(
    tx: Transaction, clock: Clock, vault: Vault, tenant_id: int, fields: Mapping[str, str]
) -> int:
    """Adds a router from what a person typed (`portal router add`, or a test's site), checked as the
    admin form checks it; the first mistake is raised."""
    spec, errors = read_router(fields, stored=None)
    if spec is None:
        field, message = next(iter(errors.items()))
        raise RouterError(field, f"{field}: {message}")
    return await create_router(tx, clock, vault, tenant_id, spec)


async def router_by_name(db: Database, name: str) -> sqlite3.Row:
    router = await db.fetchone("SELECT * FROM routers WHERE name = ?", (name,))
    if router is None:
        raise RouterError("name", f"no router named {name!r}")
    return router


def profile_for(package_id: int, rate_limit: str) -> Profile:
    """Each package is one hotspot user profile on every router of its tenant."""
    return Profile(profile_name(package_id), rate_limit)


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


@dataclass(frozen=True)
class DataUsed:
    """What the routers count for the devices online on them now."""

    bytes: dict[tuple[int, str], int]  # (router id, MAC) → bytes both ways in its current router session
    unreachable: dict[str, str]  # router name → why it could not say


async def data_used(gateways: Gateways, routers: Sequence[sqlite3.Row], wait: float) -> DataUsed:
    """Asks the routers side by side, each for at most `wait` seconds, so that a page never waits
    long for one that is down."""

    async def ask(router: sqlite3.Row) -> list:
        async with asyncio.timeout(wait):
            return await (await gateways.get(router)).active_sessions()

    answers = await asyncio.gather(*(ask(router) for router in routers), return_exceptions=True)
    used, unreachable = {}, {}
    for router, answer in zip(routers, answers, strict=True):
        if isinstance(answer, TimeoutError):
            unreachable[router["name"]] = f"no answer within {wait:g} s"
        elif isinstance(answer, GatewayError):
            unreachable[router["name"]] = str(answer)
        elif isinstance(answer, BaseException):
            raise answer
        else:
            for session in answer:
                used[(router["id"], session.mac.upper())] = session.bytes_in + session.bytes_out
    return DataUsed(used, unreachable)


async def provision(db: Database, gateways: Gateways, router: sqlite3.Row, portal_url: str) -> list[str]:
    """Profiles for the tenant's packages, the walled-garden entry for the portal, and the login page
    (which the router fetches from the portal itself). Safe to run again at any time."""
    gateway = await gateways.get(router)
    profiles = await package_profiles(db, router["tenant_id"])
    return await gateway.provision(profiles, portal_url, login_page_url(portal_url, router["name"]))


@dataclass(frozen=True)
class RouterSpec:
    name: str
    host: str
    port: int
    use_tls: bool
    username: str
    password: str | None  # None: keep the stored one
    hotspot_server: str
    mpesa_account_id: int | None


def read_router(
    form: Mapping[str, str], *, stored: Mapping | None
) -> tuple[RouterSpec | None, dict[str, str]]:
    """The router a form describes, or what is wrong with each field.

    `stored` is the router being edited (None: a new one). Its password left blank is kept, but only
    while it goes where it was typed for: Check connection sends it in the API login, so a router
    re-pointed at another host, port, TLS setting or user needs it typed again."""
    errors = {}
    name = form.get("name", "").strip()
    if not NAME.match(name):
        errors["name"] = "Use letters, digits, dot, dash or underscore (up to 40), like cafe-main."
    host = form.get("host", "").strip()
    if not _is_host(host):
        errors["host"] = "Give the router's address on the network, like 192.168.88.1 or router.lan."
    use_tls = form.get("use_tls") == "on"
    port_text = form.get("port", "").strip()
    port = whole(port_text, 5)
    if not port_text:
        port = API_TLS_PORT if use_tls else API_PORT
    elif port is None or not 1 <= port <= 65535:
        errors["port"] = (
            f"A port is a number from 1 to 65535 (the API listens on {API_PORT}, or {API_TLS_PORT} with TLS)."
        )
    username = form.get("username", "").strip()
    if not username or len(username) > 64:
        errors["username"] = "Give the name of the router user the portal signs in as."
    moved = (
        stored is not None
        and not errors.keys() & {"host", "port", "username"}
        and (host, port, use_tls, username)
        != (stored["host"], stored["port"], bool(stored["use_tls"]), stored["username"])
    )
    password = form.get("password", "")
    if stored is None and not password:
        errors["password"] = "Give that user's password."  # noqa: S105 (a message, not a password)
    elif moved and not password:
        errors["password"] = RETYPE_PASSWORD
    elif len(password) > 200:
        errors["password"] = "That password is too long."  # noqa: S105
    hotspot_server = form.get("hotspot_server", "").strip() or "all"
    if not NAME.match(hotspot_server):
        errors["hotspot_server"] = "Give the hotspot server's name as the router shows it, or leave “all”."
    account = form.get("mpesa_account_id", "")
    if account and whole(account, 18) is None:
        errors["mpesa_account_id"] = "Pick an M-Pesa account from the list."
    if errors:
        return None, errors
    return (
        RouterSpec(
            name=name,
            host=host,
            port=port,
            use_tls=use_tls,
            username=username,
            password=password or None,
            hotspot_server=hotspot_server,
            mpesa_account_id=int(account) if account else None,
        ),
        {},
    )


def _is_host(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return bool(HOSTNAME.match(text))
    return True


def router_fields(row: sqlite3.Row) -> dict[str, str]:
    return {
        "name": row["name"],
        "host": row["host"],
        "port": str(row["port"]),
        "use_tls": "on" if row["use_tls"] else "",
        "username": row["username"],
        "hotspot_server": row["hotspot_server"],
        "mpesa_account_id": str(row["mpesa_account_id"] or ""),
    }


async def routers(db: Database, scope: Scope) -> list[sqlite3.Row]:
    return await db.fetchall(
        "SELECT r.*, a.name AS account FROM routers r LEFT JOIN mpesa_accounts a ON a.id = r.mpesa_account_id"
        " WHERE r.tenant_id IN (SELECT value FROM json_each(?)) ORDER BY r.tenant_id, r.name",
        (scope.param,),
    )


async def router(db: Database, scope: Scope, router_id: int) -> sqlite3.Row | None:
    return await db.fetchone(
        "SELECT * FROM routers WHERE id = ? AND tenant_id IN (SELECT value FROM json_each(?))",
        (router_id, scope.param),
    )


async def create_router(tx: Transaction, clock: Clock, vault: Vault, tenant_id: int, spec: RouterSpec) -> int:
    try:
        cursor = await tx.execute(
            "INSERT INTO routers (tenant_id, name, host, port, use_tls, username, password_enc,"
            " hotspot_server, mpesa_account_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
    except sqlite3.IntegrityError:
        raise RouterError("name", "Another router already has that name.") from None
    # A new router needs the tenant's packages as profiles before it can grant anything.
    await queue_profile_sync(tx, clock, tenant_id, cursor.lastrowid)
    return cursor.lastrowid


async def update_router(
    tx: Transaction, vault: Vault, router_id: int, tenant_id: int, spec: RouterSpec
) -> bool:
    """Changes the router; a password given replaces the stored one, none keeps it. False if the tenant
    has no such router, or if the kept password would go to another host, port, TLS setting or user
    than it was typed for (read_router asks for it again; this holds even against a racing edit)."""
    try:
        cursor = await tx.execute(
            "UPDATE routers SET name = ?, host = ?, port = ?, use_tls = ?, username = ?, hotspot_server = ?,"
            " mpesa_account_id = ?, password_enc = coalesce(?, password_enc) WHERE id = ? AND tenant_id = ?"
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
    except sqlite3.IntegrityError:
        raise RouterError("name", "Another router already has that name.") from None
    return cursor.rowcount == 1
