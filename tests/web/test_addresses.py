from ipaddress import ip_network

import pytest
from litestar import Request

from portal.web.addresses import client_address, within

PROXY = (ip_network("10.0.0.0/8"),)


def request(peer: str, *forwarded: str) -> Request:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
    return Request(
        {"type": "http", "method": "POST", "path": "/", "headers": headers, "client": (peer, 5000)}
    )


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "expected"),
    [
        ("203.0.113.9", ["196.201.214.200"], PROXY, "203.0.113.9"),  # not our proxy: the header is a claim
        ("10.0.0.2", ["196.201.214.200"], PROXY, "196.201.214.200"),
        (
            "10.0.0.2",
            ["6.6.6.6, 196.201.214.200"],
            PROXY,
            "196.201.214.200",
        ),  # left of it: the client's words
        ("10.0.0.2", ["196.201.214.200, 10.0.0.3"], PROXY, "196.201.214.200"),  # two proxies
        ("10.0.0.2", ["6.6.6.6", "196.201.214.200"], PROXY, "196.201.214.200"),  # header sent twice
        ("10.0.0.2", [], PROXY, "10.0.0.2"),
        ("10.0.0.2", ["196.201.214.200"], (), "10.0.0.2"),  # no proxy trusted at all
        ("10.0.0.2", ["198.51.100.1, 203.0.113.9, 10.0.0.5"], PROXY, "203.0.113.9"),
        ("10.0.0.2", ["10.0.0.7, 10.0.0.5"], PROXY, "10.0.0.7"),  # all ours: the furthest we know
        ("10.0.0.2", ["junk"], PROXY, "10.0.0.2"),  # forged or broken: only the proxy is believed
        ("10.0.0.2", ["196.201.214.200, junk, 10.0.0.5"], PROXY, "10.0.0.5"),
    ],
)
def test_client_address_is_the_rightmost_untrusted_hop(peer, forwarded, trusted, expected):
    assert client_address(request(peer, *forwarded), trusted) == expected


def test_within_refuses_what_is_not_an_address():
    assert within("196.201.214.200", (ip_network("196.201.214.0/24"),))
    assert not within("junk", (ip_network("0.0.0.0/0"),))
