"""Who is asking and how: the client's address and scheme, believing X-Forwarded-For and X-Forwarded-Proto
only from trusted proxies."""

import ipaddress
from collections.abc import Iterable

from litestar.connection import ASGIConnection

Networks = Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def within(address: str, networks: Networks) -> bool:
    ip = _address(address)
    return ip is not None and any(ip in network for network in networks)


def client_address(connection: ASGIConnection, trusted_proxies: Networks) -> str:
    """The right-most X-Forwarded-For hop that isn't a trusted proxy: every hop left of it could have
    been written by the client itself. Without a trusted proxy in front, the peer's own address; at a
    hop that isn't an address at all (a forged or broken header), the nearest trusted one."""
    trusted = tuple(trusted_proxies)
    nearest = connection.client.host if connection.client else ""
    if not within(nearest, trusted):
        return nearest
    lines = connection.headers.getall("x-forwarded-for", [])
    hops = [hop.strip() for line in lines for hop in line.split(",") if hop.strip()]
    for hop in reversed(hops):
        if _address(hop) is None:
            break
        if not within(hop, trusted):
            return hop
        nearest = hop
    return nearest


def came_over_https(connection: ASGIConnection, trusted_proxies: Networks) -> bool:
    """HTTPS to us, or to the trusted proxy that passed the request on (its X-Forwarded-Proto, the last
    one if several proxies each added theirs). Whatever a public URL says, a browser that reached this
    box over plain HTTP is on plain HTTP."""
    if connection.url.scheme == "https":
        return True
    peer = connection.client.host if connection.client else ""
    if not within(peer, tuple(trusted_proxies)):
        return False
    schemes = [
        part.strip().lower()
        for line in connection.headers.getall("x-forwarded-proto", [])
        for part in line.split(",")
    ]
    return bool(schemes) and schemes[-1] == "https"
