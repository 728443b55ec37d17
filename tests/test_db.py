import asyncio
import sqlite3

import pytest

from portal.db import Database, StoreError


async def test_connection_is_durable_wal_with_foreign_keys(db):
    assert await db.fetchval("PRAGMA journal_mode") == "wal"
    assert await db.fetchval("PRAGMA foreign_keys") == 1
    assert await db.fetchval("PRAGMA synchronous") == 2  # FULL


async def test_concurrent_writers_never_interleave_transactions(db):
    await db._writer.execute("CREATE TABLE log (writer TEXT, step INTEGER)")

    async def writer(name: str) -> None:
        async with db.transaction() as tx:
            for step in range(5):
                await tx.execute("INSERT INTO log VALUES (?, ?)", (name, step))
                await asyncio.sleep(0)  # hand the loop to the other writers mid-transaction

    await asyncio.gather(writer("a"), writer("b"), writer("c"))
    rows = [row["writer"] for row in await db.fetchall("SELECT writer FROM log ORDER BY rowid")]
    runs = [rows[start : start + 5] for start in range(0, 15, 5)]
    assert [set(run) for run in runs] == [
        {name} for name in sorted({run[0] for run in runs}, key=rows.index)
    ], f"transactions interleaved: {rows}"


async def test_failed_transaction_leaves_nothing_behind(db):
    await db._writer.execute("CREATE TABLE things (name TEXT NOT NULL)")
    with pytest.raises(sqlite3.IntegrityError):
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO things VALUES ('kept?')")
            await tx.execute("INSERT INTO things VALUES (NULL)")
    assert await db.fetchval("SELECT count(*) FROM things") == 0
    async with db.transaction() as tx:  # and the writer is usable again
        await tx.execute("INSERT INTO things VALUES ('after')")
    assert await db.fetchval("SELECT count(*) FROM things") == 1


async def test_compare_and_swap_reports_whether_it_won(db):
    await db._writer.execute("CREATE TABLE jobs (id INTEGER PRIMARY KEY, state TEXT)")
    await db._writer.execute("INSERT INTO jobs VALUES (1, 'pending')")
    swaps = []
    for _ in range(2):
        async with db.transaction() as tx:
            cursor = await tx.execute("UPDATE jobs SET state = 'done' WHERE id = 1 AND state = 'pending'")
            swaps.append(cursor.rowcount)
    assert swaps == [1, 0]


async def test_reads_outside_a_transaction_see_only_committed_data(db):
    await db._writer.execute("CREATE TABLE t (x INTEGER)")
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO t VALUES (1)")
        assert await db.fetchval("SELECT count(*) FROM t") == 0
        assert await tx.fetchval("SELECT count(*) FROM t") == 1
    assert await db.fetchval("SELECT count(*) FROM t") == 1


async def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match=r"the folder .* does not exist"):
        await Database.open(tmp_path / "nowhere" / "portal.db")


async def test_not_a_database_is_a_clear_error(tmp_path):
    path = tmp_path / "portal.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="file is not a database"):
        await Database.open(path)


async def test_database_locked_by_another_process_is_a_clear_error(db, monkeypatch):
    monkeypatch.setattr("portal.db.BUSY_TIMEOUT_MS", 50)
    other = sqlite3.connect(db.path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        second = await Database.open(db.path)
        with pytest.raises(StoreError, match="database is locked"):
            async with second.transaction():
                pass
        await second.close()
    finally:
        other.execute("ROLLBACK")
        other.close()
