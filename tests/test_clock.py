import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from portal.clock import AcceleratedClock, FixedClock, SystemClock, from_text, to_text


def test_fixed_clock_moves_only_when_advanced():
    clock = FixedClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    assert clock.now() == clock.now() == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    clock.advance(90)
    assert clock.now() == datetime(2026, 3, 1, 12, 1, 30, tzinfo=UTC)
    clock.advance(hours=2)
    assert clock.now() == datetime(2026, 3, 1, 14, 1, 30, tzinfo=UTC)


async def test_fixed_clock_wakes_sleepers_in_order_when_their_time_comes():
    clock = FixedClock()
    woke = []

    async def sleeper(name, seconds):
        await clock.sleep(seconds)
        woke.append(name)

    tasks = [asyncio.create_task(sleeper("late", 60)), asyncio.create_task(sleeper("early", 10))]
    await asyncio.sleep(0)
    clock.advance(30)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert woke == ["early"]
    clock.advance(30)
    await asyncio.gather(*tasks)
    assert woke == ["early", "late"]


async def test_fixed_clock_sleep_of_zero_returns_at_once():
    await asyncio.wait_for(FixedClock().sleep(0), timeout=1)


def test_accelerated_clock_runs_faster_than_real_time():
    start = datetime(2026, 1, 1, tzinfo=UTC)
    clock = AcceleratedClock(scale=1_000_000, start=start)
    assert clock.now() - start > timedelta(seconds=0)
    assert clock.now() >= start
    with pytest.raises(ValueError):
        AcceleratedClock(scale=0)


def test_system_clock_is_timezone_aware_utc():
    assert SystemClock().now().utcoffset() == timedelta(0)


def test_stored_times_sort_as_text_in_time_order():
    base = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
    moments = [base, base + timedelta(microseconds=1), base + timedelta(seconds=1), base + timedelta(days=1)]
    texts = [to_text(moment) for moment in moments]
    assert sorted(texts) == texts
    assert [from_text(text) for text in texts] == moments


def test_stored_times_are_utc_whatever_zone_they_came_in():
    from zoneinfo import ZoneInfo

    nairobi = datetime(2026, 5, 1, 13, 0, tzinfo=ZoneInfo("Africa/Nairobi"))
    assert to_text(nairobi) == "2026-05-01T10:00:00.000000+00:00"
    with pytest.raises(ValueError):
        to_text(datetime(2026, 5, 1))
