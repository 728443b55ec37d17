"""The figures behind scripts/bench-router: purchase-to-online latency, expiry lateness, full sync time,
the longest the event loop is held while a router syncs, and what many routers' syncs do to callbacks.

Real clock, real sockets, the real routeros-api. The emulators and the portal (its services and jobs,
no web server) share one process, so the figures include the emulators' own work; but the emulators
run on an event loop of their own, on a thread of their own (a router is a machine of its own), so
their work is never counted as the portal's loop held. The baselines, measured in the same run
against the same emulators: one RouterOS API round trip (`/system/identity/print` through
routeros-api, run off the event loop as the gateway runs its calls), so a grant reads as so many round
trips; the longest loop block with nothing running; the callbacks' latency with no sync running.
"""

import argparse
import asyncio
import gc
import random
import shutil
import socket
import tempfile
import threading
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
from portal.cli.demo import add_simulator_account
from portal.clock import SystemClock, to_text
from portal.gateways.base import Plan
from portal.gateways.routeros.gateway import GRACE_SECONDS, mark, profile_name
from portal.mpesa.callbacks import StkResult
from portal.sim.routeros import RouterEmulator
from portal.tenancy import tenants
from portal.vault import Vault, fingerprint

clock = SystemClock()
SEED_SESSION = (
    "INSERT INTO access_sessions (tenant_id, router_id, package_id, mac, ip, state, paid_seconds,"
    " access_code_hash, access_code_enc, started_at, expires_at, created_at, updated_at)"
    " VALUES (?, ?, ?, ?, ?, 'active', 3600, ?, '', ?, ?, ?, ?) RETURNING id"
)


SEED_PAYMENT = (
    "INSERT INTO payments (tenant_id, ref, callback_token, mpesa_account_id, package_id, phone, amount,"
    " state, merchant_request_id, checkout_request_id, created_at, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, 10, 'pending', ?, ?, ?, ?)"
)


class Elsewhere:
    """An event loop on a thread of its own, for the emulators; their hooks run on it through `run`."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="emulators", daemon=True)
        self._thread.start()

    def run(self, work, *args):
        async def call():
            return work(*args)

        return self.wait(call())

    def wait(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()


def connect_all(emulator: RouterEmulator, numbers: range) -> None:
    for n in numbers:
        emulator.connect_device(mac_of(n), ip_of(n))


class LoopWatch:
    """The longest the event loop was held (not running anything else) while the watch was on: a task
    that asks to wake every millisecond notes how late it wakes."""

    def __init__(self):
        self.longest = 0.0
        self._task: asyncio.Task | None = None

    async def _watch(self) -> None:
        while True:
            asked = time.perf_counter()
            await asyncio.sleep(0.001)
            self.longest = max(self.longest, time.perf_counter() - asked - 0.001)

    def __enter__(self) -> "LoopWatch":
        self._task = asyncio.create_task(self._watch())
        return self

    def __exit__(self, *_) -> None:
        self._task.cancel()


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
    def __init__(self, services, vault: Vault, elsewhere: Elsewhere):
        self.services, self.store, self.vault, self.elsewhere = services, services.store, vault, elsewhere

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
        self.elsewhere.run(connect_all, emulator, numbers)
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
        self.elsewhere.run(connect_all, emulator, numbers)
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

        def on_router(session_ids: list[int]) -> None:
            for n, session_id in zip(numbers, session_ids, strict=True):
                emulator.console(
                    "/ip/hotspot/user/add",
                    {"name": mac_of(n), "password": "p", "mac-address": mac_of(n), "profile": profile}
                    | {"limit-uptime": str(3600 + GRACE_SECONDS), "comment": mark(session_id, expires_at)},
                )
                emulator.connect_device(mac_of(n), ip_of(n))
                login = {"user": mac_of(n), "password": "p", "ip": ip_of(n)}
                emulator.console("/ip/hotspot/active/login", login)

        self.elsewhere.run(on_router, await self.store.write(insert_all))

    async def pending_payments(self, count: int) -> list[tuple[str, StkResult]]:
        """Payments waiting for their STK callback, and each one's callback: the customer cancelled (a
        callback that changes the payment, and gives no router anything to do)."""

        def insert_all(db) -> list[tuple[str, StkResult]]:
            account_id = add_simulator_account(db, self.vault, clock, self.tenant_id, "http://127.0.0.1:9")
            now = to_text(clock.now())
            callbacks = []
            for n in range(count):
                token, checkout = f"bench-{n:032d}", f"ws_CO_bench_{n}"
                values = (self.tenant_id, f"BENCH{n}", token, account_id, self.package_id)
                phone = f"2547{n:08d}"
                db.execute(SEED_PAYMENT, (*values, phone, f"bench-{n}", checkout, now, now))
                cancelled = StkResult(f"bench-{n}", checkout, "1032", "Request cancelled by user")
                callbacks.append((token, cancelled))
            return callbacks

        return await self.store.write(insert_all)

    async def callback_latency(self, callbacks: list[tuple[str, StkResult]], every: float) -> list[float]:
        """Records the callbacks one after the other, one every `every` seconds (as Daraja sends them,
        not as fast as possible): how long each took, from its arrival to its commit."""
        latencies = []
        for token, result in callbacks:
            started = time.perf_counter()
            await self.services.confirmation.record_callback(token, result, source="bench")
            took = time.perf_counter() - started
            latencies.append(took)
            await asyncio.sleep(max(0.0, every - took))
        return latencies


async def main(arguments: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-router-"))
    # The emulators listen on loopback, outside the ranges a real router may be in.
    reach = {"allowed_networks": [*config.PRIVATE_NETWORKS, "127.0.0.0/8"]}
    settings = config.from_mapping(
        {"store": {"data_dir": str(folder)}, "routers": reach}, environ={}, source="bench"
    )
    vault = Vault([Fernet.generate_key()])
    elsewhere = Elsewhere()
    routers = [RouterEmulator(clock) for _ in range(2 + arguments.routers)]
    for emulator in routers:
        elsewhere.wait(emulator.start())
    app = create_app(settings, clock=clock, vault=vault)
    try:
        async with app.lifespan():
            services = app.state.services
            # The router-task and expiry loops run as in `portal serve`; the periodic jobs (queries, the
            # sync every 30 s) would only add noise, and the sync is measured on its own below.
            services.jobs.scheduler.pause()
            await run(arguments, Bench(services, vault, elsewhere), routers, folder)
    finally:
        for emulator in routers:
            elsewhere.wait(emulator.stop())
        elsewhere.stop()
        shutil.rmtree(folder, ignore_errors=True)


async def run(
    arguments: argparse.Namespace, bench: Bench, routers: list[RouterEmulator], folder: Path
) -> None:
    await bench.setup()
    print(f"database in {folder}; the emulator runs in the same process")
    quiet, big, *many = routers
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
    # What the emulators hold is the routers' memory, not the portal's: the portal's collections of
    # garbage must not walk it (each full one held the loop for hundreds of ms).
    gc.freeze()
    with LoopWatch() as idle:
        await asyncio.sleep(1)
    print(f"baseline, longest event-loop block with nothing running (1 s): {ms(idle.longest)}")
    started = time.perf_counter()
    with LoopWatch() as watch:
        report = await bench.services.sync.sync_router(router_id)
    took = time.perf_counter() - started
    print(f"full sync, {arguments.users} users online, nothing to repair: {ms(took)}")
    print(f"  = {times(took, trip)} a round trip; longest event-loop block meanwhile {ms(watch.longest)}")
    bench.elsewhere.run(big.reboot)
    bench.elsewhere.run(connect_all, big, range(3 * 10**6, 3 * 10**6 + arguments.users))
    started, cpu = time.perf_counter(), time.process_time()
    with LoopWatch() as watch:
        report = await bench.services.sync.sync_router(router_id)
    took, cpu = time.perf_counter() - started, time.process_time() - cpu
    each = took / max(report.restored, 1)
    print(
        f"full sync after a reboot, {report.restored} devices logged in again: {took:.1f} s ({cpu:.1f} s CPU)"
    )
    print(
        f"  = {ms(each)} a device, {times(each, trip)} a round trip;"
        f" longest event-loop block {ms(watch.longest)}"
    )
    if many:
        await many_routers(arguments, bench, many)


async def many_routers(arguments: argparse.Namespace, bench: Bench, emulators: list[RouterEmulator]) -> None:
    """Callbacks recorded while every router syncs, their syncs spread over the sync interval, beside
    the same callbacks with no sync running and with every sync started at the same moment."""
    count, each = len(emulators), arguments.sessions
    for number, emulator in enumerate(emulators):
        router_id = await bench.router(f"many-{number}", emulator)
        first = 4 * 10**6 + number * each
        await bench.seed_online(emulator, router_id, range(first, first + each))
    gc.freeze()
    over = arguments.sync_over
    callbacks = await bench.pending_payments(3 * int(over / arguments.callback_every))
    runs = [callbacks[part::3] for part in range(3)]
    print(f"{count} routers with {each} sessions each; a callback every {ms(arguments.callback_every)}")
    with LoopWatch() as watch:
        quiet = await bench.callback_latency(runs[0], arguments.callback_every)
    print(
        f"baseline, callbacks with no sync running: {spread(quiet)}; longest loop block {ms(watch.longest)}"
    )
    # All at once first: it is also how the portal synced before the spread (sync_all() then took no
    # argument).
    for label, run, kwargs in (
        ("all at once", runs[1], {}),
        (f"spread over {over:g} s", runs[2], {"over": over}),
    ):
        with LoopWatch() as watch:
            syncing = asyncio.create_task(bench.services.sync.sync_all(**kwargs))
            started = time.perf_counter()
            latencies = await bench.callback_latency(run, arguments.callback_every)
            await syncing
        took = time.perf_counter() - started
        print(f"callbacks while {count} routers sync, {label}: {spread(latencies)}")
        print(
            f"  p99 = {times(percentile(latencies, 0.99), percentile(quiet, 0.99))} the baseline's;"
            f" longest event-loop block {ms(watch.longest)}; the syncs took {took:.1f} s"
        )


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
    parser.add_argument(
        "--routers", type=int, default=1000, help="routers synced while callbacks come in (default 1000)"
    )
    parser.add_argument("--sessions", type=int, default=100, help="sessions on each of them (default 100)")
    parser.add_argument(
        "--sync-over", type=float, default=30, help="seconds their syncs are spread over (default 30)"
    )
    parser.add_argument(
        "--callback-every", type=float, default=0.02, help="seconds between callbacks (default 0.02)"
    )
    asyncio.run(main(parser.parse_args()))
