"""Which device is asking, in the router's own words: its host table, asked over the API of the RouterOS
emulator, once for a burst of requests, and never at the cost of a customer when it can't say."""

import asyncio
import logging

import pytest

from portal.access import presence
from portal.access.presence import Asker, Presence
from portal.gateways.registry import Gateways
from tests.access.conftest import IP, MAC
from tests.conftest import reach

STRANGER = "AA:BB:CC:DD:EE:66"


@pytest.fixture
async def asking(store, clock, vault, site):
    gateways = Gateways(reach(timeout=0.5))
    yield Presence(store, clock, vault, gateways)
    await gateways.close()


def questions(emulator) -> int:
    return sum(sentence[0] == "/ip/hotspot/host/print" for sentence in emulator.sentences)


async def test_the_router_says_whether_the_asking_address_is_the_named_device_or_another(
    asking, site, emulator
):
    emulator.connect_device(MAC, IP)
    assert await asking.asker(site.router_id, IP, MAC) is Asker.DEVICE
    assert await asking.asker(site.router_id, IP, STRANGER) is Asker.STRANGER  # someone naming MAC
    # No device of the Wi-Fi at the address (a router that masquerades, the office LAN): on trust.
    assert await asking.asker(site.router_id, "192.168.88.7", MAC) is Asker.UNKNOWN


async def test_requests_together_and_soon_after_cost_the_router_one_question(asking, site, emulator, clock):
    emulator.connect_device(MAC, IP)
    before = questions(emulator)
    answers = await asyncio.gather(*(asking.asker(site.router_id, IP, MAC) for _ in range(20)))
    assert set(answers) == {Asker.DEVICE}
    clock.advance(seconds=presence.REMEMBER.total_seconds() - 1)
    assert await asking.asker(site.router_id, IP, STRANGER) is Asker.STRANGER
    assert questions(emulator) - before == 2  # one question: its two prints, sent together
    clock.advance(seconds=1)
    emulator.connect_device(STRANGER, "10.5.50.12")
    emulator.connect_device(MAC, "10.5.50.12")  # moved: asked afresh, the router's new word
    assert await asking.asker(site.router_id, IP, MAC) is Asker.UNKNOWN
    assert questions(emulator) - before == 4


@pytest.mark.parametrize("trouble", ["down", "silent"])
async def test_a_router_that_cannot_say_leaves_the_mac_on_trust_at_once_and_says_so_in_the_log(
    asking, site, emulator, caplog, trouble
):
    emulator.connect_device(MAC, IP)
    if trouble == "down":
        await emulator.down()
    else:
        emulator.hold_replies()
    caplog.set_level(logging.WARNING, logger="portal.access.presence")
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await asking.asker(site.router_id, IP, STRANGER) is Asker.UNKNOWN
    assert loop.time() - started < presence.WAIT + 0.5
    assert await asking.asker(site.router_id, IP, MAC) is Asker.UNKNOWN  # remembered, not asked again
    [said] = [record for record in caplog.records if record.name == "portal.access.presence"]
    assert "taken on trust" in said.getMessage() and said.fields["router"] == "cafe"
    emulator.release_replies()
