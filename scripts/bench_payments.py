"""How fast the portal takes STK callbacks to `paid`, on this machine, with a durable store.

Run it as `scripts/bench-payments [--payments N] [--concurrency C]`. It prints figures; it is not a test.

1. In this process: the Daraja simulator on loopback, and the portal's services (no web server) on a
   fresh database in a temporary folder, to start N payments through the real checkout (N pushes).
2. A separate `portal serve` process on that database, as on a gateway box (WAL, synchronous=FULL).
3. From here, Daraja's success callbacks for those payments are posted to it: first one at a time
   (latency with nothing queued), then C at a time (throughput, and latency under load). The portal
   answers a callback only after the transaction that made the payment `paid` has committed, so the
   time from sending a callback to its answer bounds "callback received → paid committed" from above
   (it adds the loopback HTTP round trip).
4. Every payment must then be `paid`, by exactly one transition each.
5. The baselines, in the same run: the same callbacks posted the same way to a bare Litestar endpoint
   in its own uvicorn process (it parses the JSON and answers: the HTTP floor), and SQLite's own
   durable commit rate on the same disk (one row per `synchronous=FULL` WAL transaction, one at a
   time: the floor of a store that commits each callback alone). The portal's figures are printed as
   a share of each.
"""

import argparse
import asyncio
import json
import os
import sqlite3
import sys
import time
from contextlib import closing
from datetime import timedelta
from pathlib import Path

from bench_common import (
    CALLBACK_ANSWER,
    ROOT,
    Connection,
    cpu_seconds,
    free_port,
    percentile,
    portal_config,
    rss_mb,
    run_in_new_folder,
    start,
    start_bare,
    stop,
    times,
    wait_until_up,
    with_load_options,
)

from portal.app import create_app
from portal.billing import payments
from portal.catalog import packages
from portal.catalog.packages import PackageSpec
from portal.cli.demo import add_simulator_account
from portal.cli.serving import background
from portal.clock import SystemClock
from portal.sim.daraja import Options, create_simulator, stk_callback_body
from portal.store.sqlite import SQLiteStore
from portal.tenancy import tenants


def add_shop(db, clock, vault, daraja_url: str) -> tuple[int, int]:
    tenant_id = tenants.create(db, clock, "bench", "Bench Cafe")
    package_id = packages.create(db, clock, tenant_id, PackageSpec("1 hour", 10, 3600, "", None))
    add_simulator_account(db, vault, clock, tenant_id, daraja_url)
    return tenant_id, package_id


def callback_paths(db, started: list[payments.Payment], query_at) -> dict[str, str]:
    """Each payment's callback URL path by CheckoutRequestID. Their STK queries are put off past the
    measurement: the first is due 30 s after the push, and the simulator is gone by then, so the
    poller would add failing queries (each a write) to the callbacks being measured."""
    paths = {}
    for payment in started:
        payments.schedule_query(db, payment.id, query_at)
        paths[payment.checkout_request_id] = f"/hooks/stk/{payments.callback_token(db, payment.id)}"
    return paths


async def create_payments(settings, clock, vault, daraja_url: str, count: int) -> tuple[dict[str, str], list]:
    """Starts `count` payments through the real checkout; returns each one's callback URL path by
    CheckoutRequestID, and their ids."""
    app = create_app(settings, clock=clock, vault=vault)
    async with app.lifespan():
        services = app.state.services
        services.jobs.scheduler.pause()  # no queries while the payments are being made
        tenant_id, package_id = await services.store.write(add_shop, clock, vault, daraja_url)
        started = []
        for number in range(count):
            payment = await services.checkout.start(
                tenant_id=tenant_id, package_id=package_id, phone=f"07{number:08d}"
            )
            assert payment.state == "pending", payment
            started.append(payment)
        later = clock.now() + timedelta(days=1)
        paths = await services.store.write(callback_paths, started, later)
    return paths, [payment.id for payment in started]


async def post_callbacks(base: str, jobs: list[tuple[str, bytes]], concurrency: int, pid: int):
    """Posts each (path, body), `concurrency` at a time on as many keep-alive connections; returns
    (seconds elapsed, latencies in ms, CPU seconds the server process `pid` spent meanwhile)."""
    latencies: list[float] = []
    waiting = iter(jobs)

    async def post_all(connection: Connection) -> None:
        try:
            for path, body in waiting:  # shared: each connection takes the next callback when free
                sent = time.perf_counter()
                status, answer = await connection.post(path, body)
                latencies.append((time.perf_counter() - sent) * 1000)
                if json.loads(answer) != CALLBACK_ANSWER:
                    raise SystemExit(f"unexpected answer {status}: {answer[:200]!r}")
        finally:
            await connection.close()

    connections = [await Connection.open(base) for _ in range(min(concurrency, len(jobs)))]
    started, cpu = time.perf_counter(), cpu_seconds(pid)
    await asyncio.gather(*(post_all(connection) for connection in connections))
    return time.perf_counter() - started, latencies, cpu_seconds(pid) - cpu


def report(
    name: str, elapsed: float, latencies: list[float], cpu: float | None = None
) -> tuple[float, float]:
    """Prints one line; returns the rate per second and the server's CPU milliseconds per callback."""
    rate = len(latencies) / elapsed
    cpu_each = cpu * 1000 / len(latencies) if cpu is not None else 0.0
    print(
        f"{name:<36} {len(latencies):>6}  {rate:>8.0f}/s  p50 {percentile(latencies, 0.50):6.1f} ms"
        f"  p99 {percentile(latencies, 0.99):6.1f} ms  max {max(latencies):6.1f} ms"
        + (f"  cpu {cpu_each:5.2f} ms each" if cpu is not None else "")
    )
    return rate, cpu_each


async def post_both_ways(
    base: str, jobs: list, alone: int, concurrency: int, name: str, pid: int
) -> tuple[tuple[float, float], tuple[float, float]]:
    """The first `alone` callbacks one at a time, the rest `concurrency` at a time; returns each way's
    rate and the server's CPU per callback."""
    one = report(f"{name}, one at a time", *await post_callbacks(base, jobs[:alone], 1, pid))
    many = report(
        f"{name}, {concurrency} at a time", *await post_callbacks(base, jobs[alone:], concurrency, pid)
    )
    return one, many


def sqlite_commits(folder: Path, bodies: list[bytes]) -> float:
    """SQLite's own durable commit rate on this disk, set up as the portal's store sets it up (WAL,
    synchronous=FULL): one row (the callback's JSON) per transaction, one transaction at a time."""
    latencies = []
    with closing(sqlite3.connect(folder / "commits.db", isolation_level=None)) as db:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")
        db.execute("CREATE TABLE callbacks (id INTEGER PRIMARY KEY, at TEXT NOT NULL, body TEXT NOT NULL)")
        started = time.perf_counter()
        for body in bodies:
            sent = time.perf_counter()
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO callbacks (at, body) VALUES (?, ?)", (time.time(), body))
            db.execute("COMMIT")
            latencies.append((time.perf_counter() - sent) * 1000)
        elapsed = time.perf_counter() - started
    return report("SQLite, one row per durable commit", elapsed, latencies)[0]


async def check_paid(database: Path, payment_ids: list[int]) -> None:
    """Every payment paid, by exactly one callback that says it made it paid."""

    def outcomes(db) -> list[tuple[str, int]]:
        return [
            (
                payments.get(db, payment_id).state,
                sum(
                    event.kind == "callback" and event.detail.get("effect") == "paid"
                    for event in payments.timeline(db, payment_id)
                ),
            )
            for payment_id in payment_ids
        ]

    store = await SQLiteStore.open(database)
    try:
        found = await store.read(outcomes)
    finally:
        await store.close()
    paid = sum(state == "paid" for state, _ in found)
    once = sum(transitions == 1 for _, transitions in found)
    print(f"paid: {paid} of {len(found)} payments; {once} paid by exactly one callback")
    if paid != len(found) or once != len(found):
        raise SystemExit("FAILED: every payment should be paid exactly once")


async def bench(count: int, concurrency: int, folder: Path) -> None:
    clock = SystemClock()
    portal = portal_config(folder)
    settings, vault, base, config_file = portal.settings, portal.vault, portal.base, portal.file
    # The bench posts the callbacks itself; its payers answer once every payment is made, which on a busy
    # machine takes longer than the minute after which a prompt times out (1037) by default.
    daraja = create_simulator(clock, Options(drop_callbacks=True, prompt_timeout=3600))
    sim = daraja.state.simulator
    async with background(daraja, "127.0.0.1", 0) as daraja_url:
        print(f"starting {count} payments through the Daraja simulator...", flush=True)
        paths, payment_ids = await create_payments(settings, clock, vault, daraja_url, count)
        for prompt in sim.pending_prompts():
            sim.answer(prompt.checkout_request_id, "success")
        jobs = [
            (paths[p.checkout_request_id], json.dumps(stk_callback_body(p, clock.now())).encode())
            for p in sim.prompts.values()
        ]
    alone = max(2, min(200, count // 5))

    environ = dict(os.environ, PORTAL_CONFIG=str(config_file), PYTHONPATH=str(ROOT))
    started = time.perf_counter()
    process = await start([sys.executable, "-m", "portal.cli", "serve"], cwd=ROOT, env=environ)
    try:
        await wait_until_up(base, process)
        portal_start = time.perf_counter() - started
        (portal_one, _), (portal_many, portal_cpu) = await post_both_ways(
            base, jobs, alone, concurrency, "portal", process.pid
        )
        portal_rss = rss_mb(process.pid)
    finally:
        await stop(process)
    await check_paid(settings.database_path, payment_ids)

    # The baselines, each on its own with the machine otherwise as it was for the portal.
    bare_port = free_port()
    started = time.perf_counter()
    bare = await start_bare(bare_port)
    try:
        bare_start = time.perf_counter() - started
        (bare_one, _), (bare_many, bare_cpu) = await post_both_ways(
            f"http://127.0.0.1:{bare_port}", jobs, alone, concurrency, "bare Litestar", bare.pid
        )
        bare_rss = rss_mb(bare.pid)
    finally:
        await stop(bare)
    commits = sqlite_commits(folder, [body for _, body in jobs])

    print(
        f"portal's share: one at a time {portal_one / bare_one:.0%} of bare Litestar,"
        f" {portal_one / commits:.0%} of SQLite's commit rate;"
        f" {concurrency} at a time {portal_many / bare_many:.0%} of bare Litestar,"
        f" {portal_many / commits:.0%} of SQLite's one-commit-per-row rate"
    )
    print(
        f"{concurrency} at a time, the server's CPU per callback: portal {portal_cpu:.2f} ms,"
        f" bare Litestar {bare_cpu:.2f} ms ({bare_cpu / portal_cpu:.0%}: the share a CPU-bound box would get)"
    )
    print(
        f"cold start to the first 200: portal {portal_start * 1000:.0f} ms,"
        f" bare Litestar {bare_start * 1000:.0f} ms ({times(portal_start, bare_start)})"
    )
    print(
        f"RSS after {len(jobs)} payments: portal {portal_rss:.1f} MB,"
        f" bare Litestar {bare_rss:.1f} MB after as many callbacks ({times(portal_rss, bare_rss)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=1000, help="payments to settle (default 1000)")
    args = with_load_options(parser, "callbacks").parse_args()
    run_in_new_folder(
        "bench-payments-", args.dir, lambda folder: bench(args.payments, args.concurrency, folder)
    )


if __name__ == "__main__":
    main()
