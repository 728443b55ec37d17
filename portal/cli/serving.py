"""Serving ASGI apps under uvicorn: `portal serve`, and in the background for the demo and the tests."""

import asyncio
import contextlib
from collections.abc import AsyncIterator

import uvicorn

GRACEFUL_SECONDS = 3


class CommandError(Exception):
    """Ends the command with one line on stderr and exit code 2."""


def _server(app, host: str, port: int) -> uvicorn.Server:
    # proxy_headers off: the app itself decides whom to believe (settings.server.trusted_proxies). A
    # waiting page's long poll (up to 25 s) must not hold a restart: past a few seconds it is cut, and
    # the page asks again.
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
    )
    return uvicorn.Server(config)


async def serve(app, host: str, port: int) -> None:
    """Serves until Ctrl-C or SIGTERM."""
    server = _server(app, host, port)
    await server.serve()
    if not server.started:
        raise CommandError(f"could not listen on {host}:{port} (is another program using the port?)")


@contextlib.asynccontextmanager
async def background(app, host: str, port: int) -> AsyncIterator[str]:
    """Serves an ASGI app in this event loop while the block runs (the demo's simulator, the tests'
    peers); yields its base URL once it accepts connections. Port 0 takes any free port."""
    server = _server(app, host, port)
    server.capture_signals = contextlib.nullcontext  # Ctrl-C belongs to whoever runs the loop
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(10):
        while not server.started:
            if task.done():
                task.result()
                raise CommandError(f"could not listen on {host}:{port} (is another program using the port?)")
            await asyncio.sleep(0.005)
    port = port or server.servers[0].sockets[0].getsockname()[1]  # 0: the port the system chose
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task
