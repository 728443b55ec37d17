"""The figures behind scripts/bench-router: purchase-to-online latency, expiry lateness, full sync time.

Real clock, real sockets, the real routeros-api. The emulator and the portal share one process and one
event loop (as in the tests), so the figures include the emulator's own work.
"""

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from cryptography.fernet import Fernet

from portal.clock import SystemClock, from_text, to_text
from portal.db import Database
from portal.gateway.routeros import GRACE_SECONDS, mark
from portal.migrations import migrate
from portal.routers import Gateways, add_router
from portal.sessions import SessionWorker, open_session
from portal.sim.routeros import RouterEmulator
from portal.tenants import create_tenant
from portal.vault import Vault, fingerprint

clock = SystemClock()


def mac_of(n: int) -> str:
    return f"02:00:{n >> 24 & 255:02X}:{n >> 16 & 255:02X}:{n >> 8 & 255:02X}:{n & 255:02X}"


def ip_of(n: int) -> str:
    return f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def percentiles(values: list[float]) -> str:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return f"p50 {ms(cuts[49])}  p99 {ms(cuts[98])}  max {ms(max(values))}  (n={len(values)})"


async def wait_until(condition, limit: float = 300) -> None:
    deadline = time.monotonic() + limit
    while not await condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the benchmark waited too long")
        await asyncio.sleep(0.001)


class Bench:
    def __init__(self, db: Database, vault: Vault, worker: SessionWorker):
        self.db, self.vault, self.worker = db, vault, worker

    async def setup(self) -> None:
        now = to_text(clock.now())
        async with self.db.transaction() as tx:
            self.tenant_id = await create_tenant(tx, clock, "bench", "Bench")
            cursor = await tx.execute(
                "INSERT INTO packages (tenant_id, name, price, duration_seconds, rate_limit, created_at,"
                " updated_at) VALUES (?, '1 hour', 10, 3600, '1M/2M', ?, ?)",
                (self.tenant_id, now, now),
            )
        self.package_id = cursor.lastrowid

    async def router(self, name: str, emulator: RouterEmulator) -> int:
        async with self.db.transaction() as tx:
            return await add_router(tx, clock, self.vault, self.tenant_id, {
                "name": name, "host": "127.0.0.1", "port": str(emulator.port),
                "username": "admin", "password": "secret",
            })  # fmt: skip

    async def buy(self, router_id: int, numbers: range, seconds: float) -> list[int]:
        ids = []
        async with self.db.transaction() as tx:
            for n in numbers:
                session_id = await open_session(
                    tx, clock, self.vault, tenant_id=self.tenant_id, router_id=router_id,
                    package_id=self.package_id, mac=mac_of(n), ip=ip_of(n), seconds=seconds,
                )  # fmt: skip
                ids.append(session_id)
        self.worker.wake()
        return ids

    async def all_in_state(self, ids: list[int], state: str) -> bool:
        sql = (
            "SELECT count(*) FROM access_sessions WHERE state = ? AND id IN (SELECT value FROM json_each(?))"
        )
        return await self.db.fetchval(sql, (state, json.dumps(ids))) == len(ids)

    async def grant_latency(self, emulator: RouterEmulator, router_id: int, numbers: range) -> list[float]:
        """From the router task's creation to the session being active on the router."""
        for n in numbers:
            emulator.connect_device(mac_of(n), ip_of(n))
        ids = await self.buy(router_id, numbers, 3600)
        await wait_until(lambda: self.all_in_state(ids, "active"))
        rows = await self.db.fetchall(
            "SELECT s.mac, t.created_at FROM router_tasks t"
            " JOIN access_sessions s ON s.id = t.access_session_id"
            " WHERE t.kind = 'grant' AND s.id IN (SELECT value FROM json_each(?))",
            (json.dumps(ids),),
        )
        created = {row["mac"]: from_text(row["created_at"]) for row in rows}
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
        rows = await self.db.fetchall(
            "SELECT mac, expires_at FROM access_sessions WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(ids),),
        )
        off = {end["mac-address"]: end["at"] for end in emulator.ended}
        return [(off[row["mac"]] - from_text(row["expires_at"])).total_seconds() for row in rows]

    async def seed_online(self, emulator: RouterEmulator, router_id: int, numbers: range) -> None:
        """Sessions straight into the database and users straight onto the router, as if granted earlier."""
        now = clock.now()
        expires_at = now + timedelta(hours=1)
        profile = f"portal-p{self.package_id}"
        emulator.console("/ip/hotspot/user/profile/add", {"name": profile, "rate-limit": "1M/2M"})
        async with self.db.transaction() as tx:
            for n in numbers:
                cursor = await tx.execute(
                    "INSERT INTO access_sessions (tenant_id, router_id, package_id, mac, ip, state,"
                    " paid_seconds, access_code_hash, access_code_enc, started_at, expires_at, created_at,"
                    " updated_at) VALUES (?, ?, ?, ?, ?, 'active', 3600, ?, '', ?, ?, ?, ?)",
                    (
                        self.tenant_id, router_id, self.package_id, mac_of(n), ip_of(n),
                        fingerprint(f"bench-{n}"), to_text(now), to_text(expires_at), to_text(now),
                        to_text(now),
                    ),
                )  # fmt: skip
                emulator.console(
                    "/ip/hotspot/user/add",
                    {"name": mac_of(n), "password": "p", "mac-address": mac_of(n), "profile": profile}
                    | {
                        "limit-uptime": str(3600 + GRACE_SECONDS),
                        "comment": mark(cursor.lastrowid, expires_at),
                    },
                )
                emulator.connect_device(mac_of(n), ip_of(n))
                emulator.console(
                    "/ip/hotspot/active/login", {"user": mac_of(n), "password": "p", "ip": ip_of(n)}
                )


async def main(arguments: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-router-"))
    db = await Database.open(folder / "portal.db")
    vault = Vault([Fernet.generate_key()])
    gateways = Gateways(vault, timeout=5)
    worker = SessionWorker(db, clock, gateways)
    routers = [RouterEmulator(clock), RouterEmulator(clock)]
    try:
        await migrate(db)
        bench = Bench(db, vault, worker)
        await bench.setup()
        worker.start()
        for emulator in routers:
            await emulator.start()
        print(f"database in {folder}; the emulator runs in the same process")

        quiet, big = routers
        router_id = await bench.router("quiet", quiet)
        latencies = []
        for n in range(arguments.single):
            latencies += await bench.grant_latency(quiet, router_id, range(n, n + 1))
        print(f"task created -> active on router, one purchase at a time: {percentiles(latencies)}")
        latencies = await bench.grant_latency(quiet, router_id, range(10**6, 10**6 + arguments.burst))
        print(f"task created -> active on router, {arguments.burst} at once:        {percentiles(latencies)}")
        lateness = await bench.expiry_lateness(
            quiet, router_id, range(2 * 10**6, 2 * 10**6 + arguments.expiries)
        )
        print(f"expiry lateness, paid time over -> off the router:     {percentiles(lateness)}")

        router_id = await bench.router("big", big)
        await bench.seed_online(big, router_id, range(3 * 10**6, 3 * 10**6 + arguments.users))
        started = time.perf_counter()
        report = await worker.sync_router(router_id)
        took = time.perf_counter() - started
        print(f"full sync, {arguments.users} users online, nothing to repair: {ms(took)}")
        big.reboot()
        for n in range(3 * 10**6, 3 * 10**6 + arguments.users):
            big.connect_device(mac_of(n), ip_of(n))
        started = time.perf_counter()
        report = await worker.sync_router(router_id)
        took = time.perf_counter() - started
        print(f"full sync after a reboot, {report.restored} devices logged in again: {took:.1f} s")
    finally:
        await worker.stop()
        await gateways.close()
        for emulator in routers:
            await emulator.stop()
        await db.close()


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
