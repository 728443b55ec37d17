"""Serving ASGI apps under uvicorn: `portal serve` (the portal on its two listeners), and in the
background for the demo and the tests."""

import asyncio
import contextlib
import gc
import signal
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import uvicorn

from ..settings import Settings
from ..web import listeners

GRACEFUL_SECONDS = 3


class CommandError(Exception):
    """Ends the command with one line on stderr and exit code 2."""


TLSFiles = tuple[Path, Path]  # a certificate and its key, in PEM files


def _server(app, host: str, port: int, *, tls: TLSFiles | None = None, lifespan: bool = True):
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
        lifespan="on" if lifespan else "off",
        ssl_certfile=tls[0] if tls else None,
        ssl_keyfile=tls[1] if tls else None,
    )
    return uvicorn.Server(config)


def usable_tls(files: TLSFiles | None) -> TLSFiles | None:
    """The files, once they are known to load: a wrong one is one clear line before anything starts."""
    if files:
        certificate, key = files
        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(certificate, key)
        except (OSError, ssl.SSLError) as error:
            reason = getattr(error, "strerror", None) or getattr(error, "reason", None) or error
            raise CommandError(
                f"cannot use {certificate} and {key} as the admin's TLS certificate and key: {reason}"
            ) from None
    return files


async def serve(app, host: str, port: int) -> None:
    """Serves until Ctrl-C or SIGTERM (the simulators, on their own)."""
    server = _server(app, host, port)
    await server.serve()
    if not server.started:
        raise CommandError(f"could not listen on {host}:{port} (is another program using the port?)")


@contextlib.asynccontextmanager
async def background(
    app, host: str, port: int, *, tls: TLSFiles | None = None, lifespan: bool = True
) -> AsyncIterator[str]:
    """Serves an ASGI app in this event loop while the block runs (the demo's simulator, the tests'
    peers); yields its base URL once it accepts connections. Port 0 takes any free port."""
    server = _server(app, host, port, tls=tls, lifespan=lifespan)
    server.capture_signals = contextlib.nullcontext  # Ctrl-C belongs to whoever runs the loop
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(10):
        while not server.started:
            if task.done():
                with contextlib.suppress(SystemExit):  # uvicorn's way of saying it could not start
                    task.result()
                raise CommandError(f"could not listen on {host}:{port} (is another program using the port?)")
            await asyncio.sleep(0.005)
    port = port or server.servers[0].sockets[0].getsockname()[1]  # 0: the port the system chose
    try:
        yield f"{'https' if tls else 'http'}://{host}:{port}"
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def portal_listening(app, settings: Settings, tls: TLSFiles | None) -> AsyncIterator[tuple[str, str]]:
    """The portal on its two listeners (web/listeners.py) while the block runs; yields the customers'
    and the admin's base URLs. The customers' runs the app's start and stop, so the admin's opens once
    the services exist and closes before they go."""
    async with (
        background(listeners.for_customers(app), settings.server.host, settings.server.port) as customers,
        background(
            listeners.for_admin(app), settings.admin.host, settings.admin.port, tls=tls, lifespan=False
        ) as admin,
    ):
        settle_long_lived_objects()
        yield customers, admin


def settle_long_lived_objects() -> None:
    """Moves what start-up made (modules, the app, its services, templates) out of the collector's reach:
    they live as long as the process, yet every full collection would walk them all again, a pause that
    grows with the code loaded rather than with the work in hand. Garbage of the start-up goes first."""
    gc.collect()
    gc.freeze()


async def until_stopped() -> None:
    """Returns at Ctrl-C or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signal_number, stop.set)
    try:
        await stop.wait()
    finally:
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signal_number)
