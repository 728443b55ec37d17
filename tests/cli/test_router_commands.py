"""`portal router add|check|provision` against the emulator, and `portal sim-router` as a real process.

The CLI runs its own event loop, so it runs in a thread while the emulator serves from the test's loop.
"""

import asyncio
import io
import sys

import pytest
import routeros_api
from litestar import Litestar, get
from litestar.params import FromQuery
from litestar.response import Response

from portal import cli
from portal.access import routers
from portal.vault import write_new_key_file
from tests.conftest import ROUTER_NETWORKS, serving


@pytest.fixture
def config_file(tmp_path):
    write_new_key_file(tmp_path / "vault.key")
    path = tmp_path / "portal.toml"
    path.write_text(
        f'[store]\ndata_dir = "{tmp_path}"\n[vault]\nkey_file = "{tmp_path}/vault.key"\n'
        f"[routers]\nallowed_networks = {ROUTER_NETWORKS}\n"
    )
    assert cli.main(["--config", str(path), "migrate"]) == 0
    assert cli.main(["--config", str(path), "tenant", "create", "--slug", "cafe", "--name", "Cafe"]) == 0
    return path


async def run(config_file, *argv: str, stdin: str = "") -> int:
    def call() -> int:
        saved = sys.stdin
        sys.stdin = io.StringIO(stdin)
        try:
            return cli.main(["--config", str(config_file), *argv])
        finally:
            sys.stdin = saved

    return await asyncio.to_thread(call)


@get("/hotspot/login.html", sync_to_thread=False)
def login_page(router: FromQuery[str]) -> Response:
    return Response(f"<html>{router}</html>", media_type="text/html")


async def test_a_router_is_added_checked_and_provisioned_from_the_command_line(config_file, emulator, capsys):
    emulator.connect_device("AA:BB:CC:DD:EE:01", "10.5.50.2")
    add = ["router", "add", "--tenant", "cafe", "--name", "lobby", "--host", "127.0.0.1"]
    assert (
        await run(config_file, *add, "--port", str(emulator.port), "--user", "admin", stdin="secret\n") == 0
    )
    assert await run(config_file, "router", "check", "lobby") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-4:] == [
        "  identity        cafe-router",
        "  RouterOS 7.18.2 on hAP ac^2, up 0s",
        "  Hotspot users: 0 (0 made by portal)",
        "  Online now: 0 · devices on the hotspot: 1",
    ]
    assert out[-5] == f"router lobby: reachable at 127.0.0.1:{emulator.port} (api)"
    assert "secret" not in "\n".join(out)
    async with serving(Litestar([login_page], logging_config=None)) as base:
        assert await run(config_file, "router", "provision", "lobby", "--portal-url", base) == 0
        assert await run(config_file, "router", "provision", "lobby", "--portal-url", base) == 0
    out = capsys.readouterr().out
    assert "walled garden opened to 127.0.0.1" in out and "walled garden already open to 127.0.0.1" in out
    assert emulator.files["flash/hotspot/login.html"] == b"<html>lobby</html>"


async def test_provision_goes_to_the_portal_address_of_the_settings_and_says_when_there_is_none(
    config_file, emulator, capsys
):
    add = ["router", "add", "--tenant", "cafe", "--name", "lobby", "--host", "127.0.0.1"]
    await run(config_file, *add, "--port", str(emulator.port), "--user", "admin", stdin="secret\n")
    assert await run(config_file, "router", "provision", "lobby") == 2
    assert "pass --portal-url or set server.portal_url" in capsys.readouterr().err
    async with serving(Litestar([login_page], logging_config=None)) as base:
        config_file.write_text(config_file.read_text() + f'[server]\nportal_url = "{base}"\n')
        assert await run(config_file, "router", "provision", "lobby") == 0
    assert f"login page fetched from {base}/hotspot/login.html?router=lobby" in capsys.readouterr().out
    assert emulator.files["flash/hotspot/login.html"] == b"<html>lobby</html>"


async def test_a_router_that_refuses_the_login_fails_check_and_provision_with_one_line_and_no_password(
    config_file, emulator, capsys
):
    add = ["router", "add", "--tenant", "cafe", "--name", "lobby", "--host", "127.0.0.1"]
    await run(config_file, *add, "--port", str(emulator.port), "--user", "admin", stdin="hunter2\n")
    assert await run(config_file, "router", "check", "lobby") == 2
    refused = "portal: router lobby: the router refused the API login (check the user and password)\n"
    assert capsys.readouterr().err == refused
    assert await run(config_file, "router", "provision", "lobby", "--portal-url", "http://10.5.50.1") == 2
    assert capsys.readouterr().err == refused


async def test_adding_a_router_twice_or_for_an_unknown_tenant_is_refused(config_file, capsys):
    add = ["router", "add", "--name", "lobby", "--host", "10.0.0.1", "--user", "admin"]
    assert await run(config_file, *add, "--tenant", "cafe", stdin="pw\n") == 0
    assert await run(config_file, *add, "--tenant", "cafe", stdin="pw\n") == 2
    assert await run(config_file, *add, "--tenant", "nobody", stdin="pw\n") == 2
    assert capsys.readouterr().err.splitlines() == [
        f"portal: {routers.NAME_TAKEN}",
        "portal: no tenant with slug 'nobody'",
    ]


async def test_sim_router_runs_standalone_and_prints_how_to_reach_it():
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "portal.cli", "sim-router", "--port", "0", "--password", "pw",
        "--device", "aa:bb:cc:dd:ee:01,10.5.50.2", stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        async with asyncio.timeout(20):
            device = (await process.stdout.readline()).decode()
            router = (await process.stdout.readline()).decode()
        assert device == "device: AA:BB:CC:DD:EE:01 at 10.5.50.2\n"
        assert router.startswith("router: api://admin:pw@127.0.0.1:")
        port = int(router.rsplit(":", 1)[1])

        def hosts():
            pool = routeros_api.RouterOsApiPool("127.0.0.1", "admin", "pw", port=port, plaintext_login=True)
            try:
                return pool.get_api().get_resource("/ip/hotspot/host").get()
            finally:
                pool.disconnect()

        assert [host["address"] for host in await asyncio.to_thread(hosts)] == ["10.5.50.2"]
    finally:
        process.terminate()
        await process.wait()
