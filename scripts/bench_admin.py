"""How fast the admin pages answer on a busy box: prints median times and page sizes.

Usage: scripts/bench-admin [payments]   (default 100000, spread over 90 days)
"""

import asyncio
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from cryptography.fernet import Fernet

from portal import config
from portal.app import create_app
from portal.clock import FixedClock, to_text
from portal.db import Database
from portal.migrations import migrate
from portal.vault import Vault
from tests.conftest import serving
from tests.seed import seed_tenant
from tests.web.conftest import browser, sign_in

ROUNDS = 10


async def main(count: int) -> None:
    with tempfile.TemporaryDirectory(prefix="portal-bench-admin-") as folder:
        await measure(Path(folder), count)


async def measure(folder: Path, count: int) -> None:
    settings = config.from_mapping({"store": {"data_dir": str(folder)}}, environ={}, source="bench")
    clock, vault = FixedClock(), Vault([Fernet.generate_key()])
    db = await Database.open(settings.database_path)
    await migrate(db)
    seeded = await seed_tenant(db, clock, vault, "bench")
    await db.close()
    fill(settings.database_path, seeded, clock, count)
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        await sign_in(http, base, seeded.owner)
        print(f"{count:,} payments over 90 days; median of {ROUNDS} requests each")
        for path in (
            "/admin",
            "/admin/payments",
            "/admin/payments?phone=0712000123",
            "/admin/payments?state=failed&page=20",
            f"/admin/payments/{seeded.paid_payment_id}",
            "/admin/sessions",
            "/admin/payments.csv?from=" + (clock.now() - timedelta(days=6)).date().isoformat(),
        ):
            timings, size = [], 0
            for _ in range(ROUNDS):
                started = time.perf_counter()
                response = await http.get(base + path)
                timings.append(time.perf_counter() - started)
                size = len(response.content)
                assert response.status_code == 200, (path, response.status_code)
            print(f"  {path:<45} {statistics.median(timings) * 1000:7.1f} ms  {size / 1024:8.1f} KiB")


def fill(path: Path, seeded, clock: FixedClock, count: int) -> None:
    """Plain sqlite3 and one transaction: the seeding is not what is measured."""
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
    with sqlite3.connect(path) as connection:
        connection.executemany(
            "INSERT INTO payments (tenant_id, ref, callback_token, mpesa_account_id, package_id, router_id,"
            " phone, amount, state, receipt, result_code, created_at, updated_at, paid_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000))
