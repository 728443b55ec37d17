"""The api_usage table: each API client's calls per day (the business's day, in `[store] timezone`),
answered and failed, and among them its calls for an M-Pesa prompt, which its monthly quota counts.

A call's outcome is known only once it is answered, after the transaction that let it in
(api_clients.authenticate) has committed, and a commit of its own per call would double the
API's writes. So a `Meter` counts in memory and its counts are written in batches: with the next
call's authentication, in the transaction that writes anyway (under load, each call carries the
counts of those answered since the one before), and by the jobs every FLUSH_EVERY seconds when calls
are few, and when portal stops. Each write adds to the rows (`requests = requests + ?`), so several
processes serving the API each add their own. A crash loses only the counts not yet written: those
of the calls answered since the last call or flush.
"""

import contextlib
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import astuple, dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from ..clock import Clock
from ..store import Connection, Record, Store, columns

FLUSH_EVERY = 30.0  # seconds, when no call carries the counts sooner


class Usage(Record, frozen=True):
    day: date
    requests: int
    failed_requests: int
    pushes: int
    failed_pushes: int


USAGE = columns(Usage)
COUNTS = USAGE.removeprefix("day, ")


@dataclass
class Counts:
    requests: int = 0
    failed_requests: int = 0
    pushes: int = 0
    failed_pushes: int = 0


Taken = dict[tuple[int, date], Counts]  # by (client, day)


class Meter:
    """Calls counted in memory until they are written (`add`, in a transaction, of what is `taken`)."""

    def __init__(self, clock: Clock, zone: ZoneInfo):
        self.clock = clock
        self.zone = zone
        self._counts: Taken = defaultdict(Counts)

    def count(self, client_id: int, *, push: bool, failed: bool) -> None:
        counts = self._counts[client_id, self.clock.now().astimezone(self.zone).date()]
        counts.requests += 1
        counts.failed_requests += failed
        counts.pushes += push
        counts.failed_pushes += push and failed

    @contextlib.contextmanager
    def taken(self) -> Iterator[Taken]:
        """The counts not yet written, for the caller to write in its transaction; forgotten here once
        it has, put back (to go with the next write) if it fails."""
        taken, self._counts = self._counts, defaultdict(Counts)
        try:
            yield taken
        except BaseException:
            for key, counts in taken.items():
                mine = self._counts[key]
                for name, count in vars(counts).items():
                    setattr(mine, name, getattr(mine, name) + count)
            raise

    async def flush(self, store: Store) -> None:
        with self.taken() as taken:
            if taken:
                await store.write(add, taken)


def add(db: Connection, taken: Taken) -> None:
    for (client_id, day), counts in taken.items():
        db.execute(
            f"INSERT INTO api_usage (api_client_id, day, {COUNTS}) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (api_client_id, day) DO UPDATE SET requests = requests + excluded.requests,"
            " failed_requests = failed_requests + excluded.failed_requests,"
            " pushes = pushes + excluded.pushes, failed_pushes = failed_pushes + excluded.failed_pushes",
            (client_id, day.isoformat(), *astuple(counts)),
        )


def days(db: Connection, client_id: int, first: date, last: date) -> list[Usage]:
    """Every day from `first` to `last`, oldest first, a day without calls as zeros."""
    found = {
        usage.day: usage
        for usage in db.records(
            Usage,
            f"SELECT {USAGE} FROM api_usage WHERE api_client_id = ? AND day BETWEEN ? AND ?",
            (client_id, first.isoformat(), last.isoformat()),
        )
    }
    return [
        found.get(day, Usage(day, 0, 0, 0, 0))
        for day in (first + timedelta(days=n) for n in range((last - first).days + 1))
    ]


def pushes_since(db: Connection, client_id: int, first: date) -> int:
    """The client's answered calls for a prompt from `first` on: what its monthly quota counts (a
    refused one sent no prompt)."""
    return db.value(
        "SELECT coalesce(sum(pushes - failed_pushes), 0) FROM api_usage WHERE api_client_id = ? AND day >= ?",
        (client_id, first.isoformat()),
    )


def month_of(moment: datetime, zone: ZoneInfo) -> tuple[date, datetime]:
    """The first day of `moment`'s month in `zone`, and the moment the next month starts."""
    first = moment.astimezone(zone).date().replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, datetime(following.year, following.month, 1, tzinfo=zone)
