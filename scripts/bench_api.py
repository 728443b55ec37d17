"""How fast the API sends M-Pesa prompts, and how soon a client's server hears that one was paid, on
this machine, with a durable store.

Run it as `scripts/bench-api [--pushes N] [--concurrency C] [--webhooks W]`. It prints figures; it is
not a test.

1. In this process: the Daraja simulator, and the API client's own server (the webhook receiver, which
   checks every signature with the `standardwebhooks` library) on loopback. A fresh database gets a
   business with an M-Pesa account on the simulator, an API client with limits high enough for the
   run, and a webhook endpoint at the receiver.
2. A separate `portal serve` process on that database, as on a gateway box.
3. N `POST /api/v1/payments`, each to a phone of its own with an Idempotency-Key of its own, C at a
   time on keep-alive connections: each answer (201) comes after the STK push reached the simulator
   and the payment was committed. Requests per second and latency.
4. The baseline, in the same run: the same bodies posted the same way to a bare Litestar JSON endpoint
   (bench_common.bare_app) in its own uvicorn process; the API's figures beside it, with the ratio.
5. Webhook lag: W of those payments are paid by Daraja's success callbacks, posted to the portal a few
   at a time; the lag is from sending a callback to the receiver getting the signed `payment.paid`
   webhook of that payment.
"""

import argparse
import asyncio
import json
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

from bench_common import (
    CALLBACK_ANSWER,
    ROOT,
    Connection,
    free_port,
    percentile,
    portal_config,
    run_in_new_folder,
    start,
    start_bare,
    stop,
    times,
    wait_until_up,
    with_load_options,
)
from litestar import Litestar, Request, Response, post
from standardwebhooks import Webhook

from portal.billing import payments
from portal.cli.demo import add_simulator_account
from portal.cli.serving import background
from portal.clock import SystemClock
from portal.sim.daraja import Options, create_simulator, stk_callback_body
from portal.store.sqlite import SQLiteStore
from portal.tenancy import api_clients, tenants, webhooks

SCOPES = ["payments:write", "payments:read"]
CALLBACKS_AT_ONCE = 4  # a steady flow of payments being paid, not a burst


class Receiver:
    """The API client's server: the time each payment's `payment.paid` arrived, signatures checked."""

    def __init__(self, secret: str):
        self.verifier = Webhook(secret)
        self.paid_at: dict[int, float] = {}
        self.arrived = asyncio.Event()
        self.expected = 0

    def app(self) -> Litestar:
        @post("/hooks/portal")
        async def hook(request: Request) -> Response:
            event = self.verifier.verify(await request.body(), dict(request.headers))  # raises if forged
            if event["type"] == "payment.paid":
                self.paid_at.setdefault(event["data"]["id"], time.perf_counter())
                if len(self.paid_at) >= self.expected:
                    self.arrived.set()
            return Response(b"", status_code=204)

        return Litestar([hook], openapi_config=None, logging_config=None)


def prepare(db, clock, vault, daraja_url: str, receiver_url: str, limit: int) -> tuple[str, str]:
    """The business, its API client (limits above the run's calls) and its webhook endpoint; returns
    (the token, the endpoint's secret)."""
    tenant_id = tenants.create(db, clock, "bench", "Bench Shop")
    add_simulator_account(db, vault, clock, tenant_id, daraja_url)
    client, token = api_clients.create(db, clock, tenant_id, "Bench checkout", SCOPES)
    api_clients.set_quotas(db, client.id, limit, limit)
    _, secret = webhooks.add(db, clock, vault, client.id, receiver_url)
    return token, secret


def push_body(number: int) -> bytes:
    return json.dumps(
        {"phone": f"07{number:08d}", "amount": 10, "reference": f"ORDER{number}", "description": "Bench"}
    ).encode()


async def post_all(base: str, path: str, jobs: list[tuple[bytes, dict]], concurrency: int, expect: int):
    """Posts each (body, headers) to `path`, `concurrency` at a time on as many keep-alive connections;
    returns (seconds elapsed, latencies in ms, the answers' bodies)."""
    latencies: list[float] = []
    answers: list[bytes] = []
    waiting = iter(jobs)

    async def one_connection(connection: Connection) -> None:
        try:
            for body, headers in waiting:  # shared: each connection takes the next when free
                sent = time.perf_counter()
                status, answer = await connection.post(path, body, headers)
                latencies.append((time.perf_counter() - sent) * 1000)
                if status != expect:
                    raise SystemExit(f"{path} answered {status}: {answer[:300]!r}")
                answers.append(answer)
        finally:
            await connection.close()

    connections = [await Connection.open(base) for _ in range(min(concurrency, len(jobs)))]
    started = time.perf_counter()
    await asyncio.gather(*(one_connection(connection) for connection in connections))
    return time.perf_counter() - started, latencies, answers


def row(name: str, elapsed: float, latencies: list[float]) -> tuple[float, float]:
    """Prints one line of the table; returns (requests per second, p99 in ms)."""
    rate, p99 = len(latencies) / elapsed, percentile(latencies, 0.99)
    print(
        f"{name:<40} {len(latencies):>6}  {rate:>8.0f}/s  p50 {percentile(latencies, 0.50):7.1f} ms"
        f"  p99 {p99:7.1f} ms  max {max(latencies):7.1f} ms"
    )
    return rate, p99


def callback_paths(db, clock, payment_ids: list[int]) -> list[tuple[int, str, str]]:
    """(payment id, CheckoutRequestID, callback path) of each payment; their STK queries are put off
    past the run, so the poller's queries are not measured with the callbacks."""
    later = clock.now() + timedelta(days=1)
    found = []
    for payment_id in payment_ids:
        payments.schedule_query(db, payment_id, later)
        checkout = payments.get(db, payment_id).checkout_request_id
        found.append((payment_id, checkout, f"/hooks/stk/{payments.callback_token(db, payment_id)}"))
    return found


def success_callbacks(sim, clock, paths: list[tuple[int, str, str]]) -> list[tuple[int, str, bytes]]:
    """(payment id, callback path, Daraja's success callback) of each payment, its payer having paid."""
    found = []
    for payment_id, checkout, path in paths:
        sim.answer(checkout, "success")
        found.append(
            (payment_id, path, json.dumps(stk_callback_body(sim.prompts[checkout], clock.now())).encode())
        )
    return found


async def webhook_lag(base: str, callbacks: list, receiver: Receiver) -> list[float]:
    """Posts the callbacks a few at a time; returns each payment's lag, callback sent → webhook got, ms."""
    sent_at: dict[int, float] = {}
    receiver.expected = len(callbacks)
    waiting = iter(callbacks)

    async def one_connection(connection: Connection) -> None:
        try:
            for payment_id, path, body in waiting:
                sent_at[payment_id] = time.perf_counter()
                status, answer = await connection.post(path, body)
                if json.loads(answer) != CALLBACK_ANSWER:
                    raise SystemExit(f"the callback answered {status}: {answer[:200]!r}")
        finally:
            await connection.close()

    connections = [await Connection.open(base) for _ in range(CALLBACKS_AT_ONCE)]
    await asyncio.gather(*(one_connection(connection) for connection in connections))
    async with asyncio.timeout(120):
        await receiver.arrived.wait()
    return [(receiver.paid_at[payment_id] - sent) * 1000 for payment_id, sent in sent_at.items()]


async def bench(count: int, concurrency: int, paid: int, folder: Path) -> None:
    clock = SystemClock()
    portal = portal_config(folder)
    settings, vault, base, api = portal.settings, portal.vault, portal.base, portal.admin
    # The bench posts the callbacks itself, when it measures them; the payers wait that long.
    daraja = create_simulator(clock, Options(drop_callbacks=True, prompt_timeout=3600))
    sim = daraja.state.simulator
    store = await SQLiteStore.open(settings.database_path)
    try:
        await store.migrate()
        async with background(daraja, "127.0.0.1", 0) as daraja_url:
            receiver_port = free_port()
            token, secret = await store.write(
                prepare, clock, vault, daraja_url, f"http://127.0.0.1:{receiver_port}/hooks/portal", count * 4
            )
            receiver = Receiver(secret)
            async with background(receiver.app(), "127.0.0.1", receiver_port):
                environ = dict(os.environ, PORTAL_CONFIG=str(portal.file), PYTHONPATH=str(ROOT))
                process = await start([sys.executable, "-m", "portal.cli", "serve"], cwd=ROOT, env=environ)
                try:
                    await wait_until_up(base, process)
                    auth = {"Authorization": f"Bearer {token}"}
                    jobs = [(push_body(n), auth | {"Idempotency-Key": f"bench-{n}"}) for n in range(count)]
                    elapsed, latencies, answers = await post_all(
                        api, "/api/v1/payments", jobs, concurrency, 201
                    )
                    api_rate, api_p99 = row(f"API pushes, {concurrency} at a time", elapsed, latencies)
                    payment_ids = [json.loads(answer)["id"] for answer in answers[:paid]]
                    paths = await store.write(callback_paths, clock, payment_ids)
                    callbacks = success_callbacks(sim, clock, paths)
                    lags = await webhook_lag(base, callbacks, receiver)
                finally:
                    await stop(process)
    finally:
        await store.close()
    print(f"pushes that reached the Daraja simulator: {len(sim.prompts)} of {count}")
    if len(sim.prompts) != count:
        raise SystemExit("FAILED: every API call should have sent one push")

    bare_port = free_port()
    bare = await start_bare(bare_port)
    try:
        elapsed, latencies, _ = await post_all(
            f"http://127.0.0.1:{bare_port}", "/json", jobs, concurrency, 201
        )
        bare_rate, bare_p99 = row(f"bare Litestar JSON, {concurrency} at a time", elapsed, latencies)
    finally:
        await stop(bare)

    print(
        f"API beside bare Litestar: {api_rate / bare_rate:.0%} of its requests/s,"
        f" p99 {times(api_p99, bare_p99)} its p99"
    )
    print(
        f"webhook lag, callback sent → signed payment.paid received ({len(lags)} payments,"
        f" {CALLBACKS_AT_ONCE} callbacks at a time): p50 {percentile(lags, 0.50):.1f} ms"
        f"  p99 {percentile(lags, 0.99):.1f} ms  max {max(lags):.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pushes", type=int, default=1000, help="API prompts to send (default 1000)")
    parser.add_argument("--webhooks", type=int, default=300, help="payments paid for the lag (default 300)")
    args = with_load_options(parser, "API calls").parse_args()
    paid = min(args.webhooks, args.pushes)
    run_in_new_folder(
        "bench-api-", args.dir, lambda folder: bench(args.pushes, args.concurrency, paid, folder)
    )


if __name__ == "__main__":
    main()
