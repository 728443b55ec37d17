"""The store on one SQLite file: one writer thread with group commit, several reader threads, WAL.

A gateway box loses power, so commits are `synchronous=FULL`: a write is acknowledged only once it is
on the disk. That flush is most of a write's cost, so the writer thread commits in groups: the writes
the event loop asked for in one turn (a busy loop runs dozens of requests a turn) go to it together,
and whatever has queued up while the previous commit was flushing runs next, each piece in a
savepoint of one transaction, and one commit makes all of it durable. A piece that raises is rolled
back alone; the others keep their effects. Statements run at SQLite's own speed on that thread (a
few microseconds each), and the event loop hops to it once per transaction, not once per statement.

Readers are threads too, each with its own connection, which WAL lets read beside the writer: a
snapshot per call. The slow ones (`report`: admin pages, exports) have threads of their own, so a
page that scans a year of payments never makes a callback or the splash page wait.
"""

import asyncio
import contextlib
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import msgspec

from . import Changes, Conflict, Params, R, Row, StoreError
from .migrations.sqlite import MIGRATIONS

BUSY_TIMEOUT_MS = 5000  # another process (a CLI command, a backup) holding the file
READERS = 4
REPORT_READERS = 2
MAX_GROUP = 256  # pieces of work per commit: enough to fill a flush, few enough to answer soon
CACHED_STATEMENTS = 512


class SQLiteConnection:
    """A `store.Connection` over one sqlite3 connection."""

    engine = "sqlite"

    def __init__(self, connection: sqlite3.Connection):
        self._db = connection

    def execute(self, sql: str, params: Params = ()) -> int:
        return self._run(sql, params).rowcount

    def one(self, sql: str, params: Params = ()) -> Row | None:
        return self._run(sql, params).fetchone()

    def all(self, sql: str, params: Params = ()) -> list[Row]:
        return self._run(sql, params).fetchall()

    def value(self, sql: str, params: Params = ()) -> Any:
        row = self._run(sql, params).fetchone()
        return None if row is None else row[0]

    def records(self, record: type[R], sql: str, params: Params = ()) -> list[R]:
        return msgspec.convert(self._run(sql, params, tuples=True).fetchall(), list[record], strict=False)

    def record(self, record: type[R], sql: str, params: Params = ()) -> R | None:
        row = self._run(sql, params, tuples=True).fetchone()
        return None if row is None else msgspec.convert(row, record, strict=False)

    def _run(self, sql: str, params: Params, *, tuples: bool = False) -> sqlite3.Cursor:
        cursor = self._db.cursor()
        if tuples:
            cursor.row_factory = None  # plain tuples: a record is built from them in one go, in C
        try:
            return cursor.execute(sql, params)
        except sqlite3.IntegrityError as error:
            if error.sqlite_errorname in ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"):
                raise Conflict(str(error)) from error
            raise StoreError(str(error)) from error
        except sqlite3.Error as error:
            raise StoreError(str(error)) from error


def connect(path: Path, *, read_only: bool = False, busy_timeout_ms: int | None = None) -> sqlite3.Connection:
    """A connection set up the way every portal connection is; opened and used on one thread."""
    if busy_timeout_ms is None:
        busy_timeout_ms = BUSY_TIMEOUT_MS  # looked up now, so a test can shorten it
    connection = sqlite3.connect(
        path,
        isolation_level=None,  # transactions are ours: BEGIN … COMMIT, explicitly
        timeout=busy_timeout_ms / 1000,
        cached_statements=CACHED_STATEMENTS,
        check_same_thread=False,  # closed from the thread that shuts the store down
    )
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA foreign_keys = ON")
    connection.execute("PRAGMA synchronous = FULL")
    if read_only:
        connection.execute("PRAGMA query_only = ON")
    return connection


class _Job:
    __slots__ = ("args", "future", "kwargs", "loop", "work")

    def __init__(self, work: Callable, args: tuple, kwargs: dict, loop: asyncio.AbstractEventLoop):
        self.work, self.args, self.kwargs, self.loop = work, args, kwargs, loop
        self.future: asyncio.Future = loop.create_future()


def _settle_all(outcomes: list[tuple[_Job, Any, BaseException | None]]) -> None:
    """Hands each job its outcome on its own event loop: one wake-up of each loop for all of them (a
    group of 100 commits costs the loop one hop, not 100)."""
    by_loop: dict[asyncio.AbstractEventLoop, list] = {}
    for outcome in outcomes:
        by_loop.setdefault(outcome[0].loop, []).append(outcome)
    for loop, settled in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop closed while the work ran
            loop.call_soon_threadsafe(_settle, settled)


def _settle(outcomes: list[tuple[_Job, Any, BaseException | None]]) -> None:
    for job, result, error in outcomes:
        if job.future.done():  # the caller stopped waiting; the work was done all the same
            continue
        if error is None:
            job.future.set_result(result)
        else:
            job.future.set_exception(error)


class _Readers:
    """Threads that each hold a read-only connection and run the reads queued for them, one snapshot
    per read. A queue and a thread-safe call back to the loop, as the writer has: a thread pool's
    futures cost the event loop several times more per read."""

    def __init__(self, path: Path, count: int, name: str):
        self.path = path
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._closing = threading.Lock()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._read_forever, name=f"{name}-{n}", daemon=True) for n in range(count)
        ]
        for thread in self._threads:
            thread.start()

    def queue(self, job: _Job) -> None:
        with self._closing:
            if self._closed:
                raise StoreError(f"{self.path}: the store is closed")
            self._jobs.put(job)

    def close(self) -> None:
        """Finishes the reads already queued (a long report too), then ends the threads; blocks."""
        with self._closing:
            if not self._closed:
                self._closed = True
                for _ in self._threads:
                    self._jobs.put(None)
        for thread in self._threads:
            thread.join()

    def _read_forever(self) -> None:
        connection: sqlite3.Connection | None = None
        try:
            while (job := self._jobs.get()) is not None:
                try:
                    if connection is None:
                        connection = self._connect()
                    outcome = (job, self._read(connection, job), None)
                except BaseException as error:  # handed to the caller, whatever it is
                    outcome = (job, None, error)
                _settle_all([outcome])
        finally:
            if connection is not None:
                connection.close()

    def _connect(self) -> sqlite3.Connection:
        try:
            return connect(self.path, read_only=True)
        except sqlite3.Error as error:
            raise StoreError(f"{self.path}: {error}") from None

    def _read(self, connection: sqlite3.Connection, job: _Job) -> Any:
        try:
            connection.execute("BEGIN")  # one snapshot for everything the work reads
        except sqlite3.Error as error:
            raise StoreError(f"{self.path}: {error}") from None
        try:
            return job.work(SQLiteConnection(connection), *job.args, **job.kwargs)
        finally:
            if connection.in_transaction:
                connection.execute("ROLLBACK")


class SQLiteStore:
    engine = "sqlite"

    def __init__(self, path: Path, writer: sqlite3.Connection):
        self.path = path
        self.latest_version = len(MIGRATIONS)
        self.changes = Changes()
        self._writer = writer
        self._jobs: queue.SimpleQueue[list[_Job] | None] = queue.SimpleQueue()
        # The writes asked for during the event loop's turn, handed to the writer together when the turn
        # ends (one wake-up of its thread, one commit): a busy loop otherwise hands them over one by one,
        # and the writer, idle each time, commits each alone.
        self._asked: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
        # Taken to queue a job and to close, so no job is ever queued behind the writer's last one.
        self._closing = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._write_forever, name="store-writer", daemon=True)
        self._quick = _Readers(path, READERS, "store-reader")
        self._slow = _Readers(path, REPORT_READERS, "store-report")
        self._thread.start()

    @classmethod
    async def open(cls, path: Path | str) -> "SQLiteStore":
        path = Path(path)
        if not path.parent.is_dir():
            raise StoreError(f"{path}: the folder {path.parent} does not exist")
        return cls(path, await asyncio.to_thread(_open_writer, path))

    async def close(self) -> None:
        """Finishes the writes already asked for, then closes; later work is refused (StoreError)."""
        with self._closing:
            if not self._closed:
                self._closed = True
                for asked in self._asked.values():
                    self._jobs.put(asked)
                self._asked.clear()
                self._jobs.put(None)
        await asyncio.to_thread(self._thread.join)
        for readers in (self._quick, self._slow):  # a long report finishes first, off the event loop
            await asyncio.to_thread(readers.close)

    # -- the interface --

    async def write(self, work: Callable, *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        job = _Job(work, args, kwargs, loop)
        with self._closing:
            if self._closed or not self._thread.is_alive():
                raise StoreError(f"{self.path}: the store is closed")
            asked = self._asked.get(loop)
            if asked is None:
                self._asked[loop] = [job]
                loop.call_soon(self._hand_over, loop)
            else:
                asked.append(job)
        result = await job.future
        self.changes.notify()
        return result

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._closing:
            asked = self._asked.pop(loop, None)
            if asked:
                self._jobs.put(asked)

    async def read(self, work: Callable, *args: Any, **kwargs: Any) -> Any:
        job = _Job(work, args, kwargs, asyncio.get_running_loop())
        self._quick.queue(job)
        return await job.future

    async def report(self, work: Callable, *args: Any, **kwargs: Any) -> Any:
        job = _Job(work, args, kwargs, asyncio.get_running_loop())
        self._slow.queue(job)
        return await job.future

    async def schema_version(self) -> int:
        return await self.read(_user_version)

    async def migrate(self) -> list[int]:
        version = await self.schema_version()
        if version > self.latest_version:
            raise StoreError(
                f"{self.path}: schema version {version} is newer than this portal understands "
                f"({self.latest_version}); upgrade portal or restore a backup"
            )
        applied = []
        # Only those past the version read: an up-to-date database (every start) costs one read. Each
        # write reads the version again, as another process may have migrated meanwhile.
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            if await self.write(_migrate, number, script):
                applied.append(number)
        return applied

    # -- the writer thread --

    def _write_forever(self) -> None:
        while (asked := self._jobs.get()) is not None:
            group = list(asked)
            while len(group) < MAX_GROUP:
                try:
                    more = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._jobs.put(None)  # stop after this group
                    break
                group.extend(more)
            self._commit_group(group)
        self._writer.close()

    def _commit_group(self, group: list[_Job]) -> None:
        connection = SQLiteConnection(self._writer)
        try:
            self._writer.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            failure = StoreError(f"{self.path}: {error}")
            _settle_all([(job, None, failure) for job in group])
            return
        outcomes: list[tuple[_Job, Any, BaseException | None]] = []
        try:
            for job in group:
                self._writer.execute("SAVEPOINT work")
                try:
                    result = job.work(connection, *job.args, **job.kwargs)
                except BaseException as error:  # handed to the caller, whatever it is
                    if not self._writer.in_transaction:
                        raise  # SQLite gave up the whole transaction (a full disk): nothing is kept
                    self._writer.execute("ROLLBACK TO work")
                    outcomes.append((job, None, error))
                else:
                    outcomes.append((job, result, None))
                self._writer.execute("RELEASE work")
            self._writer.execute("COMMIT")
        except BaseException as error:
            if self._writer.in_transaction:
                self._writer.execute("ROLLBACK")
            failure = StoreError(f"{self.path}: nothing was written: {error}")
            outcomes = [(job, None, failure) for job in group]
        _settle_all(outcomes)


def _open_writer(path: Path) -> sqlite3.Connection:
    try:
        _owner_only(path)
        connection = connect(path)
    except (sqlite3.Error, OSError) as error:
        raise StoreError(f"{path}: {error}") from None
    try:
        mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            raise StoreError(f"{path}: cannot switch to WAL mode (journal_mode is {mode})")
    except sqlite3.Error as error:
        connection.close()
        raise StoreError(f"{path}: {error}") from None
    except StoreError:
        connection.close()
        raise
    return connection


def _owner_only(path: Path) -> None:
    """The database holds customers' phone numbers: readable by its owner only, however the process was
    started. SQLite gives the -wal and -shm files the database's own mode, so they follow it."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        # Made wider by an older version or by hand; one that isn't ours to change stays as it is.
        with contextlib.suppress(FileNotFoundError, PermissionError):
            if file.stat().st_mode & 0o077:
                os.chmod(file, 0o600)


def _user_version(connection: SQLiteConnection) -> int:
    return connection.value("PRAGMA user_version")


def _migrate(connection: SQLiteConnection, number: int, script: str) -> bool:
    # Read inside the write transaction: another process may have migrated meanwhile.
    if _user_version(connection) >= number:
        return False
    for statement in statements(script):
        connection.execute(statement)
    connection.execute(f"PRAGMA user_version = {number}")
    return True


def statements(script: str) -> Iterable[str]:
    """The statements of a script, one by one (sqlite3's executescript would commit first). Pieces split
    at ';' are glued back together until SQLite calls the statement complete, so a ';' inside a string
    literal or a trigger body stays where it belongs."""
    statement = ""
    for piece in script.split(";"):
        statement += piece + ";"
        if sqlite3.complete_statement(statement):
            if statement.strip(" \t\n;"):
                yield statement
            statement = ""
    if statement.strip(" \t\n;"):
        raise StoreError(f"incomplete SQL statement: {statement.strip()[:60]}")
