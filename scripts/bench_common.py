"""What the benchmarks share: percentiles, free ports, starting and waiting for server processes, and
the bare Litestar app their baselines are measured on.

A figure means something only beside its baseline measured in the same run, on the same machine and
under the same load: the bare app is that baseline for HTTP. It answers as cheaply as Litestar can
(no store, no templates, no middleware of ours) under uvicorn configured as `portal serve` configures
it, so "portal minus bare" is what the portal's own work costs.

Run as a program it serves the bare app: `python scripts/bench_common.py PORT`.
"""

import argparse
import asyncio
import os
import platform
import shutil
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
CALLBACK_ANSWER = {"ResultCode": 0, "ResultDesc": "Accepted"}


def with_load_options(parser: argparse.ArgumentParser, in_flight: str) -> argparse.ArgumentParser:
    """The options of the benchmarks that load a server from a temporary folder: `--concurrency` (how
    many `in_flight` at once) and `--dir`."""
    parser.add_argument(
        "--concurrency", type=int, default=32, help=f"{in_flight} in flight at once (default 32)"
    )
    parser.add_argument(
        "--dir", type=Path, help="where the temporary database folder goes (default: the system's temp dir)"
    )
    return parser


def run_in_new_folder(
    prefix: str, parent: Path | None, bench: Callable[[Path], Coroutine[None, None, None]]
) -> None:
    """Runs `bench(folder)` on a new temporary folder (`--dir`'s), removed afterwards; first says which
    machine the figures are of."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    print(
        f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}; database in {folder}"
    )
    try:
        asyncio.run(bench(folder))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@dataclass(frozen=True)
class PortalConfig:
    file: Path  # for `portal serve`, as $PORTAL_CONFIG
    settings: Any
    vault: Any
    base: str  # the customers' listener: the callbacks'
    admin: str  # the admin's listener: the API's


def portal_config(folder: Path) -> PortalConfig:
    """A `portal serve` set up in `folder`: both listeners on free loopback ports, a new vault key,
    callbacks taken from loopback, prompts that wait an hour to be paid, only warnings logged.

    With a public URL, the serve process registers C2B URLs at start; a benchmark's simulator may be
    gone by then, which logs one warning ("C2B URLs not registered"): one failed connect, before
    anything is measured."""
    from portal import settings as config
    from portal.vault import Vault, write_new_key_file

    key_file = folder / "vault.key"
    write_new_key_file(key_file)
    port, admin_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    file = folder / "portal.toml"
    file.write_text(
        f'[server]\nhost = "127.0.0.1"\nport = {port}\npublic_url = "{base}"\n'
        f'[admin]\nhost = "127.0.0.1"\nport = {admin_port}\n'
        f'[store]\ndata_dir = "{folder}"\n[vault]\nkey_file = "{key_file}"\n'
        '[mpesa]\npayment_timeout = 3600\ncallback_allowlist = ["127.0.0.1"]\n[log]\nlevel = "warning"\n'
    )
    settings = config.load(file, environ={})
    return PortalConfig(file, settings, Vault.from_file(key_file), base, f"http://127.0.0.1:{admin_port}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def percentile(values: Sequence[float], share: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(share * 100) - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def spread(seconds: Sequence[float]) -> str:
    """p50, p99 and max of durations in seconds."""
    return (
        f"p50 {ms(percentile(seconds, 0.50)):>9}  p99 {ms(percentile(seconds, 0.99)):>9}"
        f"  max {ms(max(seconds)):>9}  (n={len(seconds)})"
    )


def cpu_seconds(pid: int) -> float:
    """The CPU time a process has used so far, user and system, all its threads (Linux). On a machine
    shared with other work, CPU per request holds still where requests per second swing with the load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """A process's resident memory now, in MB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise ValueError(f"no VmRSS for process {pid}")


def times(figure: float, baseline: float) -> str:
    return f"{figure / baseline:.1f}x" if baseline else "n/a"


class Connection:
    """One keep-alive HTTP/1.1 connection that posts JSON and reads the answer, and nothing more.

    A load generator must cost less than what it loads: httpx, at 32 connections, spends more of the
    two cores on its pool than a bare Litestar endpoint does answering (it held the bare endpoint to
    ~200 callbacks/s, below one at a time), so the figures measured the client. This costs a few
    microseconds a request."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str):
        self._reader, self._writer, self._host = reader, writer, host

    @classmethod
    async def open(cls, base: str) -> "Connection":
        host, port = base.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        return cls(reader, writer, f"{host}:{port}")

    async def post(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        """POSTs `body` (JSON) to `path`, with `headers` besides; returns the status and the answer's body."""
        more = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        self._writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {self._host}\r\nContent-Type: application/json\r\n{more}"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        head = await self._reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        return status, await self._reader.readexactly(length)

    async def close(self) -> None:
        self._writer.close()
        await self._writer.wait_closed()


async def start(args: Sequence[str], *, cwd: Path, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(*args, cwd=cwd, env=env)


async def wait_until_up(base: str, process: asyncio.subprocess.Process, seconds: float = 60) -> None:
    """Until GET /healthz answers 200 (a portal migrating 1M payments may take a while)."""
    async with httpx.AsyncClient() as http, asyncio.timeout(seconds):
        while True:
            if process.returncode is not None:
                raise SystemExit(f"the server process exited with {process.returncode}")
            try:
                if (await http.get(base + "/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.005)  # fine enough to time a cold start by


async def stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.terminate()
        await process.wait()


async def start_bare(port: int) -> asyncio.subprocess.Process:
    """The bare app in a process of its own, as the portal runs in one; returns once it answers."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = await start([sys.executable, str(Path(__file__)), str(port)], cwd=ROOT, env=env)
    await wait_until_up(f"http://127.0.0.1:{port}", process)
    return process


def bare_app():
    """Endpoints that do what the portal's do minus the portal: answer, parse a callback, wait."""
    from litestar import Litestar, Request, get, post

    from portal.mpesa.callbacks import parse_stk_callback

    @get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    @post("/hooks/stk/{token:str}", status_code=200)
    async def stk(request: Request, token: str) -> dict:
        # The same parse of the same JSON as the portal's hook; then no store at all.
        parse_stk_callback(await request.body())
        return CALLBACK_ANSWER

    @post("/json", status_code=201)
    async def json_in(data: dict) -> dict:
        """An API call minus the API: a JSON body parsed, and answered."""
        return data

    @get("/wait")
    async def wait(ms: float) -> dict:
        """A request that takes as long as an admin page but costs no CPU: the load pattern without
        the load."""
        await asyncio.sleep(ms / 1000)
        return {"waited": ms}

    return Litestar(route_handlers=[healthz, stk, json_in, wait], openapi_config=None, logging_config=None)


def serve_bare(port: int) -> None:
    import uvicorn

    # As portal.cli.serving configures uvicorn for `portal serve`.
    config = uvicorn.Config(
        bare_app(), host="127.0.0.1", port=port, log_config=None, access_log=False, proxy_headers=False
    )
    uvicorn.Server(config).run()


async def probe_every(http: httpx.AsyncClient, url: str, every: float, until: float) -> list[float]:
    """GET `url` every `every` seconds (on a fixed schedule, so a slow answer doesn't lower the rate
    of the ones after it) until time.monotonic() reaches `until`; returns each answer's duration."""
    durations = []
    tick = time.monotonic()
    while tick < until:
        await asyncio.sleep(max(0.0, tick - time.monotonic()))
        sent = time.perf_counter()
        response = await http.get(url)
        durations.append(time.perf_counter() - sent)
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}: {response.text[:200]}")
        tick += every
        tick = max(tick, time.monotonic() - every)  # after a stall, don't fire a burst to catch up
    return durations


if __name__ == "__main__":
    serve_bare(int(sys.argv[1]))
