"""The kinds of gateway portal drives, by the name a router's `kind` holds, and each router's live gateway.

A new kind is a folder beside this file (its transport, settings form, templates; tests under
tests/gateways/) whose `__init__.py` describes it as a `Kind`, added to KINDS here.
"""

import asyncio
from dataclasses import dataclass

from . import routeros
from .base import Gateway, GatewayError, Kind, Online, Target
from .reach import Reach

KINDS: dict[str, Kind] = {kind.name: kind for kind in (routeros.KIND,)}


def kind(name: str) -> Kind:
    """The kind called `name`. One this portal doesn't know (a router added by a newer version) is an
    outage of that router's gateway: GatewayError(outage=True), said like any other."""
    try:
        return KINDS[name]
    except KeyError:
        raise GatewayError(f"this portal cannot drive a router of kind {name!r}", outage=True) from None


class Gateways:
    """One gateway per router, kept while the router's target stays the same (a connection is worth
    keeping: logging in costs a round trip, and routers log every login)."""

    def __init__(self, reach: Reach):
        self._reach = reach
        self._gateways: dict[int, tuple[Target, Gateway]] = {}

    async def get(self, router_id: int, target: Target) -> Gateway:
        cached = self._gateways.get(router_id)
        if cached and cached[0] == target:
            return cached[1]
        # Kept before the old one is closed, so two callers racing here share one new gateway.
        gateway = kind(target.kind).connect(target, self._reach)
        self._gateways[router_id] = (target, gateway)
        if cached:
            await cached[1].close()
        return gateway

    async def close(self) -> None:
        gateways, self._gateways = self._gateways, {}
        for _, gateway in gateways.values():
            await gateway.close()


@dataclass(frozen=True)
class OnlineNow:
    """What the routers count for the devices online on them now."""

    bytes: dict[tuple[int, str], int]  # (router id, MAC) → bytes both ways in its current session there
    unreachable: dict[str, str]  # router label → why it could not say


async def online_everywhere(gateways: Gateways, targets: list[tuple[int, Target]], wait: float) -> OnlineNow:
    """Asks the routers (id, target) side by side, each for at most `wait` seconds, so that a page
    never waits long for one that is down."""

    async def ask(router_id: int, target: Target) -> list[Online]:
        async with asyncio.timeout(wait):
            return await (await gateways.get(router_id, target)).online()

    answers = await asyncio.gather(*(ask(*each) for each in targets), return_exceptions=True)
    used, unreachable = {}, {}
    for (router_id, target), answer in zip(targets, answers, strict=True):
        if isinstance(answer, TimeoutError):
            unreachable[target.label] = f"no answer within {wait:g} s"
        elif isinstance(answer, GatewayError):
            unreachable[target.label] = str(answer)
        elif isinstance(answer, BaseException):
            raise answer
        else:
            for online in answer:
                used[(router_id, online.mac.upper())] = online.bytes_used
    return OnlineNow(used, unreachable)
