"""The clock everything takes. Nothing else reads the system time.

Three clocks: the real one, a fixed one that tests move by hand, and an accelerated one for the demo,
where a package's hour can pass in a minute. Times are always timezone-aware UTC; they are stored as
ISO 8601 text, which sorts in time order.
"""

import asyncio
import heapq
import itertools
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    # Seconds of this clock's time per real second: what a page counting down in a browser (whose own
    # clock runs in real time) counts at.
    scale: float

    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None:
        """Wait for `seconds` of this clock's time to pass."""

    async def sleep_until(self, moment: datetime) -> None:
        """Wait until this clock reads `moment` (at once if it already has)."""


class SystemClock:
    scale = 1.0

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0))

    async def sleep_until(self, moment: datetime) -> None:
        await self.sleep((moment - self.now()).total_seconds())


class AcceleratedClock(SystemClock):
    """`scale` seconds of clock time pass for every real second (the demo's --time-scale)."""

    def __init__(self, scale: float, start: datetime | None = None):
        if scale <= 0:
            raise ValueError("time scale must be positive")
        self.scale = scale
        self._start = start or datetime.now(UTC)
        self._real_start = time.monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=(time.monotonic() - self._real_start) * self.scale)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0) / self.scale)


class FixedClock:
    """Stands still until a test calls `advance`; sleepers wake when their time is reached.

    `advance` may be called from any thread (the router emulator runs in its own), so sleepers are
    woken through their own event loop. A test may set `scale` to stand for the demo's clock in what
    pages tell browsers.
    """

    scale = 1.0

    def __init__(self, start: datetime | None = None):
        self._now = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        self._lock = threading.Lock()
        self._sleepers: list[tuple[datetime, int, asyncio.AbstractEventLoop, asyncio.Future]] = []
        self._order = itertools.count()

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float = 0, **delta: float) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=seconds, **delta)
            due = []
            while self._sleepers and self._sleepers[0][0] <= self._now:
                due.append(heapq.heappop(self._sleepers))
        for _, _, loop, future in due:
            loop.call_soon_threadsafe(_resolve, future)
        return self._now

    async def sleep(self, seconds: float) -> None:
        await self.sleep_until(self._now + timedelta(seconds=max(seconds, 0)))

    async def sleep_until(self, wake_at: datetime) -> None:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._lock:
            if wake_at <= self._now:
                future.set_result(None)
            else:
                heapq.heappush(self._sleepers, (wake_at, next(self._order), loop, future))
        await future


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


def to_text(moment: datetime) -> str:
    """The stored form of a time: UTC, ISO 8601, microseconds always present so text order is time order."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: every time in portal is timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def to_api_text(moment: datetime) -> str:
    """A time as the API and its webhooks show it: UTC, ISO 8601, with `Z`."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def from_text(text: str) -> datetime:
    return datetime.fromisoformat(text)
