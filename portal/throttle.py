"""Tries per key (a device's MAC, an address) in a sliding window, kept in memory.

Used where guessing must be slow: the reconnect page's codes. A try is counted before it is made, in
the same step that checks the limit, so guesses sent all at once can't slip past it while the first
ones are still being checked. Memory is enough: the codes are 40 bits and more, so the few extra tries
a restart gives a guesser change nothing.
"""

from collections import deque
from collections.abc import Mapping
from datetime import timedelta

from .clock import Clock

SWEEP_ABOVE = 10_000  # keys; past this, keys with no recent try are dropped


class Throttle:
    def __init__(self, clock: Clock, window: timedelta = timedelta(hours=1)):
        self.clock = clock
        self.window = window
        self._tries: dict[str, deque] = {}

    def may_try(self, limits: Mapping[str, int]) -> bool:
        """False when any key has used up its limit of tries; otherwise counts this try against each."""
        if any(self._count(key) >= limit for key, limit in limits.items()):
            return False
        if len(self._tries) > SWEEP_ABOVE:
            for key in list(self._tries):
                self._count(key)
        for key in limits:
            self._tries.setdefault(key, deque()).append(self.clock.now())
        return True

    def forgive(self, key: str) -> None:
        """Takes back the newest try of `key` (one that turned out right)."""
        if tries := self._tries.get(key):
            tries.pop()

    def _count(self, key: str) -> int:
        tries = self._tries.get(key)
        if tries is None:
            return 0
        since = self.clock.now() - self.window
        while tries and tries[0] <= since:
            tries.popleft()
        if not tries:
            del self._tries[key]
        return len(tries)
