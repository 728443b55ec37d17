"""Helpers for the gateway tests."""

from dataclasses import replace

from portal.gateways.base import Target

ROUTEROS = Target(
    kind="routeros",
    label="cafe",
    host="127.0.0.1",
    port=0,
    use_tls=False,
    username="admin",
    password="secret",  # the `emulator` fixture's API user
    hotspot_server="all",
)


def routeros_target(port: int, **changes) -> Target:
    """How portal reaches a RouterOS emulator listening on `port`; `changes` alter the rest."""
    return replace(ROUTEROS, port=port, **changes)
