"""How soon payers are confirmed by STK query when Daraja is slow, on this machine, in real time.

Run it as `scripts/bench-reconcile [--payers N] [--latency S]`. It prints figures; it is not a test.

1. In this process: the Daraja simulator on loopback, its STK queries answered after `--latency`
   seconds (8 by default; Daraja looks the push up when it answers), and the portal's services (no web
   server) behind NAT: no public URL, so no callback can reach it and only its own queries confirm.
   The reconcile job runs as in `portal serve`, every second on APScheduler.
2. The baseline, in the same run: one STK query's own latency, asked straight of the simulator.
3. N payers (10) pay at once. Once the portal's first queries about them have come back "still
   pending" (the worst moment to approve: Daraja has just looked), they all approve together.
4. Per payer: the time from approval to `paid` (its paid_at, on the same clock), and their maximum,
   beside the baseline. Target: the maximum within 10 s (one query's latency, plus the second until
   the next round asks).
"""

import argparse
import asyncio
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from bench_payments import add_shop
from cryptography.fernet import Fernet

from portal import settings as config
from portal.app import create_app
from portal.billing import payments
from portal.cli.serving import background
from portal.clock import SystemClock
from portal.mpesa import accounts
from portal.mpesa.daraja import DarajaClient
from portal.sim.daraja import Options, create_simulator
from portal.tenancy.scope import of_tenant
from portal.vault import Vault

TARGET = 10.0


async def baseline(store, vault, clock, daraja_url: str, account_id: int) -> float:
    """Seconds one STK query takes, asked straight of the simulator, about a push of its own."""
    account = await store.read(accounts.load, vault, account_id)
    async with httpx.AsyncClient() as http:
        client = DarajaClient(http, clock)
        accepted = await client.stk_push(
            account,
            phone="254799999999",
            amount=1,
            reference="bench",
            description="bench",
            callback_url="https://no-public-url.invalid/hooks/stk/0",
        )
        started = time.perf_counter()
        await client.stk_query(account, accepted.checkout_request_id)
        return time.perf_counter() - started


def query_answers(db, payment_ids: list[int]) -> int:
    """How many of the payments have had a query answered."""
    return sum(
        any(event.kind == "query" for event in payments.timeline(db, payment_id))
        for payment_id in payment_ids
    )


async def bench(payers: int, latency: float, folder: Path) -> None:
    clock = SystemClock()
    settings = config.from_mapping(
        {"store": {"data_dir": str(folder)}, "log": {"level": "warning"}}, environ={}, source="bench"
    )
    vault = Vault([Fernet.generate_key()])
    simulator = create_simulator(clock, Options(query_latency=latency, prompt_timeout=600))
    sim = simulator.state.simulator
    async with background(simulator, "127.0.0.1", 0) as daraja_url:
        app = create_app(settings, clock=clock, vault=vault)
        async with app.lifespan():
            services = app.state.services
            tenant_id, package_id = await services.store.write(add_shop, clock, vault, daraja_url)
            [account] = await services.store.read(accounts.in_scope, of_tenant(tenant_id))
            one_query = await baseline(services.store, vault, clock, daraja_url, account.id)
            started = await asyncio.gather(
                *(
                    services.checkout.start(
                        tenant_id=tenant_id,
                        package_id=package_id,
                        phone=f"07120000{n:02d}",
                        mac=f"AA:BB:CC:00:01:{n:02X}",
                    )
                    for n in range(payers)
                )
            )
            ids = [payment.id for payment in started]
            async with asyncio.timeout(120):
                while await services.store.read(query_answers, ids) < payers:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)  # the database offers no event to wait on
            approved = datetime.now(UTC)
            for payment in started:
                sim.answer(payment.checkout_request_id, "success")
            async with asyncio.timeout(120):
                while True:
                    found = [await services.store.read(payments.get, payment_id) for payment_id in ids]
                    if all(payment.state == "paid" for payment in found):
                        break
                    await asyncio.sleep(0.05)
    waits = [(payment.paid_at - approved).total_seconds() for payment in found]
    print(f"Daraja's STK query latency: {latency:.0f} s (simulator); reconcile job every second; behind NAT")
    print(f"baseline, one STK query's own latency:      {one_query:6.2f} s")
    for number, wait in enumerate(waits, 1):
        print(f"payer {number:>2}: approval to paid            {wait:6.2f} s")
    worst = max(waits)
    times = worst / one_query
    print(f"max, approval to paid ({payers} together):    {worst:6.2f} s  ({times:.2f}x the baseline)")
    print(f"target: within {TARGET:.0f} s: {'met' if worst <= TARGET else 'NOT MET'}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--payers", type=int, default=10)
    parser.add_argument("--latency", type=float, default=8.0, help="seconds each STK query takes")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-reconcile-"))
    try:
        asyncio.run(bench(args.payers, args.latency, folder))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
