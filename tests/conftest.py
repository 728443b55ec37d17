"""Fixtures shared by every test: a fixed clock, a fresh migrated database, a vault, settings."""

import asyncio
import contextlib
import datetime
import ipaddress
import socket
import ssl
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from cryptography.fernet import Fernet

from portal import settings as config
from portal.app import Services, create_app
from portal.catalog import packages
from portal.catalog.packages import PackageSpec
from portal.cli.certificates import make_self_signed
from portal.cli.demo import DEMO_DEVICE, DEMO_ROUTER, DemoData, add_simulator_account, connect, seed
from portal.cli.serving import background
from portal.clock import FixedClock
from portal.gateways.reach import Reach
from portal.sim.daraja import Simulator, create_simulator
from portal.sim.routeros import RouterEmulator
from portal.store import Connection
from portal.store.sqlite import SQLiteStore
from portal.tenancy import tenants
from portal.vault import Vault


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def vault() -> Vault:
    return Vault([Fernet.generate_key()])


# The RouterOS emulator listens on loopback, which the default ranges leave out (no real router is there).
ROUTER_NETWORKS = [*config.PRIVATE_NETWORKS, "127.0.0.0/8"]


@pytest.fixture
def settings(tmp_path: Path) -> config.Settings:
    return config.from_mapping(
        {"store": {"data_dir": str(tmp_path)}, "routers": {"allowed_networks": ROUTER_NETWORKS}},
        environ={},
        source="test",
    )


def reach(timeout: float = 2.0) -> Reach:
    """How the tests' gateways reach the emulator: on loopback, waiting `timeout` for anything."""
    networks = config.from_mapping({"routers": {"allowed_networks": ROUTER_NETWORKS}}, environ={})
    return Reach(networks.routers.allowed_networks, timeout, timeout)


@pytest.fixture
async def store(settings: config.Settings):
    """A fresh, migrated database (the store portal serve opens), with nothing running on it."""
    opened = await SQLiteStore.open(settings.database_path)
    await opened.migrate()
    yield opened
    await opened.close()


# SQL straight at the database, for tests that set up or check what no page shows.


async def value(store, sql: str, params=()):
    return await store.read(lambda db: db.value(sql, params))


async def rows(store, sql: str, params=()) -> list:
    return await store.read(lambda db: db.all(sql, params))


async def execute(store, sql: str, params=()) -> int:
    return await store.write(lambda db: db.execute(sql, params))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.asynccontextmanager
async def serving(app, port: int | None = None) -> AsyncIterator[str]:
    """Runs an ASGI app under uvicorn on 127.0.0.1 in this event loop, as `portal serve` runs it; yields
    its base URL. Tests then talk to it over real HTTP."""
    async with background(app, "127.0.0.1", port or free_port()) as base:
        yield base


@dataclass
class RunningSimulator:
    base_url: str
    sim: Simulator  # its state and knobs (sim.options, sim.fail_next, sim.settle)


@pytest.fixture
async def daraja(clock) -> AsyncIterator[RunningSimulator]:
    """The Daraja simulator (portal/sim/daraja.py) on loopback, on the test's clock."""
    app = create_simulator(clock)
    async with serving(app) as base:
        yield RunningSimulator(base, app.state.simulator)


@dataclass
class Shop:
    tenant_id: int
    package_id: int  # KES 20
    account_id: int  # Demo Cafe, PayBill 174379 on the simulator


def seed_shop(db: Connection, vault: Vault, clock, daraja_url: str, slug: str = "cafe") -> Shop:
    """A business with one package and an M-Pesa account on the Daraja simulator (run it in a write)."""
    tenant_id = tenants.create(db, clock, slug, "Demo Cafe")
    package_id = packages.create(db, clock, tenant_id, PackageSpec("3 hours", 20, 10800, "", None))
    account_id = add_simulator_account(db, vault, clock, tenant_id, daraja_url)
    return Shop(tenant_id, package_id, account_id)


@dataclass
class RunningPortal:
    base_url: str
    services: Services


@contextlib.asynccontextmanager
async def running_portal(
    settings: config.Settings, clock, vault, *, callbacks: bool = True, http_transport=None, **mpesa
) -> AsyncIterator[RunningPortal]:
    """The portal on loopback. With `callbacks`, its public URL is its own address, so Daraja (the
    simulator) can call back; without, it is behind NAT and confirms by query. `mpesa` changes
    settings.mpesa."""
    port = free_port()
    server = replace(settings.server, public_url=f"http://127.0.0.1:{port}" if callbacks else "")
    settings = replace(settings, server=server, mpesa=replace(settings.mpesa, **mpesa))
    app = create_app(settings, clock=clock, vault=vault, http_transport=http_transport)
    async with serving(app, port) as base:
        # The reconcile job runs every second, on real time; tests call confirmation.reconcile_due themselves,
        # after moving the clock, so that what happens is what the test says.
        app.state.services.jobs.scheduler.pause()
        yield RunningPortal(base, app.state.services)


@pytest.fixture
async def portal(settings, clock, vault) -> AsyncIterator[RunningPortal]:
    """The portal on loopback, reachable by the Daraja simulator's callbacks."""
    async with running_portal(settings, clock, vault) as running:
        yield running


@pytest.fixture
async def shop(portal, daraja, vault, clock) -> Shop:
    return await portal.services.store.write(seed_shop, vault, clock, daraja.base_url)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


@pytest.fixture
async def emulator(clock) -> AsyncIterator[RouterEmulator]:
    """A RouterOS API emulator on a loopback port, on the test's clock (API user admin / secret)."""
    router = RouterEmulator(clock, identity="cafe-router")
    await router.start()
    yield router
    await router.stop()


async def eventually(condition, seconds: float = 5.0) -> None:
    """Waits (in real time, bounded) for work the test set going to show its effect on the router or in
    the database, which offer no event to wait on."""
    async with asyncio.timeout(seconds):
        while not await condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


@dataclass
class Hotspot:
    """The demo business on the simulators, as `portal demo` runs it: the portal, Daraja, a router."""

    portal: RunningPortal
    daraja: RunningSimulator
    emulator: RouterEmulator
    demo: DemoData
    router: str = DEMO_ROUTER

    def splash_url(self, mac: str = DEMO_DEVICE[0], ip: str = DEMO_DEVICE[1], **extra: str) -> str:
        device = {"router": self.router, "mac": mac, "ip": ip, "link-orig": "http://example.com/"} | extra
        return f"{self.portal.base_url}/?{urlencode(device)}"


@contextlib.asynccontextmanager
async def running_hotspot(
    settings, clock, vault, daraja, *, callbacks: bool = True
) -> AsyncIterator[Hotspot]:
    """The demo business on the simulators; without `callbacks`, behind NAT (it confirms by query)."""
    emulator = RouterEmulator(clock, users={"admin": "secret"}, identity=DEMO_ROUTER)
    await emulator.start()
    emulator.connect_device(*DEMO_DEVICE)
    try:
        async with running_portal(settings, clock, vault, callbacks=callbacks) as portal:
            store = portal.services.store
            demo = await store.write(seed, clock)
            await store.write(connect, clock, vault, demo.tenant_id, daraja.base_url, emulator.port, "secret")
            yield Hotspot(portal, daraja, emulator, demo)
    finally:
        await emulator.stop()


@pytest.fixture
async def hotspot(settings, clock, vault, daraja) -> AsyncIterator[Hotspot]:
    async with running_hotspot(settings, clock, vault, daraja) as running:
        yield running


@pytest.fixture
async def nat_hotspot(settings, clock, vault, daraja) -> AsyncIterator[Hotspot]:
    """The demo business behind NAT: no callback reaches it, it confirms by STK query."""
    async with running_hotspot(settings, clock, vault, daraja, callbacks=False) as running:
        yield running


def on_two_ports(settings: config.Settings) -> config.Settings:
    """The portal's two listeners on loopback ports of their own, as `portal serve` runs them (with
    `portal_listening`); the routers seeded at 10.0.0.1 out of reach, so no job tries them."""
    server = replace(settings.server, host="127.0.0.1", port=free_port())
    admin = replace(settings.admin, host="127.0.0.1", port=free_port())
    routers = replace(settings.routers, allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),))
    return replace(settings, server=server, admin=admin, routers=routers)


@pytest.fixture
def certificate(tmp_path, clock) -> tuple[Path, Path]:
    """The admin's certificate and key, made as `portal admin-cert` makes them."""
    files = tmp_path / "admin.crt", tmp_path / "admin.key"
    make_self_signed(*files, ["portal.lan", "127.0.0.1"], clock.now())
    return files


def self_signed_context(tmp_path) -> ssl.SSLContext:
    """api-ssl with a self-signed certificate, as most routers that have one carry."""
    folder = Path(tempfile.mkdtemp(dir=tmp_path))  # a new key each time
    certificate, key = folder / "cert.pem", folder / "key.pem"
    make_self_signed(certificate, key, ["router", "127.0.0.1"], datetime.datetime.now(datetime.UTC))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    return context


# RFC 7919's ffdhe2048 group: public, fixed parameters for a router's certificate-less api-ssl.
FFDHE2048 = """-----BEGIN DH PARAMETERS-----
MIIBCAKCAQEA//////////+t+FRYortKmq/cViAnPTzx2LnFg84tNpWp4TZBFGQz
+8yTnc4kmz75fS/jY2MMddj2gbICrsRhetPfHtXV/WVhJDP1H18GbtCFY2VVPe0a
87VXE15/V8k1mE8McODmi3fipona8+/och3xWKE2rec1MKzKT0g6eXq8CrGCsyT7
YdEIqUuyyOP7uWrat2DX9GgdT0Kj3jlN9K5W7edjcrsZCwenyO4KbXCeAvzhzffi
7MA0BM0oNC9hkXL+nOmFg/+OTxIy7vKBg8P+OxtMb61zO7X8vC7CIAXFjvGDfRaD
ssbzSibBsu/6iGtCOGEoXJf//////////wIBAg==
-----END DH PARAMETERS-----
"""


def anonymous_dh_context(tmp_path) -> ssl.SSLContext:
    """api-ssl on a router with no certificate: anonymous Diffie-Hellman, TLS 1.2 at most."""
    (tmp_path / "dh.pem").write_text(FFDHE2048)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_ciphers("ADH:@SECLEVEL=0")
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.load_dh_params(tmp_path / "dh.pem")
    return context
