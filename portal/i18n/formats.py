"""How amounts, durations, times and phone numbers read: for customers in their language, for owners in
English.

Plain functions: the caller passes the zone and what "now" is (from the injected clock), so nothing here
reads the system time. Times are timezone-aware; each is shown in the zone it is given.
"""

import math
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from . import LANGUAGES, say

# Whole units, largest first, for a duration and for a speed.
DURATION_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60))
SPEED_UNITS = (("Gbps", 1000**3), ("Mbps", 1000**2), ("Kbps", 1000), ("bps", 1))


# -- for customers, in their language ---------------------------------------------------------------------


def duration(lang: str, seconds: int) -> str:
    """A package's time or the time left: 3600 → '1 hour' / 'saa 1'; 5400 → '1 hour 30 minutes';
    59 → 'less than a minute'. Whole units only, largest first."""
    parts = []
    for unit, size in DURATION_UNITS:
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(say(lang, f"unit.{unit}", count=count))
    return " ".join(parts) or say(lang, "duration.under_a_minute")


def wait(lang: str, span: timedelta) -> str:
    """How long to wait before trying again: 'less than a minute', else whole minutes rounded up (never
    sooner than it is over)."""
    seconds = math.ceil(span.total_seconds())
    return duration(lang, seconds if seconds < 60 else math.ceil(seconds / 60) * 60)


def _time_named(name: str, seconds: int) -> tuple[str, int] | None:
    """The whole unit and count a package's name says its time in, in any language: ('hour', 24) for
    '24 hours' or 'Saa 24' of a day's package; None for a name that says more, or other, than its time."""
    name = name.strip().casefold()
    for unit, size in DURATION_UNITS:
        if seconds and not seconds % size:
            count = seconds // size
            if any(name == say(lang, f"unit.{unit}", count=count).casefold() for lang in LANGUAGES):
                return unit, count
    return None


def names_duration(name: str, seconds: int) -> bool:
    """Does a package's name already say its time, in any whole unit and language? '24 hours' for a
    day does: the packages page then shows no '1 day' beside it."""
    return _time_named(name, seconds) is not None


def package_name(lang: str, name: str, seconds: int) -> str:
    """A package's name as the customer reads it: one that only says its time is said in their
    language ('3 hours' → 'saa 3', never both side by side); any other is the owner's own word."""
    said = _time_named(name, seconds)
    return say(lang, f"unit.{said[0]}", count=said[1]) if said else name


def speed(lang: str, download_bps: int) -> str:
    """What a package promises: 4_000_000 → 'up to 4 Mbps' / 'hadi 4 Mbps'; 0 (no limit) → ''.

    In the largest unit that keeps the number whole, as owners type speeds: 512_000 → 'up to 512 Kbps',
    1_500_000 → 'up to 1500 Kbps'."""
    if not download_bps:
        return ""
    number, unit = next((download_bps // size, unit) for unit, size in SPEED_UNITS if not download_bps % size)
    return say(lang, "speed.up_to", speed=f"{number} {unit}")


def end_time(moment: datetime, zone: ZoneInfo, now: datetime) -> str:
    """When a session ends: '14:05' today; '14:05, 04/03/2025' on another day (a week's package ends on
    another day), the date day first, as Kenyans write it."""
    local = moment.astimezone(zone)
    today = local.date() == now.astimezone(zone).date()
    return local.strftime("%H:%M" if today else "%H:%M, %d/%m/%Y")


def masked_phone(number: str) -> str:
    """'254712345678' → '0712 ••• 678': enough for the owner of the phone to recognise it, on a page that
    anyone holding the link can open."""
    national = _national(number)
    return f"{national[:4]} ••• {national[-3:]}"


# -- for customers and owners alike -----------------------------------------------------------------------


def money(amount: int | Decimal | None) -> str:
    """1000 → 'KES 1,000'; None, a sum over no payments, → 'KES 0'. Portal's money is whole shillings;
    an M-Pesa statement's cents show where there are some: Decimal('0.50') → 'KES 0.50'."""
    amount = amount or 0
    return f"KES {int(amount):,}" if amount == int(amount) else f"KES {amount:,.2f}"


def data_size(size: int | None) -> str:
    """A data cap: 1_500_000_000 → '1.5 GB', 250_000_000 → '250 MB'; None or 0 (no cap) → ''."""
    if not size:
        return ""
    for unit, scale in (("GB", 1000**3), ("MB", 1000**2)):
        if size >= scale:
            return f"{size / scale:g} {unit}"
    return f"{size:,} bytes"


# -- for owners, in English -------------------------------------------------------------------------------


def short_duration(seconds: int) -> str:
    """At a glance: 300 → '5 min' (anything under two minutes → '1 min'); 9000 → '2 h 30 min';
    273600 → '3 d 4 h'; 86400 → '1 day'."""
    minutes = seconds // 60
    if minutes < 60:
        return f"{max(minutes, 1)} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} day{'s' if days != 1 else ''}"


def when(moment: datetime | None, zone: ZoneInfo, now: datetime) -> str:
    """'today 14:05'; '3 Mar 14:05' earlier this year; '3 Mar 2024 14:05' before; '' for never."""
    if moment is None:
        return ""
    local = moment.astimezone(zone)
    this_day = now.astimezone(zone).date()
    if local.date() == this_day:
        return local.strftime("today %H:%M")
    if local.year == this_day.year:
        return local.strftime("%-d %b %H:%M")
    return local.strftime("%-d %b %Y %H:%M")


def when_exact(moment: datetime | None, zone: ZoneInfo) -> str:
    """'2025-03-03 14:05:09', to the second, for records such as the audit log; '' for never."""
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def day(value: date) -> str:
    """date(2025, 3, 3) → 'Mon 3 Mar', a row of the daily earnings."""
    return value.strftime("%a %-d %b")


def left(until: datetime | None, now: datetime) -> str:
    """A session's remaining time: '2 h 30 min'; 'ended' once it has passed; '' with no end."""
    if until is None:
        return ""
    seconds = int((until - now).total_seconds())
    return short_duration(seconds) if seconds > 0 else "ended"


def ago(moment: datetime | None, now: datetime) -> str:
    """'just now' within a minute; '5 min ago', '3 d 4 h ago'; 'never' when it has not happened."""
    if moment is None:
        return "never"
    seconds = int((now - moment).total_seconds())
    return "just now" if seconds < 60 else f"{short_duration(seconds)} ago"


def phone(number: str | None) -> str:
    """'254712345678' → '0712 345 678', the way Kenyans write it; '' for none."""
    if not number:
        return ""
    national = _national(number)
    return f"{national[:4]} {national[4:7]} {national[7:]}"


def _national(number: str) -> str:
    """'254712345678' (as phones.normalize stores it) → '0712345678'."""
    return "0" + number[3:]
