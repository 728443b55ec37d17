"""The figures behind scripts/bench-router: purchase-to-online latency, expiry lateness, full sync time.

Real clock, real sockets, the real routeros-api. The emulator and the portal (its services and jobs,
no web server) share one process and one event loop (as in the tests), so the figures include the
emulator's own work. The baseline, measured in the same run against the same emulator: one RouterOS
API round trip (`/system/identity/print` through routeros-api, run off the event loop as the gateway
runs its calls), so a grant reads as so many round trips.
"""

import argparse
import asyncio
import random
import shutil
import socket
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import routeros_api
from bench_common import ms, percentile, spread, times
from cryptography.fernet import Fernet

from portal import settings as config
from portal.access import outbox, provisioning, sessions
from portal.app import create_app
from portal.catalog import packages
from portal.catalog.packages import PackageSpec
from portal.clock import SystemClock, to_text
from portal.gateways.base import Plan
from portal.gateways.routeros.gateway import GRACE_SECONDS, mark, profile_name
from portal.sim.routeros import RouterEmulator
from portal.tenancy import tenants
from portal.vault import Vault, fingerprint

clock = SystemClock()
SEED_SESSION = (
    "INSERT INTO access_sessions (tenant_id, router_id, package_id, mac, ip, state, paid_seconds,"
    " access_code_hash, access_code_enc, started_at, expires_at, created_at, updated_at)"
    " VALUES (?, ?, ?, ?, ?, 'active', 3600, ?, '', ?, ?, ?, ?) RETURNING id"
)


def mac_of(n: int) -> str:
    return f"02:00:{n >> 24 & 255:02X}:{n >> 16 & 255:02X}:{n >> 8 & 255:02X}:{n & 255:02X}"


def ip_of(n: int) -> str:
    return f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"


async def wait_until(condition, limit: float = 300) -> None:
    deadline = time.monotonic() + limit
    while not await condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the benchmark waited too long")
        await asyncio.sleep(0.001)


def round_trips(port: int, count: int) -> list[float]:
    """`count` `/system/identity/print` calls on one API connection, each timed alone (blocking: run
    it on a thread of its own, as the gateway runs routeros-api on one)."""
    pool = routeros_api.RouterOsApiPool("127.0.0.1", "admin", "secret", port, plaintext_login=True)
    try:
        api = pool.get_api()
        # As the gateway's connection: without it each command waits ~40 ms for a delayed ACK.
        pool.socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        identity = api.get_resource("/system/identity")
        durations = []
        for _ in range(count):
            started = time.perf_counter()
            identity.get()
            durations.append(time.perf_counter() - started)
        return durations
    finally:
        pool.disconnect()


class Bench:
    def __init__(self, services, vault: Vault):
        self.services, self.store, self.vault = services, services.store, vault

    async def setup(self) -> None:
        def shop(db) -> tuple[int, int]:
            tenant_id = tenants.create(db, clock, "bench", "Bench")
            return tenant_id, packages.create(
                db, clock, tenant_id, PackageSpec("1 hour", 10, 3600, "1M/2M", None)
            )

        self.tenant_id, self.package_id = await self.store.write(shop)

    async def router(self, name: str, emulator: RouterEmulator) -> int:
        fields = {
            "name": name, "host": "127.0.0.1", "port": str(emulator.port),
            "username": "admin", "password": "secret",
        }  # fmt: skip
        router_id = await self.store.write(
            provisioning.add_router_as_typed, clock, self.vault, self.tenant_id, fields
        )
        # Its plans go out first (a router can't grant before it has them): not part of any figure.
        self.services.jobs.wake()
        await wait_until(lambda: self.store.read(lambda db: not outbox.queued_by_router(db).get(router_id)))
        return router_id

    async def buy(self, router_id: int, numbers: range, seconds: float) -> list[int]:
        def open_all(db) -> list[int]:
            where = {"tenant_id": self.tenant_id, "router_id": router_id, "package_id": self.package_id}
            return [
                sessions.open_session(
                    db, clock, self.vault, **where, mac=mac_of(n), ip=ip_of(n), seconds=seconds
                )
                for n in numbers
            ]

        ids = await self.store.write(open_all)
        self.services.jobs.wake()  # as a payment does once it has committed
        return ids

    async def all_in_state(self, ids: list[int], state: str) -> bool:
        found = await self.store.read(sessions.by_ids, ids)
        return all(session.state == state for session in found.values())

    async def grant_latency(self, emulator: RouterEmulator, router_id: int, numbers: range) -> list[float]:
        """From the router task's creation to the session being active on the router."""
        for n in numbers:
            emulator.connect_device(mac_of(n), ip_of(n))
        ids = await self.buy(router_id, numbers, 3600)
        await wait_until(lambda: self.all_in_state(ids, "active"))

        def grants_queued(db) -> dict[str, object]:
            found = sessions.by_ids(db, ids)
            return {
                found[session_id].mac: next(task.created_at for task, _ in outbox.history(db, session_id))
                for session_id in ids
            }

        created = await self.store.read(grants_queued)
        online = {
            login["mac-address"]: login["at"] for login in emulator.logins if login["mac-address"] in created
        }
        return [(online[mac] - created[mac]).total_seconds() for mac in created]

    async def expiry_lateness(self, emulator: RouterEmulator, router_id: int, numbers: range) -> list[float]:
        """From the end of the paid time to the device being off the router."""
        for n in numbers:
            emulator.connect_device(mac_of(n), ip_of(n))
        ids = []
        for n in numbers:  # separate purchases, each ending at its own moment
            ids += await self.buy(router_id, range(n, n + 1), random.randint(2, 6))
        await wait_until(lambda: self.all_in_state(ids, "expired"), limit=60)
        macs = {mac_of(n) for n in numbers}

        async def all_off() -> bool:
            return macs <= {end["mac-address"] for end in emulator.ended}

        await wait_until(all_off, limit=60)
        found = await self.store.read(sessions.by_ids, ids)
        off = {end["mac-address"]: end["at"] for end in emulator.ended}
        return [(off[session.mac] - session.expires_at).total_seconds() for session in found.values()]

    async def seed_online(self, emulator: RouterEmulator, router_id: int, numbers: range) -> None:
        """Sessions straight into the database and users straight onto the router, as if granted earlier."""
        now = clock.now()
        expires_at = now + timedelta(hours=1)
        profile = profile_name(Plan(self.package_id, None))

        stamps = (to_text(now), to_text(expires_at), to_text(now), to_text(now))

        def insert_all(db) -> list[int]:
            # Raw SQL for speed: the seeding is not what is measured.
            return [
                db.value(SEED_SESSION, (self.tenant_id, router_id, self.package_id, *device(n), *stamps))
                for n in numbers
            ]

        def device(n: int) -> tuple[str, str, str]:
            return mac_of(n), ip_of(n), fingerprint(f"bench-{n}")

        session_ids = await self.store.write(insert_all)
        for n, session_id in zip(numbers, session_ids, strict=True):
            emulator.console(
                "/ip/hotspot/user/add",
                {"name": mac_of(n), "password": "p", "mac-address": mac_of(n), "profile": profile}
                | {"limit-uptime": str(3600 + GRACE_SECONDS), "comment": mark(session_id, expires_at)},
            )
            emulator.connect_device(mac_of(n), ip_of(n))
            emulator.console("/ip/hotspot/active/login", {"user": mac_of(n), "password": "p", "ip": ip_of(n)})


async def main(arguments: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-router-"))
    # The emulators listen on loopback, outside the ranges a real router may be in.
    reach = {"allowed_networks": [*config.PRIVATE_NETWORKS, "127.0.0.0/8"]}
    settings = config.from_mapping(
        {"store": {"data_dir": str(folder)}, "routers": reach}, environ={}, source="bench"
    )
    vault = Vault([Fernet.generate_key()])
    routers = [RouterEmulator(clock), RouterEmulator(clock)]
    for emulator in routers:
        await emulator.start()
    app = create_app(settings, clock=clock, vault=vault)
    try:
        async with app.lifespan():
            services = app.state.services
            # The router-task and expiry loops run as in `portal serve`; the periodic jobs (queries, the
            # sync every 30 s) would only add noise, and the sync is measured on its own below.
            services.jobs.scheduler.pause()
            await run(arguments, Bench(services, vault), routers, folder)
    finally:
        for emulator in routers:
            await emulator.stop()
        shutil.rmtree(folder, ignore_errors=True)


async def run(
    arguments: argparse.Namespace, bench: Bench, routers: list[RouterEmulator], folder: Path
) -> None:
    await bench.setup()
    print(f"database in {folder}; the emulator runs in the same process")
    quiet, big = routers
    router_id = await bench.router("quiet", quiet)

    with ThreadPoolExecutor(1) as thread:
        trips = await asyncio.get_running_loop().run_in_executor(
            thread, round_trips, quiet.port, arguments.single
        )
    trip = percentile(trips, 0.5)
    print(f"baseline, one RouterOS API round trip (/system/identity/print):  {spread(trips)}")

    latencies = []
    for n in range(arguments.single):
        latencies += await bench.grant_latency(quiet, router_id, range(n, n + 1))
    print(f"task created -> active on router, one purchase at a time: {spread(latencies)}")
    print(f"  p50 = {times(percentile(latencies, 0.5), trip)} a round trip")
    latencies = await bench.grant_latency(quiet, router_id, range(10**6, 10**6 + arguments.burst))
    print(f"task created -> active on router, {arguments.burst} at once:        {spread(latencies)}")
    print(f"  p50 = {times(percentile(latencies, 0.5), trip)} a round trip")
    lateness = await bench.expiry_lateness(quiet, router_id, range(2 * 10**6, 2 * 10**6 + arguments.expiries))
    print(f"expiry lateness, paid time over -> off the router:     {spread(lateness)}")

    router_id = await bench.router("big", big)
    await bench.seed_online(big, router_id, range(3 * 10**6, 3 * 10**6 + arguments.users))
    started = time.perf_counter()
    report = await bench.services.sync.sync_router(router_id)
    took = time.perf_counter() - started
    print(f"full sync, {arguments.users} users online, nothing to repair: {ms(took)}")
    print(f"  = {times(took, trip)} a round trip")
    big.reboot()
    for n in range(3 * 10**6, 3 * 10**6 + arguments.users):
        big.connect_device(mac_of(n), ip_of(n))
    started = time.perf_counter()
    report = await bench.services.sync.sync_router(router_id)
    took = time.perf_counter() - started
    each = took / max(report.restored, 1)
    print(f"full sync after a reboot, {report.restored} devices logged in again: {took:.1f} s")
    print(f"  = {ms(each)} a device, {times(each, trip)} a round trip")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--single", type=int, default=200, help="purchases made one at a time (default 200)")
    parser.add_argument("--burst", type=int, default=500, help="purchases made at once (default 500)")
    parser.add_argument(
        "--expiries", type=int, default=200, help="sessions whose expiry is timed (default 200)"
    )
    parser.add_argument(
        "--users", type=int, default=10_000, help="users on the router for the sync (default 10000)"
    )
    asyncio.run(main(parser.parse_args()))
