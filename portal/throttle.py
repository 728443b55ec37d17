"""Failed tries per key (a device's MAC, an address) in a sliding window, kept in memory.

Used where guessing must be slow: the reconnect page's codes. Memory is enough: the codes are 40 bits
and more, so the few extra tries a restart gives a guesser change nothing.
"""

from collections import deque
from datetime import timedelta

from .clock import Clock

SWEEP_ABOVE = 10_000  # keys; past this, keys with no recent failure are dropped


class Throttle:
    def __init__(self, clock: Clock, limit: int, window: timedelta = timedelta(hours=1)):
        self.clock = clock
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque] = {}

    def blocked(self, *keys: str) -> bool:
        return any(self._count(key) >= self.limit for key in keys)

    def failed(self, *keys: str) -> None:
        if len(self._failures) > SWEEP_ABOVE:
            for key in list(self._failures):
                self._count(key)
        for key in keys:
            self._failures.setdefault(key, deque()).append(self.clock.now())

    def _count(self, key: str) -> int:
        failures = self._failures.get(key)
        if failures is None:
            return 0
        since = self.clock.now() - self.window
        while failures and failures[0] <= since:
            failures.popleft()
        if not failures:
            del self._failures[key]
        return len(failures)
