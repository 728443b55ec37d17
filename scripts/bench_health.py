"""Does a slow admin page hold up /healthz? /healthz p99 while the admin payments list is loaded, with
1,000,000 payments in the database (issue 12).

Usage: scripts/bench-health [--checkout PATH]... [--payments N] [--clients K] [--seconds S]

For each checkout named (default: this one; name several to compare them in one run, e.g.
`--checkout . --checkout ../baseline`), on a fresh database in a temporary folder:

1. That checkout's own commands make the database and the owner: `python -m portal.cli keys generate`,
   `migrate`, `tenant create`, `admin create` (password on stdin), with cwd and PYTHONPATH set to it.
2. Plain sqlite3 adds an M-Pesa account, a package and N payments over 90 days (mixed states), using
   only columns that every schema since version 5 has. The seeding is not what is measured.
3. That checkout's `python -m portal.cli serve` runs in a process of its own, as on a gateway box. This
   process signs in as the owner and then, one phase after the other:
   - idle: GET /healthz every 50 ms, nothing else;
   - loaded: K clients request the slowest admin list (`/admin/payments?state=failed`: a count and a
     sort over a state no index covers) back to back, while /healthz is requested every 50 ms.

The baseline, measured in the same run: a bare Litestar app in its own uvicorn process, under the same
pattern with the admin page replaced by a CPU-free endpoint that takes as long (asyncio.sleep for the
first checkout's admin p50 under load), so it shows what the HTTP stack, this client and the machine
alone do to a /healthz under that traffic.
"""

import argparse
import asyncio
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from bench_common import (
    ROOT,
    free_port,
    percentile,
    probe_every,
    spread,
    start,
    start_bare,
    stop,
    times,
    wait_until_up,
)

ADMIN_PAGE = "/admin/payments?state=failed"
OWNER, PASSWORD = "owner@bench.example", "correct horse battery"
EVERY = 0.05  # seconds between two /healthz requests
BATCH = 100_000  # payments per transaction while seeding
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
STAMP = "2026-01-05T09:00:00.000000+00:00"


@dataclass
class Phases:
    idle: list[float]  # /healthz durations, seconds
    loaded: list[float]
    pages: list[float]  # the admin page's durations under load
    alone: float = 0.0  # the admin page's median with nothing else running


def command(checkout: Path, config_file: Path, *args: str, stdin: str | None = None) -> str:
    """`python -m portal.cli ARGS` as that checkout's own code runs it."""
    env = dict(os.environ, PORTAL_CONFIG=str(config_file), PYTHONPATH=str(checkout))
    done = subprocess.run(  # noqa: S603 (this interpreter, arguments from this script)
        [sys.executable, "-m", "portal.cli", *args],
        cwd=checkout,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"portal {' '.join(args)} in {checkout} failed: {done.stderr.strip()}")
    return done.stdout


def payments(tenant_id: int, account_id: int, package_id: int, count: int) -> Iterator[tuple]:
    """`count` payments in time order over the 90 days before now, 80% paid, 15% failed, 5% expired."""
    random.seed(1)
    now = datetime.now(UTC)
    first, step = now - timedelta(days=90), timedelta(days=90) / count
    for n in range(count):
        at = first + n * step
        created = at.isoformat(timespec="microseconds")
        state = random.choices(("paid", "failed", "expired"), (80, 15, 5))[0]
        paid = state == "paid"
        answered = (at + timedelta(seconds=random.randrange(5, 60))).isoformat(timespec="microseconds")
        yield (
            tenant_id, f"H{n:09d}", f"bench{n:027d}", account_id, package_id,
            f"2547{random.randrange(100_000_000):08d}", random.choice((10, 20, 50, 250)), state,
            f"S{n:09d}" if paid else None,
            "1032" if state == "failed" else None,
            "Request cancelled by user" if state == "failed" else None,
            created, answered, answered if paid else None,
        )  # fmt: skip


def seed(database: Path, count: int) -> float:
    """The account, the package and the payments, straight into the file; returns the seconds taken."""
    started = time.perf_counter()
    with closing(sqlite3.connect(database, isolation_level=None)) as db:
        db.execute("PRAGMA synchronous = OFF")  # a crash while seeding costs a rerun, nothing more
        db.execute("PRAGMA cache_size = -262144")  # 256 MiB: the phone index takes random inserts
        (tenant_id,) = db.execute("SELECT id FROM tenants WHERE slug = 'bench'").fetchone()
        db.execute("BEGIN")
        (account_id,) = db.execute(
            "INSERT INTO mpesa_accounts (tenant_id, name, shortcode, kind, environment, consumer_key_enc,"
            " consumer_secret_enc, passkey_enc, created_at, updated_at)"
            " VALUES (?, 'main', '174379', 'paybill', 'sandbox', 'x', 'x', 'x', ?, ?) RETURNING id",
            (tenant_id, STAMP, STAMP),
        ).fetchone()
        (package_id,) = db.execute(
            "INSERT INTO packages (tenant_id, name, price, duration_seconds, created_at, updated_at)"
            " VALUES (?, '1 hour', 10, 3600, ?, ?) RETURNING id",
            (tenant_id, STAMP, STAMP),
        ).fetchone()
        db.execute("COMMIT")
        rows = payments(tenant_id, account_id, package_id, count)
        while batch := [row for _, row in zip(range(BATCH), rows, strict=False)]:
            db.execute("BEGIN")
            db.executemany(
                "INSERT INTO payments (tenant_id, ref, callback_token, mpesa_account_id, package_id, phone,"
                " amount, state, receipt, result_code, result_desc, created_at, updated_at, paid_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                batch,
            )
            db.execute("COMMIT")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the portal starts on a plain file, as after a restart
    return time.perf_counter() - started


def prepare(checkout: Path, folder: Path, port: int, count: int) -> tuple[Path, int, float]:
    """A database made by the checkout's own commands, seeded; returns the config, its schema version and
    the seconds the seeding took."""
    folder.mkdir()
    config_file = folder / "portal.toml"
    config_file.write_text(
        f'[server]\nhost = "127.0.0.1"\nport = {port}\n[store]\ndata_dir = "{folder}"\n'
        f'[vault]\nkey_file = "{folder / "vault.key"}"\n[log]\nlevel = "warning"\n'
    )
    command(checkout, config_file, "keys", "generate")
    command(checkout, config_file, "migrate")
    command(checkout, config_file, "tenant", "create", "--slug", "bench", "--name", "Bench Wi-Fi")
    command(
        checkout, config_file, "admin", "create", "--email", OWNER, "--tenant", "bench", stdin=PASSWORD + "\n"
    )
    database = folder / "portal.db"
    with closing(sqlite3.connect(database)) as db:
        (version,) = db.execute("PRAGMA user_version").fetchone()
    return config_file, version, seed(database, count)


async def sign_in(http: httpx.AsyncClient, base: str) -> None:
    """As a browser: the form (and its CSRF cookie), then the post."""
    form = await http.get(base + "/admin/login")
    csrf = CSRF.search(form.text)
    if csrf is None:
        raise SystemExit("no CSRF field on the login page")
    fields = {"email": OWNER, "password": PASSWORD, "csrf": csrf.group(1)}
    # Not following the redirect: the dashboard it leads to is a slow page of its own at 1M payments.
    signed_in = await http.post(base + "/admin/login", data=fields, follow_redirects=False)
    if signed_in.status_code != 303:
        raise SystemExit(f"signing in answered {signed_in.status_code}: {signed_in.text[:200]}")


async def get_page(http: httpx.AsyncClient, url: str) -> float:
    sent = time.perf_counter()
    response = await http.get(url)
    took = time.perf_counter() - sent
    if response.status_code != 200 or response.url.path == "/admin/login":
        raise SystemExit(f"{url}: {response.status_code} at {response.url}")
    return took


async def phases(base: str, load_url: str, clients: int, seconds: float, cookies: httpx.Cookies) -> Phases:
    """/healthz alone, then under `clients` clients requesting `load_url` back to back."""
    limits = httpx.Limits(max_connections=clients)
    async with (
        httpx.AsyncClient(timeout=600) as probe,
        httpx.AsyncClient(timeout=600, cookies=cookies, limits=limits) as load,
    ):
        await probe.get(base + "/healthz")  # the connection, opened outside the figures
        idle = await probe_for(probe, base + "/healthz", seconds)

        done = asyncio.Event()
        pages: list[float] = []

        async def client() -> None:
            while not done.is_set():
                pages.append(await get_page(load, load_url))

        loaders = [asyncio.create_task(client()) for _ in range(clients)]
        await asyncio.sleep(0.5)  # every client's first request under way
        loaded = await probe_for(probe, base + "/healthz", seconds)
        done.set()
        await asyncio.gather(*loaders)
    return Phases(idle, loaded, pages)


async def probe_for(http: httpx.AsyncClient, url: str, seconds: float) -> list[float]:
    return await probe_every(http, url, EVERY, time.monotonic() + seconds)


async def measure_portal(checkout: Path, config_file: Path, port: int, args: argparse.Namespace) -> Phases:
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, PORTAL_CONFIG=str(config_file), PYTHONPATH=str(checkout))
    process = await start([sys.executable, "-m", "portal.cli", "serve"], cwd=checkout, env=env)
    try:
        await wait_until_up(base, process, seconds=300)
        async with httpx.AsyncClient(follow_redirects=True, timeout=600) as http:
            await sign_in(http, base)
            # The first one also brings the table into the page cache.
            alone = sorted([await get_page(http, base + ADMIN_PAGE) for _ in range(3)])[1]
            found = await phases(base, base + ADMIN_PAGE, args.clients, args.seconds, http.cookies)
        found.alone = alone
        return found
    finally:
        await stop(process)


async def measure_bare(wait_ms: float, args: argparse.Namespace) -> Phases:
    port = free_port()
    process = await start_bare(port)
    try:
        base = f"http://127.0.0.1:{port}"
        return await phases(
            base, f"{base}/wait?ms={wait_ms:.0f}", args.clients, args.seconds, httpx.Cookies()
        )
    finally:
        await stop(process)


def show(name: str, found: Phases) -> None:
    print(f"  /healthz idle:    {spread(found.idle)}")
    print(f"  /healthz loaded:  {spread(found.loaded)}")
    print(f"  {name} under load: {spread(found.pages)}")
    print(
        f"  loaded/idle: p50 {times(percentile(found.loaded, 0.5), percentile(found.idle, 0.5))},"
        f" p99 {times(percentile(found.loaded, 0.99), percentile(found.idle, 0.99))}"
    )


async def run(args: argparse.Namespace, folder: Path) -> None:
    print(
        f"{os.cpu_count()} CPUs; {args.payments:,} payments over 90 days; {args.clients} clients on"
        f" {ADMIN_PAGE} back to back, /healthz every {EVERY * 1000:.0f} ms; {args.seconds:.0f} s per phase"
    )
    results = []
    for number, checkout in enumerate(args.checkout):
        checkout = checkout.resolve()
        port = free_port()
        config_file, version, took = prepare(checkout, folder / f"checkout-{number}", port, args.payments)
        print(f"{checkout} (schema version {version}); seeded in {took:.0f} s", flush=True)
        found = await measure_portal(checkout, config_file, port, args)
        print(f"  {ADMIN_PAGE} alone: {found.alone * 1000:.1f} ms (median of 3)")
        show("admin page", found)
        results.append((checkout, found))
        shutil.rmtree(folder / f"checkout-{number}", ignore_errors=True)  # a 1M-payment file is ~0.5 GB

    wait_ms = percentile(results[0][1].pages, 0.5) * 1000
    bare = await measure_bare(wait_ms, args)
    print(f"baseline: bare Litestar, {args.clients} clients on a CPU-free endpoint taking {wait_ms:.0f} ms")
    show("CPU-free endpoint", bare)

    print(f"summary: /healthz p99 with {args.clients} clients on {ADMIN_PAGE}")
    bare_p99 = percentile(bare.loaded, 0.99)
    for checkout, found in results:
        p99, idle = percentile(found.loaded, 0.99), percentile(found.idle, 0.99)
        print(
            f"  {checkout!s:<30} {p99 * 1000:9.1f} ms  (idle {idle * 1000:.1f} ms: {times(p99, idle)};"
            f" bare Litestar loaded {bare_p99 * 1000:.1f} ms: {times(p99, bare_p99)};"
            f" admin page alone {found.alone * 1000:.0f} ms)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--checkout",
        type=Path,
        action="append",
        help="a portal checkout to measure; repeat it to compare several (default: this one)",
    )
    parser.add_argument("--payments", type=int, default=1_000_000, help="payments seeded (default 1000000)")
    parser.add_argument("--clients", type=int, default=4, help="clients on the admin page (default 4)")
    parser.add_argument("--seconds", type=float, default=30, help="seconds per phase (default 30)")
    parser.add_argument("--dir", type=Path, help="where the temporary folder goes (default: the system's)")
    args = parser.parse_args()
    args.checkout = args.checkout or [ROOT]
    folder = Path(tempfile.mkdtemp(prefix="bench-health-", dir=args.dir))
    try:
        asyncio.run(run(args, folder))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
