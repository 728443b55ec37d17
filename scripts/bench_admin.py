"""How fast the admin pages answer on a busy box: prints p50 and p99 times and page sizes.

Usage: scripts/bench-admin [payments] [rounds]   (default 100000, spread over 90 days; 20 requests a page)

The baseline, measured in the same run and served the same way (uvicorn in this event loop): a bare
Litestar endpoint, the floor of any page; each page's time is printed beside it as a multiple.
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
from bench_common import bare_app, percentile, times
from cryptography.fernet import Fernet

from portal import settings as config
from portal.app import create_app
from portal.clock import FixedClock, to_text
from portal.store.migrations.sqlite import MIGRATIONS
from portal.store.sqlite import SQLiteStore, statements
from portal.vault import Vault
from tests.conftest import serving
from tests.seed import seed_tenant
from tests.web.admin.client import browser, sign_in


async def main(count: int = 100_000, rounds: int = 20) -> None:
    with tempfile.TemporaryDirectory(prefix="portal-bench-admin-") as folder:
        await measure(Path(folder), count, rounds)


async def timed(http: httpx.AsyncClient, url: str, rounds: int) -> tuple[list[float], int]:
    """Seconds of each of `rounds` requests, and the size of the answer."""
    timings, size = [], 0
    for _ in range(rounds):
        started = time.perf_counter()
        response = await http.get(url)
        timings.append(time.perf_counter() - started)
        size = len(response.content)
        assert response.status_code == 200, (url, response.status_code)
    return timings, size


async def measure(folder: Path, count: int, rounds: int) -> None:
    settings = config.from_mapping({"store": {"data_dir": str(folder)}}, environ={}, source="bench")
    clock, vault = FixedClock(), Vault([Fernet.generate_key()])
    store = await SQLiteStore.open(settings.database_path)
    await store.migrate()
    seeded = await seed_tenant(store, clock, vault, "bench")
    await store.close()
    fill(settings.database_path, seeded, clock, count)

    async with serving(bare_app()) as base, httpx.AsyncClient() as http:
        bare_timings, _ = await timed(http, base + "/healthz", rounds)
    bare, bare_p99 = percentile(bare_timings, 0.5), percentile(bare_timings, 0.99)

    app = create_app(settings, clock=clock, vault=vault)
    async with serving(app) as base, browser() as http:
        # As in the tests: the periodic jobs (queries, a sync of the seeded router, which is nowhere)
        # stay out of the timings.
        app.state.services.jobs.scheduler.pause()
        await sign_in(http, base, seeded.owner)
        print(f"{count:,} payments over 90 days; {rounds} requests each (p50, p99)")
        print(f"  {'baseline: a bare Litestar endpoint':<45} {bare * 1000:7.1f} ms {bare_p99 * 1000:7.1f} ms")
        for path in (
            "/admin",
            "/admin/payments",
            "/admin/payments?phone=0712000123",
            "/admin/payments?state=failed&page=20",
            f"/admin/payments/{seeded.paid_payment_id}",
            "/admin/sessions",
            "/admin/payments.csv?from=" + (clock.now() - timedelta(days=6)).date().isoformat(),
        ):
            timings, size = await timed(http, base + path, rounds)
            took, worst = percentile(timings, 0.5), percentile(timings, 0.99)
            print(
                f"  {path:<45} {took * 1000:7.1f} ms {worst * 1000:7.1f} ms  {size / 1024:8.1f} KiB"
                f"  {times(took, bare):>8} bare"
            )


def fill(path: Path, seeded, clock: FixedClock, count: int) -> None:
    """Plain sqlite3 and one transaction: the seeding is not what is measured. The earnings kept by
    quarter hour are then made over as the upgrade that brought them makes them, timed."""
    random.seed(1)
    now = clock.now()
    rows = []
    for n in range(count):
        at = to_text(now - timedelta(seconds=random.randrange(90 * 86400)))
        state = random.choices(["paid", "failed", "expired"], [80, 15, 5])[0]
        rows.append(
            (seeded.tenant_id, f"B{n:09d}", f"t{n}", seeded.account_id, seeded.package_id, seeded.router_id,
             f"2547{n % 100_000_000:08d}", random.choice([10, 20, 50, 250]), state,
             f"S{n:09d}" if state == "paid" else None, "1032" if state == "failed" else None, at, at,
             at if state == "paid" else None)
        )  # fmt: skip
    with closing(sqlite3.connect(path)) as connection, connection:
        connection.executemany(
            "INSERT INTO payments (tenant_id, ref, callback_token, mpesa_account_id, package_id, router_id,"
            " phone, amount, state, receipt, result_code, created_at, updated_at, paid_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        started = time.perf_counter()
        connection.execute("DROP TABLE prompt_earnings")
        for statement in statements(next(script for script in MIGRATIONS if "prompt_earnings" in script)):
            connection.execute(statement)
        print(
            f"earnings by quarter hour made from {count:,} payments in {time.perf_counter() - started:.1f} s"
        )


if __name__ == "__main__":
    asyncio.run(main(*(int(arg) for arg in sys.argv[1:3])))
