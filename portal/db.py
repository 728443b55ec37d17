"""The SQLite store: one writer, WAL, durable commits.

A gateway box loses power, so commits are `synchronous=FULL`. SQLite allows one writer at a time; we
make that explicit with a lock and `BEGIN IMMEDIATE`, so a transaction never meets "database is
locked" half-way through and two coroutines never interleave their statements. Reads outside a
transaction use a second connection, which WAL lets run beside the writer.
"""

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
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
        """A consistent copy while serving: SQLite's online backup, taken under the write lock."""
        async with self._write_lock:
            await self._writer.backup(str(target))  # type: ignore[arg-type]


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
