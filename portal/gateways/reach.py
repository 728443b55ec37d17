"""Where and how long portal may try to reach a gateway.

A business owner types a router's address. Without a limit the box would connect wherever they say (its
own loopback services, the networks behind it, the internet) and tell them what answered there: so only
addresses in the configured networks (settings routers.allowed_networks, the private ranges by default)
are tried, and a refusal says nothing of what is at the address.
"""

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from .base import GatewayError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
OUTSIDE = (
    "{host} is outside the networks this box may reach routers on: give the router's address on your"
    " local network, like 192.168.88.1"
)
UNKNOWN_NAME = (
    "{host} is not a name this box can find: check it, or give the router's address, like 192.168.88.1"
)


class RouterSettings(Protocol):
    """What the settings' [routers] section says of reaching them (settings.Routers)."""

    allowed_networks: tuple
    api_timeout: int
    connect_timeout: int


@dataclass(frozen=True)
class Reach:
    networks: tuple[Network, ...]
    timeout: float  # seconds for each answer
    connect_timeout: float  # seconds for the router to take the connection (and the login)

    @classmethod
    def of(cls, routers: RouterSettings) -> "Reach":
        return cls(routers.allowed_networks, routers.api_timeout, routers.connect_timeout)


class OutOfReach(GatewayError):
    """An address portal may not connect to: outside the networks, or a name that finds none."""

    def __init__(self, message: str):
        super().__init__(message, outage=True)


def address_within(host: str, port: int, networks: Iterable[Network]) -> str:
    """The address to connect to for `host`, every address it resolves to being in `networks` (DNS may
    answer any of them next time); raises OutOfReach. Blocking (a name is looked up): run it off the
    event loop."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise OutOfReach(UNKNOWN_NAME.format(host=host)) from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
    allowed = tuple(networks)
    if not addresses or not all(
        any(ipaddress.ip_address(address) in network for network in allowed) for address in addresses
    ):
        raise OutOfReach(OUTSIDE.format(host=host))
    return addresses[0]
