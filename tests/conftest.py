"""Fixtures shared by every test: a fixed clock, a fresh migrated database, a vault, settings."""

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn
from cryptography.fernet import Fernet

from portal import config
from portal.clock import FixedClock
from portal.db import Database
from portal.migrations import migrate
from portal.sim.routeros import RouterEmulator
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
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on")
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


@pytest.fixture
async def emulator(clock) -> AsyncIterator[RouterEmulator]:
    """A RouterOS API emulator on a loopback port, on the test's clock (API user admin / secret)."""
    router = RouterEmulator(clock, identity="cafe-router")
    await router.start()
    yield router
    await router.stop()
