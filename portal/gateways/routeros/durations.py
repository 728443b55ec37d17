"""RouterOS's way of writing a length of time, both ways (the emulator in portal/sim speaks it too)."""

import re

from ...typed_numbers import is_digits

UNITS = (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
DURATION = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:\d+ms)?$")
CLOCK_FORM = re.compile(r"^(?:(\d+)d\s*)?(\d+):([0-5]\d):([0-5]\d)$")


def parse_duration(text: str) -> int:
    """Seconds in a RouterOS time: 1w2d3h4m5s, 2:00:00, 1d 02:00:00, or a bare number of seconds."""
    text = text.strip()
    if is_digits(text):
        return int(text)
    if match := CLOCK_FORM.match(text):
        days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
        return ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    if text and (match := DURATION.match(text)):
        return sum(int(part or 0) * size for part, (_, size) in zip(match.groups(), UNITS, strict=True))
    raise ValueError(f"{text!r} is not a RouterOS time")


def format_duration(seconds: float) -> str:
    """RouterOS's own form: units with zero parts left out, `0s` for nothing."""
    seconds = int(seconds)
    if seconds <= 0:
        return "0s"
    parts = []
    for unit, size in UNITS:
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
