"""Debian's nginx as an owner would put it in front of the admin: it ends HTTPS and passes the request on
in plain HTTP, saying so in X-Forwarded-Proto (scripts/setup test installs it)."""

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

from tests.conftest import free_port

NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
CONFIG = """
daemon off;
master_process off;
pid {run}/nginx.pid;
error_log {run}/error.log;
events {{}}
http {{
    access_log off;
    client_body_temp_path {run}/body;
    proxy_temp_path {run}/proxy;
    fastcgi_temp_path {run}/fastcgi;
    uwsgi_temp_path {run}/uwsgi;
    scgi_temp_path {run}/scgi;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {certificate};
        ssl_certificate_key {key};
        location / {{
            proxy_pass {upstream};
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
    }}
}}
"""


def write_config(run: Path, port: int, certificate: Path, key: Path, upstream: str) -> Path:
    run.mkdir()
    config = run / "nginx.conf"
    config.write_text(CONFIG.format(run=run, port=port, certificate=certificate, key=key, upstream=upstream))
    return config


@contextlib.asynccontextmanager
async def tls_proxy(run: Path, certificate: Path, key: Path, upstream: str) -> AsyncIterator[str]:
    """nginx on a loopback port, ending TLS with `certificate` and passing requests to `upstream`; yields
    its https:// base URL once it takes connections."""
    assert NGINX, "nginx is not installed: scripts/setup test installs it (apt-get install nginx)"
    port = free_port()
    config = write_config(run, port, certificate, key, upstream)
    process = await asyncio.create_subprocess_exec(
        NGINX, "-p", str(run), "-c", str(config), "-e", str(run / "error.log"),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        async with asyncio.timeout(10):
            while True:
                assert process.returncode is None, "nginx stopped: see its error.log"
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                except OSError:
                    await asyncio.sleep(0.02)  # nginx starting, in another process
                    continue
                writer.close()
                break
        yield f"https://127.0.0.1:{port}"
    finally:
        process.terminate()
        await process.wait()
