"""Fixtures shared by every test: a fixed clock, a fresh migrated database, a vault, settings."""

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import uvicorn
from cryptography.fernet import Fernet

from portal import config
from portal.app import Services, create_app
from portal.clock import FixedClock, to_text
from portal.db import Database
from portal.migrations import migrate
from portal.mpesa.accounts import create_account
from portal.sim.daraja import SANDBOX_PASSKEY, Simulator, create_simulator
from portal.tenants import create_tenant
from portal.vault import Vault


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def vault() -> Vault:
    return Vault([Fernet.generate_key()])


@pytest.fixture
def settings(tmp_path: Path) -> config.Settings:
    return config.from_mapping({"store": {"data_dir": str(tmp_path)}}, environ={}, source="test")


@pytest.fixture
async def db(settings: config.Settings):
    database = await Database.open(settings.database_path)
    await migrate(database)
    yield database
    await database.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.asynccontextmanager
async def serving(app, port: int | None = None) -> AsyncIterator[str]:
    """Runs an ASGI app under uvicorn on 127.0.0.1 in this event loop; yields its base URL.

    Tests then talk to it over real HTTP. Waiting for `started` is readiness, not timing.
    """
    port = port or free_port()
    server = uvicorn.Server(
        # proxy_headers off, as `portal serve` runs it: the app itself decides whom to believe.
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
            lifespan="on",
            proxy_headers=False,
        )
    )
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(10):
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("server stopped before it started")
            await asyncio.sleep(0.005)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


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


async def seed_shop(db: Database, vault: Vault, clock, daraja_url: str, slug: str = "cafe") -> Shop:
    """A business with one package and an M-Pesa account on the Daraja simulator."""
    async with db.transaction() as tx:
        tenant_id = await create_tenant(tx, clock, slug, "Demo Cafe")
        now = to_text(clock.now())
        cursor = await tx.execute(
            "INSERT INTO packages (tenant_id, name, price, duration_seconds, created_at, updated_at)"
            " VALUES (?, '3 hours', 20, 10800, ?, ?)",
            (tenant_id, now, now),
        )
        account_id = await create_account(
            tx,
            vault,
            clock,
            tenant_id=tenant_id,
            name="Demo Cafe",
            shortcode="174379",
            kind="paybill",
            environment=daraja_url,
            consumer_key="sim-consumer-key",
            consumer_secret="sim-consumer-secret",
            passkey=SANDBOX_PASSKEY,
        )
    return Shop(tenant_id, cursor.lastrowid, account_id)


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
        # The 2 s reconcile job runs on real time; tests call payments.reconcile_due themselves, after
        # moving the clock, so that what happens is what the test says.
        app.state.services.scheduler.pause()
        yield RunningPortal(base, app.state.services)
