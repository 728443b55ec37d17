"""Which device is asking: the router's word on the MAC a splash page or form names.

Anyone can type a MAC into a link or a form; the router knows the truth. Its hotspot sees each device
at an address, and the portal, in the walled garden, sees the device's request come from that same
address. So a request whose address the router shows with the MAC it names is that device's; one whose
address the router shows with other devices only is someone naming a device not theirs.

The router can't always say: it is down or slow, or the portal sees an address of no device of the
Wi-Fi (a router that masquerades, a proxy, the office LAN). Then the MAC is taken on trust, as it was
before the router was asked, under the stricter limits that keep a stranger from spending anyone
else's (billing/checkout.py, web/splash/reconnect.py), and the log says why. Customers are never
locked out by the portal's own caution.

One question a request, one round trip at most, within WAIT; each answer, "can't say" included, is
remembered for REMEMBER and shared by the requests that come meanwhile, so the form after a page, a
burst of guesses, or a customer while their router is down, costs the router nothing more.
"""

import asyncio
import enum
import logging
from datetime import datetime, timedelta

from ..clock import Clock
from ..gateways.base import GatewayError
from ..gateways.registry import Gateways
from ..store import Store
from ..vault import Vault
from . import routers

log = logging.getLogger(__name__)

WAIT = 1.5  # seconds a page waits for the router's answer
REMEMBER = timedelta(seconds=15)
FORGET_ABOVE = 10_000  # answers kept; past this, the expired ones are dropped


class Asker(enum.Enum):
    DEVICE = "the device"  # the router shows the named MAC at the asking address
    STRANGER = "another device"  # the router shows other devices there, not the named one
    UNKNOWN = "unknown"  # the router can't say: the MAC is taken on trust


class Presence:
    def __init__(self, store: Store, clock: Clock, vault: Vault, gateways: Gateways):
        self.store = store
        self.clock = clock
        self.vault = vault
        self.gateways = gateways
        # (router id, address) → (the MACs there, or None if the router could not say; when asked)
        self._answers: dict[tuple[int, str], tuple[asyncio.Future[frozenset[str] | None], datetime]] = {}

    async def asker(self, router_id: int, address: str, mac: str) -> Asker:
        """Who a request from `address` naming `mac` behind the router is."""
        there = await self._devices_at(router_id, address)
        if there is None or not there:
            return Asker.UNKNOWN
        return Asker.DEVICE if mac in there else Asker.STRANGER

    async def _devices_at(self, router_id: int, address: str) -> frozenset[str] | None:
        """The answer asked within REMEMBER, or a new question; requests arriving together share one."""
        now = self.clock.now()
        key = (router_id, address)
        kept = self._answers.get(key)
        if kept is None or now - kept[1] >= REMEMBER:
            if len(self._answers) > FORGET_ABOVE:
                self._answers = {key: kept for key, kept in self._answers.items() if now - kept[1] < REMEMBER}
            kept = self._answers[key] = (asyncio.ensure_future(self._ask(router_id, address)), now)
        # Shielded: a customer who gives up waiting does not take the answer from the others.
        return await asyncio.shield(kept[0])

    async def _ask(self, router_id: int, address: str) -> frozenset[str] | None:
        router = await self.store.read(routers.get, router_id)
        why = ""
        try:
            async with asyncio.timeout(WAIT):
                gateway = await routers.gateway(self.gateways, self.vault, router)
                there = frozenset(await gateway.devices_at(address))
        except TimeoutError:
            why = f"no answer within {WAIT:g} s"
        except GatewayError as error:
            why = str(error)
        if why:
            log.warning(
                "cannot ask the router which device is asking: the MAC named is taken on trust,"
                " under the stricter limits",
                extra={"fields": {"router": router.name, "address": address, "why": why}},
            )
            return None
        if not there:
            # Every request is alike on a router that masquerades: said once in a while, quietly.
            log.debug(
                "no device of the Wi-Fi at the asking address: the MAC named is taken on trust",
                extra={"fields": {"router": router.name, "address": address}},
            )
        return there
