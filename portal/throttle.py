"""Guessing slowed down per key (a device's MAC, an address), kept in memory.

Used where guessing must be slow: the reconnect page's codes. Each key has some free tries; past them,
each next try waits twice as long as the one before (FIRST_WAIT, then twice that… up to LONGEST_WAIT),
and a key with no try for `forget_after` starts afresh. Slowed, never locked: an attacker who spends an
address's free tries for everyone behind it (a NAT) buys its customers a short wait, not an hour's
ban, and a right code gives its try back.

A try is counted before it is made, in the same step that checks the wait, so guesses sent all at once
can't slip past it while the first ones are still being checked. Memory is enough: the codes are 40
bits and more, so the few extra tries a restart gives a guesser change nothing.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from .clock import Clock

FIRST_WAIT = timedelta(seconds=2)
LONGEST_WAIT = timedelta(minutes=15)
NO_WAIT = timedelta(0)
SWEEP_ABOVE = 10_000  # keys; past this, the forgotten ones are dropped


@dataclass
class _Tries:
    count: int
    last: datetime


class Backoff:
    def __init__(self, clock: Clock, forget_after: timedelta = timedelta(hours=1)):
        self.clock = clock
        self.forget_after = forget_after
        self._tries: dict[str, _Tries] = {}

    def may_try(self, free: Mapping[str, int]) -> timedelta:
        """How long until a try is allowed for every key (`free`: its free tries); NO_WAIT when it is
        now, and then this try counts against each key. A try that must wait counts nowhere."""
        now = self.clock.now()
        wait = max((self._wait(key, tries, now) for key, tries in free.items()), default=NO_WAIT)
        if wait > NO_WAIT:
            return wait
        if len(self._tries) > SWEEP_ABOVE:
            self._tries = {key: t for key, t in self._tries.items() if now - t.last < self.forget_after}
        for key in free:
            tries = self._tries.setdefault(key, _Tries(0, now))
            tries.count, tries.last = tries.count + 1, now
        return NO_WAIT

    def forgive(self, key: str) -> None:
        """Takes back the newest try of `key` (one that turned out right)."""
        if tries := self._tries.get(key):
            tries.count -= 1

    def _wait(self, key: str, free: int, now: datetime) -> timedelta:
        tries = self._tries.get(key)
        if tries is None or now - tries.last >= self.forget_after:
            return NO_WAIT
        beyond = tries.count - free  # tries beyond the free ones so far
        if beyond < 0:
            return NO_WAIT
        # Doubling stops once past the longest wait (2 s doubled ten times is over 15 min).
        return max(NO_WAIT, tries.last + min(FIRST_WAIT * 2 ** min(beyond, 10), LONGEST_WAIT) - now)
