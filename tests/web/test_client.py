import ipaddress

from litestar.connection import ASGIConnection

from portal.web.client import client_ip

PROXY = (ipaddress.ip_network("10.0.0.0/8"),)


def connection(peer: str, forwarded: str | None = None) -> ASGIConnection:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return ASGIConnection({"type": "http", "client": (peer, 1234), "headers": headers})


def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy():
    assert client_ip(connection("192.0.2.7", "203.0.113.9"), ()) == "192.0.2.7"
    assert client_ip(connection("192.0.2.7", "203.0.113.9"), PROXY) == "192.0.2.7"


def test_behind_trusted_proxies_the_nearest_untrusted_hop_is_the_client():
    assert client_ip(connection("10.0.0.2", "198.51.100.1, 203.0.113.9, 10.0.0.5"), PROXY) == "203.0.113.9"


def test_a_garbled_forwarded_header_falls_back_to_the_proxy():
    assert client_ip(connection("10.0.0.2", "not-an-address"), PROXY) == "10.0.0.2"
