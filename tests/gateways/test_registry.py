"""The registry: each router's gateway kept while its target stays the same, and asking every router
who is online, side by side, without waiting long for one that is down. Against the RouterOS emulator."""

import pytest

from portal.gateways.base import GatewayError
from portal.gateways.registry import KINDS, Gateways, kind, online_everywhere
from portal.sim.routeros import RouterEmulator
from tests.conftest import eventually, free_port, reach
from tests.gateways.conftest import routeros_target

MAC = "AA:BB:CC:DD:EE:01"


def no_connections_to(emulator: RouterEmulator):
    async def closed() -> bool:
        return not emulator.connections

    return closed


@pytest.fixture
async def gateways():
    gateways = Gateways(reach())
    yield gateways
    await gateways.close()


def test_kinds_are_found_by_the_name_a_router_stores_and_an_unknown_one_is_an_outage():
    assert kind("routeros") is KINDS["routeros"]
    assert kind("routeros").login_page == "gateways/routeros/login.html"
    with pytest.raises(GatewayError, match="cannot drive a router of kind 'opennds'") as caught:
        kind("opennds")
    assert caught.value.outage


async def test_a_routers_gateway_and_its_connection_are_kept_while_its_target_stays_the_same(
    emulator, gateways
):
    first = await gateways.get(1, routeros_target(emulator.port))
    await first.health()
    assert await gateways.get(1, routeros_target(emulator.port)) is first
    await first.health()
    assert len([s for s in emulator.sentences if s[0] == "/login"]) == 1


async def test_a_changed_target_gets_a_new_gateway_and_the_old_one_is_closed(emulator, gateways):
    old = await gateways.get(1, routeros_target(emulator.port))
    await old.health()
    new = await gateways.get(1, routeros_target(emulator.port, password="rotated"))
    assert new is not old
    await eventually(no_connections_to(emulator))
    with pytest.raises(GatewayError, match="refused the API login"):
        await new.health()


async def test_gateways_close_every_connection(emulator):
    gateways = Gateways(reach())
    for router_id in (1, 2):
        await (await gateways.get(router_id, routeros_target(emulator.port))).health()
    assert len(emulator.connections) == 2
    await gateways.close()
    await eventually(no_connections_to(emulator))


async def test_online_everywhere_counts_bytes_by_router_and_mac_and_says_why_a_router_could_not(
    emulator, gateways, clock
):
    emulator.connect_device(MAC, "10.5.50.11")
    emulator.console("/ip/hotspot/user/add", {"name": MAC, "password": "x"})
    emulator.console("/ip/hotspot/active/login", {"user": MAC, "password": "x", "ip": "10.5.50.11"})
    emulator.traffic(MAC, 1_000, 20_000)
    silent = RouterEmulator(clock)
    await silent.start()
    silent.hold_replies()
    try:
        routers = [
            (1, routeros_target(emulator.port)),
            (2, routeros_target(free_port(), label="annex")),
            (3, routeros_target(silent.port, label="shed")),
        ]
        now = await online_everywhere(gateways, routers, wait=0.3)
    finally:
        silent.release_replies()
        await silent.stop()
    assert now.bytes == {(1, MAC): 21_000}
    assert now.unreachable.keys() == {"annex", "shed"}
    assert now.unreachable["annex"].startswith("no RouterOS API answered at 127.0.0.1:")
    assert now.unreachable["shed"] == "no answer within 0.3 s"
