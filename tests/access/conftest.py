"""What the access tests share: a business with one router on the RouterOS emulator (the real peer, over
loopback TCP through routeros-api), the outbox worker and the sync that drive it, and helpers that buy
time and read back what the database and the router hold. Time only moves when a test advances it."""

from dataclasses import dataclass

import pytest

from portal.access import provisioning, sessions
from portal.access.sync import RouterSync
from portal.access.worker import RouterWorker
from portal.catalog import packages
from portal.catalog.packages import PackageSpec
from portal.gateways.base import Plan
from portal.gateways.registry import Gateways
from portal.gateways.routeros.gateway import profile_name
from portal.jobs import Jobs
from portal.metrics import Metrics
from portal.store import Connection
from portal.tenancy import tenants
from tests.conftest import reach, rows

MAC = "AA:BB:CC:DD:EE:01"
IP = "10.5.50.11"
HOUR = 3600


@dataclass(frozen=True)
class Site:
    """A business selling one package (an hour at 1M/2M for 10 KES) on one router."""

    tenant_id: int
    package_id: int
    router_id: int


def add_package(
    db: Connection, clock, tenant_id: int, name="1 hour", seconds=HOUR, rate="1M/2M", cap=None, price=10
) -> int:
    return packages.create(db, clock, tenant_id, PackageSpec(name, price, seconds, rate, cap))


def router_form(name: str, port: int) -> dict[str, str]:
    """A router on loopback as a person types it (the emulator's API user admin / secret)."""
    return {"name": name, "host": "127.0.0.1", "port": str(port), "username": "admin", "password": "secret"}


def add_site(db: Connection, clock, vault, port: int) -> Site:
    tenant_id = tenants.create(db, clock, "cafe", "Cafe Wi-Fi")
    package_id = add_package(db, clock, tenant_id)
    router_id = provisioning.add_router_as_typed(db, clock, vault, tenant_id, router_form("cafe", port))
    return Site(tenant_id, package_id, router_id)


@pytest.fixture
async def worker(store, clock, vault):
    gateways = Gateways(reach(timeout=0.5))
    worker = RouterWorker(store, clock, vault, gateways, Metrics())
    yield worker
    await worker.stop()
    await gateways.close()


@pytest.fixture
def sync(store, clock, worker) -> RouterSync:
    return RouterSync(store, clock, worker)


@pytest.fixture
async def site(store, clock, vault, emulator, worker) -> Site:
    site = await store.write(add_site, clock, vault, emulator.port)
    await worker.run_due_tasks()  # the new router's plans: a router set up and ready to sell
    return site


@pytest.fixture
async def jobs(settings, store, clock, vault, worker, sync):
    """The event-driven jobs of the running app (jobs.py) on the test's clock: the router tasks and the
    session expiry loops. Nothing here uses M-Pesa, and the periodic jobs stay off."""
    jobs = Jobs(settings, clock, store, vault, None, worker, sync, None, None, None)
    jobs.router_tasks.start()
    jobs.expiry.start()
    yield jobs
    await jobs.router_tasks.stop()
    await jobs.expiry.stop()


async def buy(store, clock, vault, site: Site, mac=MAC, seconds=HOUR, ip=IP) -> int:
    """A purchase of the site's package (its paid payment, a used voucher): the session it went to."""
    return await store.write(
        sessions.open_session,
        clock,
        vault,
        tenant_id=site.tenant_id,
        router_id=site.router_id,
        package_id=site.package_id,
        mac=mac,
        ip=ip,
        seconds=seconds,
    )


async def session(store, session_id: int) -> sessions.Session:
    return await store.read(sessions.get, session_id)


async def tasks(store, session_id: int) -> list:
    """The session's router tasks as stored, oldest first (their state and back-off are no owner's
    business to show)."""
    return await rows(
        store, "SELECT * FROM router_tasks WHERE access_session_id = ? ORDER BY id", (session_id,)
    )


async def attempts(store, task_id: int) -> list[bool]:
    """Whether each try at the task worked, in order."""
    tried = await rows(store, "SELECT ok FROM router_task_attempts WHERE task_id = ? ORDER BY id", (task_id,))
    return [bool(row["ok"]) for row in tried]


def profile(package_id: int) -> str:
    """The name of the package's plan on a RouterOS router."""
    return profile_name(Plan(package_id, speed=None))


def logins(emulator, mac=MAC) -> list:
    return [s for s in emulator.sentences if s[0] == "/ip/hotspot/active/login" and f"=user={mac}" in s]


def user_on_router(emulator, mac=MAC) -> dict | None:
    found = emulator.console("/ip/hotspot/user/print", queries=[f"name={mac}"]).rows
    return found[0] if found else None


def has(emulator, mac: str, expected: bool = True):
    """For `eventually`: the router gives `mac` access (or, with expected=False, no longer does)."""

    async def check() -> bool:
        return emulator.has_access(mac) == expected

    return check


def in_state(store, session_id: int, state: str):
    """For `eventually`: the session is in `state` in the database."""

    async def check() -> bool:
        return (await session(store, session_id)).state == state

    return check


def assert_data_left(router, mac: str, left: int) -> None:
    """The device is online until it has moved exactly `left` more bytes."""
    router.traffic(mac, left // 2, left - left // 2 - 1)
    assert router.has_access(mac)
    router.traffic(mac, 1, 0)
    assert not router.has_access(mac) and router.ended[-1]["cause"] == "traffic-limit"


async def capped(store, clock, site: Site, cap: int) -> Site:
    """The site, selling a package of `cap` bytes."""
    package_id = await store.write(add_package, clock, site.tenant_id, name="1 MB", cap=cap)
    return Site(site.tenant_id, package_id, site.router_id)


async def moved_after_using(store, clock, vault, site: Site, worker, emulator, new_mac: str) -> int:
    """A 1 MB session whose device used 600 kB, moved to `new_mac` on the same router; its session id."""
    emulator.connect_device(MAC, IP)
    emulator.connect_device(new_mac, "10.5.50.99")
    session_id = await buy(store, clock, vault, await capped(store, clock, site, 1_000_000))
    await worker.run_due_tasks()
    emulator.traffic(MAC, 100_000, 500_000)
    await store.write(
        sessions.move_session, clock, session_id, router_id=site.router_id, mac=new_mac, ip="10.5.50.99"
    )
    return session_id
