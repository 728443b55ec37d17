"""How RouterOS writes times and speeds, and the mark that tells portal's hotspot users from the rest."""

import pytest

from portal.gateways.base import Speed
from portal.gateways.routeros.durations import format_duration, parse_duration
from portal.gateways.routeros.gateway import mark, session_of
from portal.gateways.routeros.rates import rate_limit


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        *[("0s", 0), ("59s", 59), ("5m3s", 303), ("1h", 3600), ("1d2h3m4s", 93784), ("2w3d4h5m6s", 1483506)],
        *[("2:00:00", 7200), ("1d 02:00:00", 93600), ("3600", 3600), ("1h30m", 5400), ("500ms", 0)],
    ],
)
def test_durations_read_every_form_routeros_accepts(text, seconds):
    assert parse_duration(text) == seconds


def test_durations_print_with_zero_parts_left_out():
    assert [format_duration(s) for s in (0, 59, 303, 3600, 93784, 1483506)] == [
        "0s",
        "59s",
        "5m3s",
        "1h",
        "1d2h3m4s",
        "2w3d4h5m6s",
    ]


def test_the_mark_names_the_session_and_nothing_else_reads_as_ours(clock):
    assert mark(42, clock.now()) == "portal:s=42;exp=2026-01-05T09:00:00Z"
    assert session_of(mark(42, clock.now())) == 42
    assert [session_of(c) for c in (None, "", "vip guest", "portal:s=x", "xportal:s=1")] == [None] * 5


@pytest.mark.parametrize(
    ("speed", "written"),
    [
        (Speed(upload=1_000_000, download=2_000_000), "1M/2M"),
        (Speed(upload=512_000, download=1_500), "512k/1500"),
        (Speed(upload=0, download=2_000_000_000), "0/2G"),  # RouterOS needs both: 0 is no limit that way
        (Speed(upload=0, download=0), ""),
        (None, ""),
    ],
)
def test_a_speed_is_written_as_the_routers_rx_tx_from_its_side_so_upload_first(speed, written):
    assert rate_limit(speed) == written


@pytest.mark.parametrize(
    ("speed", "held"),
    [
        (Speed(upload=1_000_000, download=1_000_000), "1M"),  # one rate limits both ways
        (Speed(upload=1_024_000, download=2_000_000), "1024k/2M"),
        (Speed(upload=512_000, download=512_000), "512K/512k"),
        (None, "0/0"),
    ],
)
def test_a_rate_the_router_holds_in_other_words_is_kept(speed, held):
    assert rate_limit(speed, held) == held


def test_a_rate_that_says_something_else_is_written_over():
    wanted = Speed(upload=1_000_000, download=2_000_000)
    for held in ("2M/1M", "1M/2M 2M/4M 1M/2M 10/10", "1.5M", "1M/2M/3M", "fast"):
        assert rate_limit(wanted, held) == "1M/2M"
    assert rate_limit(None, "1M/2M") == ""
