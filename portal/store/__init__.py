"""The store: where portal keeps its state, behind an interface any SQL engine can implement.

Work on the database is a plain function that takes a `Connection` first:

    payment = await store.read(payments.by_ref, ref)
    session_id = await store.write(sessions.open_session, clock, vault, tenant_id=…, …)

`write` runs the function as one transaction and returns once it is durably committed (or raises,
with nothing of it kept); `read` runs it on a consistent snapshot; `report` is `read` for the slow
readers (admin pages, exports), on connections of their own, so that however long an owner's page
takes it never holds up a callback, the splash page or `/healthz`. The functions are synchronous on
purpose: a transaction runs whole where the connection lives, in one hop from the event loop, and can
never wait on the network while it holds the database.

The SQL in those functions is what every engine speaks: `?` placeholders, `INSERT … RETURNING id`,
`ON CONFLICT … DO NOTHING`, `count(*) FILTER (WHERE …)`; nothing engine-specific (PRAGMA, GLOB,
`json_each`, `lastrowid`) outside the engine's own module. A unique constraint refusing a row raises
`Conflict`, whatever the engine. Each table's SQL lives in the one module that owns it
(tests/test_table_owners.py keeps it so).

`changes` is raised after every committed write, for whoever waits on what the database shows (the
customer's waiting page, by long poll).
"""

import asyncio
import contextlib
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

import msgspec

P = ParamSpec("P")
T = TypeVar("T")

Row = Mapping[str, Any]  # a row by column name
Params = Sequence[Any] | Mapping[str, Any]


class StoreError(Exception):
    """The database can't be opened or used; the message says what and where."""


class Conflict(StoreError):
    """A unique constraint refused the row: the name is taken, the receipt was seen before."""


class Record(msgspec.Struct, frozen=True, array_like=True):
    """A typed row, as a table's owner hands it out: built by the engine straight from a SELECT of
    `columns(TheRecord)` (the fields in their order), text times read as datetimes and 0/1 as booleans.
    Thousands of them cost what the query costs (a payments export), not ten times more."""


R = TypeVar("R", bound=Record)


def columns(record: type[Record]) -> str:
    """The SELECT list that builds `record`: its fields, in order."""
    return ", ".join(record.__struct_fields__)


class Connection(Protocol):
    """What a function given to `Store.read` / `Store.write` uses; valid only while it runs."""

    engine: str  # "sqlite" or "postgresql": for the rare statement that must differ

    def execute(self, sql: str, params: Params = ()) -> int:
        """Runs a statement; returns the rows it changed (for compare-and-swap)."""

    def one(self, sql: str, params: Params = ()) -> Row | None: ...

    def all(self, sql: str, params: Params = ()) -> list[Row]: ...

    def value(self, sql: str, params: Params = ()) -> Any:
        """The first column of the first row, or None when there is no row."""

    def records(self, record: type[R], sql: str, params: Params = ()) -> list[R]:
        """The rows as `record`s; `sql` selects `columns(record)`."""

    def record(self, record: type[R], sql: str, params: Params = ()) -> R | None:
        """The first row as a `record`, or None."""


class Changes:
    """A hint that the database changed, in this process, counted. It is only a hint: a waiter reads
    the database again to learn what changed, and waits at most its own bound, so a write it can't hear
    of (another process's) is still seen at the bound."""

    def __init__(self) -> None:
        self.count = 0
        self.waiting = 0  # waiters right now
        self._next = asyncio.Event()

    def notify(self) -> None:
        self.count += 1
        self._next.set()
        self._next = asyncio.Event()

    async def after(self, count: int, seconds: float) -> None:
        """Returns once a change after the `count`-th has been noticed, or after `seconds`."""
        if self.count == count:
            self.waiting += 1
            try:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(seconds):
                        await self._next.wait()
            finally:
                self.waiting -= 1


class Store(Protocol):
    engine: str
    path: Path | None  # the database file, for an engine that has one
    changes: Changes  # noticed after each write this process committed

    async def read(
        self, work: Callable[Concatenate[Connection, P], T], *args: P.args, **kw: P.kwargs
    ) -> T: ...

    async def report(
        self, work: Callable[Concatenate[Connection, P], T], *args: P.args, **kw: P.kwargs
    ) -> T: ...

    async def write(
        self, work: Callable[Concatenate[Connection, P], T], *args: P.args, **kw: P.kwargs
    ) -> T: ...

    async def migrate(self) -> list[int]:
        """Applies the migrations this database lacks, each in its own transaction; returns their numbers."""

    async def schema_version(self) -> int: ...

    async def close(self) -> None: ...


def replace_each(db: Connection, table: str, columns: Sequence[str], change: Callable[[Any], Any]) -> int:
    """Puts `change(value)` in place of each value of `columns` in every row of `table`, leaving NULL and
    empty ones (`portal keys rotate` re-encrypting a table's secrets); returns how many it replaced.
    Called by the table's owner, naming its own table."""
    rows = db.all(f"SELECT id, {', '.join(columns)} FROM {table}")
    replaced = 0
    for row in rows:
        values = [change(row[column]) if row[column] else row[column] for column in columns]
        db.execute(
            f"UPDATE {table} SET {', '.join(f'{column} = ?' for column in columns)} WHERE id = ?",
            (*values, row["id"]),
        )
        replaced += sum(bool(row[column]) for column in columns)
    return replaced


def set_disabled(db: Connection, table: str, row_id: int, tenant_id: int, now: str, disabled: bool) -> bool:
    """Stamps a business's row of `table` disabled (`now`) or enabled; False if it was so already, or is
    removed. Called by the table's owner (routers, M-Pesa accounts), naming its own table."""
    return bool(
        db.execute(
            f"UPDATE {table} SET disabled_at = ? WHERE id = ? AND tenant_id = ? AND removed_at IS NULL"
            " AND (disabled_at IS NULL) = ?",
            (now if disabled else None, row_id, tenant_id, disabled),
        )
    )


def remove(db: Connection, table: str, row_id: int, tenant_id: int, now: str, *, keep: bool) -> None:
    """Deletes a business's row of `table`, or with `keep` (the books name it) stamps it disabled and
    removed, off the lists. Called by the table's owner, naming its own table."""
    if keep:
        db.execute(
            f"UPDATE {table} SET disabled_at = coalesce(disabled_at, ?), removed_at = ? WHERE id = ?"
            " AND tenant_id = ?",
            (now, now, row_id, tenant_id),
        )
    else:
        db.execute(f"DELETE FROM {table} WHERE id = ? AND tenant_id = ?", (row_id, tenant_id))


def marks(values: Collection[Any]) -> str:
    """`?, ?, ?` for an `IN (…)` of `values`; never empty, so `IN (NULL)` matches nothing."""
    return ", ".join("?" * len(values)) or "NULL"


def where_given(*conditions: tuple[str, Any]) -> tuple[str, list]:
    """`a = ? AND b = ?` of the conditions whose value is given (not None), and those values: a list's
    optional filters. Always one condition at least (`1 = 1`)."""
    given = [(condition, value) for condition, value in conditions if value is not None]
    return " AND ".join(["1 = 1", *(condition for condition, _ in given)]), [value for _, value in given]
