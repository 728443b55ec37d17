"""Tries per key (a device's MAC, an address) in a sliding window, kept in memory.

Used where guessing must be slow: the reconnect page's codes. A try is counted before it is made, in
the same step that checks the limit, so guesses sent all at once can't slip past it while the first
ones are still being checked. Memory is enough: the codes are 40 bits and more, so the few extra tries
a restart gives a guesser change nothing.
"""

from collections import deque
from datetime import timedelta

from .clock import Clock

SWEEP_ABOVE = 10_000  # keys; past this, keys with no recent try are dropped


class Throttle:
    def __init__(self, clock: Clock, limit: int, window: timedelta = timedelta(hours=1)):
        self.clock = clock
        self.limit = limit
        self.window = window
        self._tries: dict[str, deque] = {}

    def may_try(self, *keys: str) -> bool:
        """False when any key has used up its tries; otherwise counts this try against every key."""
        if any(self._count(key) >= self.limit for key in keys):
            return False
        if len(self._tries) > SWEEP_ABOVE:
            for key in list(self._tries):
                self._count(key)
        for key in keys:
            self._tries.setdefault(key, deque()).append(self.clock.now())
        return True

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
