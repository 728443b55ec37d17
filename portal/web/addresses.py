"""Who is asking: the client's address, believing X-Forwarded-For only as far as trusted proxies go."""

import ipaddress
from collections.abc import Iterable

from litestar import Request

Networks = Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]


def within(address: str, networks: Networks) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_address(request: Request, trusted_proxies: Networks) -> str:
    """The right-most X-Forwarded-For hop that isn't a trusted proxy: every hop left of it could have
    been written by the client itself. Without a trusted proxy in front, the peer's own address."""
    trusted = tuple(trusted_proxies)
    peer = request.client.host if request.client else ""
    if not within(peer, trusted):
        return peer
    hops = [hop.strip() for line in request.headers.getall("x-forwarded-for", []) for hop in line.split(",")]
    hops = [hop for hop in hops if hop]
    for hop in reversed(hops):
        if not within(hop, trusted):
            return hop
    return hops[0] if hops else peer
