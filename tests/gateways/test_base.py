"""What every kind of gateway shares."""

import pytest

from portal.gateways.base import Speed, normalize_mac


def test_macs_are_normalized_and_junk_is_refused():
    assert normalize_mac(" aa-bb-cc-dd-ee-01 ") == "AA:BB:CC:DD:EE:01"
    for junk in ("", "AA:BB:CC:DD:EE", "GG:BB:CC:DD:EE:01", "AA:BB:CC:DD:EE:01;x"):
        with pytest.raises(ValueError, match="not a MAC address"):
            normalize_mac(junk)


@pytest.mark.parametrize(
    ("written", "speed"),
    [
        ("1M/2M", Speed(upload=1_000_000, download=2_000_000)),
        ("512k", Speed(upload=512_000, download=512_000)),  # one number limits both ways
        ("2G/512K", Speed(upload=2_000_000_000, download=512_000)),
        ("", None),  # no limit
    ],
)
def test_a_speed_reads_as_owners_write_it_and_writes_back_the_same(written, speed):
    assert Speed.parse(written) == speed
    if speed is not None and "/" in written:
        assert Speed.parse(speed.notation()) == speed


@pytest.mark.parametrize("junk", ["fast", "1.5M", "1M/2M/3M", "1M 2M", "-1M", "1234567k"])
def test_a_speed_that_is_not_one_is_refused(junk):
    with pytest.raises(ValueError, match="not a speed"):
        Speed.parse(junk)
