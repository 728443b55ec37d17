"""How fast the portal takes STK callbacks to `paid`, on this machine, with a durable store.

Run it as `scripts/bench-payments [--payments N] [--concurrency C]`. It prints figures; it is not a test.

1. In this process: the Daraja simulator on loopback, and the portal's services (no web server) on a
   fresh database in a temporary folder, to start N payments through the real client (N pushes).
2. A separate `portal serve` process on that database, as on a gateway box (WAL, synchronous=FULL).
3. From here, Daraja's success callbacks for those payments are posted to it: first one at a time
   (latency with nothing queued), then C at a time (throughput, and latency under load). The portal
   answers a callback only after the transaction that made the payment `paid` has committed, so the
   time from sending a callback to its answer bounds "callback received → paid committed" from above
   (it adds the loopback HTTP round trip).
4. Every payment must then be `paid`, by exactly one transition each.
"""

import argparse
import asyncio
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from portal import config, payments
from portal.app import create_app
from portal.cli import background
from portal.clock import SystemClock, to_text
from portal.demo import add_simulator_account
from portal.sim.daraja import Options, create_simulator, stk_callback_body
from portal.tenants import create_tenant
from portal.vault import Vault, write_new_key_file
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent


async def create_payments(settings, clock, vault, daraja_url: str, count: int) -> dict[str, str]:
    """Starts `count` payments through the real code; returns each one's callback URL path by ref."""
    app = create_app(settings, clock=clock, vault=vault)
    async with app.lifespan():
        services = app.state.services
        async with services.db.transaction() as tx:
            tenant_id = await create_tenant(tx, clock, "bench", "Bench Cafe")
            now = to_text(clock.now())
            package_id = (
                await tx.execute(
                    "INSERT INTO packages (tenant_id, name, price, duration_seconds, created_at, updated_at)"
                    " VALUES (?, '1 hour', 10, 3600, ?, ?)",
                    (tenant_id, now, now),
                )
            ).lastrowid
            await add_simulator_account(tx, vault, clock, tenant_id, daraja_url)
        refs = []
        for number in range(count):
            payment = await payments.start_payment(
                services, tenant_id=tenant_id, package_id=package_id, phone=f"07{number:08d}"
            )
            assert payment.state == "pending", payment
            refs.append(payment.ref)
        rows = await services.db.fetchall("SELECT ref, callback_token, checkout_request_id FROM payments")
    return {row["checkout_request_id"]: f"/hooks/stk/{row['callback_token']}" for row in rows}


async def wait_until_up(base: str, process: asyncio.subprocess.Process) -> None:
    async with httpx.AsyncClient() as http, asyncio.timeout(30):
        while True:
            if process.returncode is not None:
                raise SystemExit(f"portal serve exited with {process.returncode}")
            try:
                if (await http.get(base + "/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)


async def post_callbacks(http: httpx.AsyncClient, base: str, jobs: list[tuple[str, dict]], concurrency: int):
    """Posts each (path, body); returns (seconds elapsed, latencies in ms)."""
    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)

    async def one(path: str, body: dict) -> None:
        async with gate:
            sent = time.perf_counter()
            response = await http.post(base + path, json=body)
            latencies.append((time.perf_counter() - sent) * 1000)
            if response.json() != {"ResultCode": 0, "ResultDesc": "Accepted"}:
                raise SystemExit(f"unexpected answer {response.status_code}: {response.text}")

    started = time.perf_counter()
    await asyncio.gather(*(one(path, body) for path, body in jobs))
    return time.perf_counter() - started, latencies


def percentile(values: list[float], share: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[round(share * 100) - 1]


def report(name: str, elapsed: float, latencies: list[float]) -> None:
    print(
        f"{name:<22} {len(latencies):>6} callbacks  {len(latencies) / elapsed:>8.0f}/s"
        f"  p50 {percentile(latencies, 0.50):6.1f} ms  p99 {percentile(latencies, 0.99):6.1f} ms"
        f"  max {max(latencies):6.1f} ms"
    )


async def bench(count: int, concurrency: int, folder: Path) -> None:
    clock = SystemClock()
    key_file = folder / "vault.key"
    write_new_key_file(key_file)
    vault = Vault.from_file(key_file)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config_file = folder / "portal.toml"
    config_file.write_text(
        f'[server]\nhost = "127.0.0.1"\nport = {port}\npublic_url = "{base}"\n'
        f'[store]\ndata_dir = "{folder}"\n[vault]\nkey_file = "{key_file}"\n'
        # Keep the portal's own poller out of the measurement: nothing is due for an hour.
        '[mpesa]\npayment_timeout = 3600\ncallback_allowlist = ["127.0.0.1"]\n[log]\nlevel = "warning"\n'
    )
    settings = config.load(config_file, environ={})
    daraja = create_simulator(clock, Options(drop_callbacks=True))  # the bench posts the callbacks itself
    sim = daraja.state.simulator
    async with background(daraja, "127.0.0.1", 0) as daraja_url:
        print(f"starting {count} payments through the Daraja simulator...", flush=True)
        paths = await create_payments(settings, clock, vault, daraja_url, count)
        for prompt in sim.pending_prompts():
            sim.answer(prompt.checkout_request_id, "success")
        jobs = [
            (paths[p.checkout_request_id], stk_callback_body(p, clock.now())) for p in sim.prompts.values()
        ]

    environ = dict(os.environ, PORTAL_CONFIG=str(config_file))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "portal.cli", "serve", cwd=ROOT, env=environ
    )
    try:
        await wait_until_up(base, process)
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(timeout=30, limits=limits) as http:
            alone = max(1, min(200, count // 5))
            report("one at a time", *await post_callbacks(http, base, jobs[:alone], 1))
            report(f"{concurrency} at a time", *await post_callbacks(http, base, jobs[alone:], concurrency))
    finally:
        process.terminate()
        await process.wait()

    with sqlite3.connect(settings.database_path) as db:
        paid = db.execute("SELECT count(*) FROM payments WHERE state = 'paid'").fetchone()[0]
        transitions = db.execute(
            "SELECT count(*) FROM payment_events WHERE kind = 'callback' AND detail ->> 'effect' = 'paid'"
        ).fetchone()[0]
    print(f"paid: {paid} of {count} payments, {transitions} paid transitions")
    if paid != count or transitions != count:
        raise SystemExit("FAILED: every payment should be paid exactly once")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=1000, help="payments to settle (default 1000)")
    parser.add_argument(
        "--concurrency", type=int, default=32, help="callbacks in flight at once (default 32)"
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-payments-"))
    print(
        f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}; database in {folder}"
    )
    try:
        asyncio.run(bench(args.payments, args.concurrency, folder))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
