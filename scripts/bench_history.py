"""Whether a box's history slows its customers: the splash page and the waiting page's status, on a
database holding one business and nothing else, then on the same database after years of traffic.

Usage: scripts/bench-history [rows]   (default 1000000 each of payments, sessions, router tasks and
their attempts)

The baseline is the same requests on the empty database, in the same run; the goal is at most 1.2x.
"""

import asyncio
import random
import sqlite3
import sys
import tempfile
import time
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import httpx
from bench_common import percentile, spread
from cryptography.fernet import Fernet

from portal import settings as config
from portal.app import create_app
from portal.clock import FixedClock, to_text
from portal.store.sqlite import SQLiteStore
from portal.vault import Vault
from tests.conftest import serving
from tests.seed import seed_tenant

ROUNDS = 300


async def main(rows: int) -> None:
    with tempfile.TemporaryDirectory(prefix="portal-bench-history-") as folder:
        settings = config.from_mapping({"store": {"data_dir": folder}}, environ={}, source="bench")
        clock, vault = FixedClock(), Vault([Fernet.generate_key()])
        store = await SQLiteStore.open(settings.database_path)
        await store.migrate()
        seeded = await seed_tenant(store, clock, vault, "bench")
        await store.close()
        empty = await measure(settings, clock, vault, seeded)
        started = time.perf_counter()
        fill(settings.database_path, seeded, clock, rows)
        print(f"filled {rows:,} rows each of payments, sessions, router tasks, attempts"
              f" in {time.perf_counter() - started:.0f} s")  # fmt: skip
        full = await measure(settings, clock, vault, seeded)
    for name in empty:
        ratio = percentile(full[name], 0.5) / percentile(empty[name], 0.5)
        print(f"{name}: {ratio:.2f}x the empty database at p50")
        print(f"  empty         {spread(empty[name])}")
        print(f"  with history  {spread(full[name])}")


async def measure(settings, clock, vault, seeded) -> dict[str, list[float]]:
    app = create_app(settings, clock=clock, vault=vault)
    with closing(sqlite3.connect(settings.database_path)) as db:
        [ref] = db.execute("SELECT ref FROM payments WHERE id = ?", (seeded.paid_payment_id,)).fetchone()
    async with serving(app) as base, httpx.AsyncClient(base_url=base) as http:
        app.state.services.jobs.scheduler.pause()  # the periodic jobs stay out of the timings
        device = {"router": f"{seeded.slug}-router", "ip": "10.5.50.9", "link-orig": "http://example.com/"}
        paths = {
            "splash, a new device": ("/", device | {"mac": "02:00:00:00:00:01"}),
            "splash, a device back after its time": ("/", device | {"mac": history_mac(7)}),
            "waiting page status": (f"/pay/{ref}/status", {}),
        }
        return {name: await timings(http, path, params) for name, (path, params) in paths.items()}


async def timings(http: httpx.AsyncClient, path: str, params: dict) -> list[float]:
    result = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        response = await http.get(path, params=params)
        result.append(time.perf_counter() - started)
        assert response.status_code == 200, (path, response.status_code)
    return result


def history_mac(n: int) -> str:
    return f"02:{n >> 32 & 255:02X}:{n >> 24 & 255:02X}:{n >> 16 & 255:02X}:{n >> 8 & 255:02X}:{n & 255:02X}"


def fill(path: Path, seeded, clock: FixedClock, count: int) -> None:
    """Plain sqlite3, one transaction: ended sessions of many devices over two years, each with its
    payment, its grant and revoke tasks and their attempts. The last one ended ten minutes ago."""
    random.seed(1)
    now = clock.now()
    sessions, payments, tasks, attempts = [], [], [], []
    for n in range(count):
        ended = now - timedelta(minutes=10, seconds=n * 60)
        at, end = to_text(ended - timedelta(hours=1)), to_text(ended)
        sessions.append(
            (n + 1_000, seeded.tenant_id, seeded.router_id, seeded.package_id, history_mac(n), "expired",
             3600, f"h{n}", "x", at, end, end, at, end)
        )  # fmt: skip
        payments.append(
            (seeded.tenant_id, f"H{n:015d}", f"t{n}", seeded.account_id, seeded.package_id, seeded.router_id,
             history_mac(n), f"2547{n % 100_000_000:08d}", 30, "paid", f"Q{n:09d}", n + 1_000, at, at, at)
        )  # fmt: skip
        tasks.append((n + 1_000, seeded.router_id, n + 1_000, "revoke", "{}", "done", 1, end, end, end))
        attempts.append((n + 1_000, end, 1))
    with closing(sqlite3.connect(path)) as db, db:
        db.executemany(
            "INSERT INTO access_sessions (id, tenant_id, router_id, package_id, mac, state, paid_seconds,"
            " access_code_hash, access_code_enc, started_at, expires_at, ended_at, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            sessions,
        )
        db.executemany(
            "INSERT INTO payments (tenant_id, ref, callback_token, mpesa_account_id, package_id, router_id,"
            " mac, phone, amount, state, receipt, access_session_id, created_at, updated_at, paid_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            payments,
        )
        db.executemany(
            "INSERT INTO router_tasks (id, router_id, access_session_id, kind, payload, state, attempts,"
            " next_attempt_at, created_at, done_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            tasks,
        )
        db.executemany("INSERT INTO router_task_attempts (task_id, at, ok) VALUES (?, ?, ?)", attempts)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000))
