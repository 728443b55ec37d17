"""The SQLite store: one writer, WAL, durable commits.

A gateway box loses power, so commits are `synchronous=FULL`. SQLite allows one writer at a time; we
make that explicit with a lock and `BEGIN IMMEDIATE`, so a transaction never meets "database is
locked" half-way through and two coroutines never interleave their statements. Reads outside a
transaction use a second connection, which WAL lets run beside the writer.
"""

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Any

import aiosqlite

BUSY_TIMEOUT_MS = 5000


class StoreError(Exception):
    """The database can't be opened or used; the message says what and where."""


class Database:
    def __init__(self, path: Path, writer: aiosqlite.Connection, reader: aiosqlite.Connection):
        self.path = path
        self._writer = writer
        self._reader = reader
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path | str) -> "Database":
        path = Path(path)
        if not path.parent.is_dir():
            raise StoreError(f"{path}: the folder {path.parent} does not exist")
        connections = []
        try:
            for _ in range(2):
                connection = await aiosqlite.connect(path, isolation_level=None)
                connections.append(connection)
                connection.row_factory = sqlite3.Row
                await connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                await connection.execute("PRAGMA foreign_keys = ON")
                await connection.execute("PRAGMA synchronous = FULL")
            mode = await (await connections[0].execute("PRAGMA journal_mode = WAL")).fetchone()
            if mode[0] != "wal":
                raise StoreError(f"{path}: cannot switch to WAL mode (journal_mode is {mode[0]})")
        except sqlite3.Error as error:
            for connection in connections:
                await connection.close()
            raise StoreError(f"{path}: {error}") from None
        return cls(path, connections[0], connections[1])

    async def close(self) -> None:
        await self._reader.close()
        await self._writer.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator["Transaction"]:
        """A write transaction: commits when the block ends, rolls back if it raises."""
        async with self._write_lock:
            try:
                await self._writer.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as error:
                raise StoreError(f"{self.path}: {error}") from None
            try:
                yield Transaction(self._writer)
            except BaseException:
                await self._writer.execute("ROLLBACK")
                raise
            else:
                await self._writer.execute("COMMIT")

    async def fetchall(self, sql: str, params: Iterable[Any] | dict = ()) -> list[sqlite3.Row]:
        async with self._reader.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def fetchone(self, sql: str, params: Iterable[Any] | dict = ()) -> sqlite3.Row | None:
        async with self._reader.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def fetchval(self, sql: str, params: Iterable[Any] | dict = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    async def user_version(self) -> int:
        return await self.fetchval("PRAGMA user_version")

    async def backup(self, target: Path) -> None:
        """A consistent copy while serving (see `backup_file`); writers carry on meanwhile."""
        await asyncio.to_thread(backup_file, self.path, target)


class Transaction:
    """Statements inside one write transaction (see Database.transaction)."""

    def __init__(self, connection: aiosqlite.Connection):
        self._connection = connection

    async def execute(self, sql: str, params: Iterable[Any] | dict = ()) -> sqlite3.Cursor:
        """Runs a statement; the cursor gives `rowcount` (for compare-and-swap) and `lastrowid`."""
        async with self._connection.execute(sql, params) as cursor:
            return cursor  # type: ignore[return-value]

    async def executescript(self, script: str) -> None:
        # sqlite3's executescript commits first; running the statements one by one keeps them inside
        # our transaction.
        for statement in _statements(script):
            await self._connection.execute(statement)

    async def fetchall(self, sql: str, params: Iterable[Any] | dict = ()) -> list[sqlite3.Row]:
        async with self._connection.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def fetchone(self, sql: str, params: Iterable[Any] | dict = ()) -> sqlite3.Row | None:
        async with self._connection.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def fetchval(self, sql: str, params: Iterable[Any] | dict = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]


def backup_file(source: Path, target: Path) -> None:
    """Copies the database at `source` to `target` with SQLite's online backup, from any process.

    One backup step reads one WAL snapshot, so the copy holds exactly the transactions committed
    before it began while writers go on. The copy is written beside `target`, made a single
    self-contained file (no -wal), checked, flushed to disk and only then renamed over `target`:
    a crash or a failed check never leaves a half-written backup under the real name.
    """
    if not source.is_file():
        raise StoreError(f"{source}: no database to back up")
    if not target.parent.is_dir():
        raise StoreError(f"{target}: the folder {target.parent} does not exist")
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    # It holds customers' phone numbers: readable by its owner only, from the first byte.
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        with closing(open_file(source)) as original, closing(open_file(partial)) as copy:
            original.backup(copy)
            copy.execute("PRAGMA journal_mode = DELETE")
            if problem := integrity_problem(copy):
                raise StoreError(f"{target}: the copy failed its integrity check: {problem}")
        fsync(partial)
        os.replace(partial, target)
        fsync(target.parent)
    except sqlite3.Error as error:
        raise StoreError(f"{source}: cannot back up: {error}") from None
    finally:
        partial.unlink(missing_ok=True)


def integrity_problem(connection: sqlite3.Connection) -> str:
    """The first thing `PRAGMA integrity_check` finds wrong, or "" when the file is sound."""
    rows = connection.execute("PRAGMA integrity_check").fetchall()
    return "" if [tuple(row) for row in rows] == [("ok",)] else str(rows[0][0])


def open_file(path: Path, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> sqlite3.Connection:
    """A plain synchronous connection for whole-file work (backup, restore); never creates the file."""
    return sqlite3.connect(
        f"{path.resolve().as_uri()}?mode=rw", uri=True, isolation_level=None, timeout=busy_timeout_ms / 1000
    )


def fsync(path: Path) -> None:
    """Flushes a file, or a folder's entries after a rename, to the disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _statements(script: str) -> Iterable[str]:
    # Split at every ';' and glue pieces back together until SQLite calls the statement complete, so a
    # ';' inside a string literal or a trigger body stays where it belongs.
    statement = ""
    for piece in script.split(";"):
        statement += piece + ";"
        if sqlite3.complete_statement(statement):
            if statement.strip(" \t\n;"):
                yield statement
            statement = ""
    if statement.strip(" \t\n;"):
        raise StoreError(f"incomplete SQL statement: {statement.strip()[:60]}")
