"""Who is asking: the client's address, believing X-Forwarded-For only from configured proxies."""

import ipaddress
from collections.abc import Iterable

from litestar.connection import ASGIConnection


def client_ip(connection: ASGIConnection, trusted_proxies: Iterable) -> str:
    """The nearest address that is not a trusted proxy; the peer itself when there are none."""
    peer = connection.client.host if connection.client else ""
    trusted = tuple(trusted_proxies)
    if not trusted or not _within(peer, trusted):
        return peer
    hops = [hop.strip() for hop in connection.headers.get("x-forwarded-for", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_address(hop):
            break  # a forged or broken header: believe only the proxy itself
        if not _within(hop, trusted):
            return hop
    return peer


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _within(address: str, networks: tuple) -> bool:
    return _is_address(address) and any(ipaddress.ip_address(address) in network for network in networks)
