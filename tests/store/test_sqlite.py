"""The SQLite store: durable, one writer with group commit, readers beside it, clear errors.

To see what happens while a piece of work is under way, the work blocks on a `threading.Event` the test
sets: the store's threads really run side by side, and nothing here depends on how long anything takes.
"""

import asyncio
import os
import re
import sqlite3
import stat
import sys
import threading
from contextlib import closing

import pytest

from portal.store import Conflict, StoreError
from portal.store import sqlite as engine
from portal.store.sqlite import SQLiteStore


@pytest.fixture
async def bare(tmp_path):
    """A store on a new file with no schema: the tests make the tables they need."""
    opened = await SQLiteStore.open(tmp_path / "portal.db")
    yield opened
    await opened.close()


async def make(store, *statements: str) -> None:
    def run(db) -> None:
        for statement in statements:
            db.execute(statement)

    await store.write(run)


async def count(store, table: str) -> int:
    return await store.read(lambda db: db.value(f"SELECT count(*) FROM {table}"))


def wait_for(event: threading.Event) -> None:
    """Called from the store's threads: bounded, so that a broken test fails instead of hanging."""
    assert event.wait(10), "the test never let the work go on"


class Held:
    """A piece of work that stops half-way until the test lets it go on."""

    def __init__(self):
        self.reached = threading.Event()
        self.go_on = threading.Event()

    def hold(self) -> None:
        self.reached.set()
        wait_for(self.go_on)

    async def until_reached(self) -> None:
        assert await asyncio.to_thread(self.reached.wait, 10), "the work never started"


async def queued() -> None:
    """Lets tasks just created run up to their first wait: a write is queued once its task has started."""
    await asyncio.sleep(0)


async def test_every_connection_is_durable_wal_with_foreign_keys(bare):
    def settings(db) -> tuple:
        return (
            db.value("PRAGMA journal_mode"),
            db.value("PRAGMA synchronous"),  # 2: FULL, a commit is on the disk before write returns
            db.value("PRAGMA foreign_keys"),
        )

    expected = ("wal", 2, 1)
    assert await bare.write(settings) == expected
    assert await bare.read(settings) == expected
    assert await bare.report(settings) == expected


async def test_a_write_is_committed_for_everyone_once_it_returns(bare):
    await make(bare, "CREATE TABLE things (name TEXT NOT NULL)")
    await bare.write(lambda db: db.execute("INSERT INTO things VALUES ('written')"))
    with closing(sqlite3.connect(bare.path)) as other:  # another process's view of the file
        assert other.execute("SELECT name FROM things").fetchall() == [("written",)]


async def test_concurrent_writes_never_interleave_even_from_two_processes(bare):
    await make(bare, "CREATE TABLE log (writer TEXT, step INTEGER)")
    other = await SQLiteStore.open(bare.path)  # another process on the same file: a CLI command
    stores = {"serve": bare, "command": other}

    def writer(db, name: str) -> None:
        for step in range(20):
            db.execute("INSERT INTO log VALUES (?, ?)", (name, step))

    try:
        await asyncio.gather(
            *(store.write(writer, f"{label}-{n}") for n in range(10) for label, store in stores.items())
        )
    finally:
        await other.close()
    rows = await bare.read(lambda db: db.all("SELECT writer, step FROM log ORDER BY rowid"))
    runs = [rows[start : start + 20] for start in range(0, len(rows), 20)]
    assert len(runs) == 20
    for run in runs:
        assert [(row["writer"], row["step"]) for row in run] == [(run[0]["writer"], s) for s in range(20)]


async def test_a_piece_that_raises_is_rolled_back_alone_and_its_group_commits(bare):
    await make(bare, "CREATE TABLE things (name TEXT NOT NULL)")
    first = Held()
    blocking = asyncio.create_task(bare.write(lambda db: first.hold()))
    await first.until_reached()  # the writer is busy: what comes now queues up for one commit

    def add(db, name: str) -> str:
        db.execute("INSERT INTO things VALUES (?)", (name,))
        return name

    def add_then_fail(db) -> None:
        db.execute("INSERT INTO things VALUES ('refused')")
        raise LookupError("this piece changes its mind")

    with closing(sqlite3.connect(bare.path, check_same_thread=False)) as outside:

        def add_and_look(db) -> list:
            db.execute("INSERT INTO things VALUES ('third')")
            # The others' rows are here, yet nobody outside sees them: one transaction, not yet committed.
            seen_outside = outside.execute("SELECT count(*) FROM things").fetchone()[0]
            return db.value("SELECT count(*) FROM things"), seen_outside

        pieces = [
            asyncio.create_task(bare.write(add, "first")),
            asyncio.create_task(bare.write(add_then_fail)),
            asyncio.create_task(bare.write(add_and_look)),
        ]
        await queued()
        first.go_on.set()
        await blocking
        done = await asyncio.gather(*pieces, return_exceptions=True)

    assert done[0] == "first"
    assert isinstance(done[1], LookupError) and str(done[1]) == "this piece changes its mind"
    assert done[2] == (2, 0)
    names = await bare.read(lambda db: [row["name"] for row in db.all("SELECT name FROM things")])
    assert names == ["first", "third"]


async def test_writes_asked_for_in_one_turn_of_the_loop_commit_as_one_group(bare):
    # The writer is idle: without the hand-over at the turn's end, it would commit the first alone.
    await make(bare, "CREATE TABLE things (name TEXT NOT NULL)")
    with closing(sqlite3.connect(bare.path, check_same_thread=False)) as outside:

        def add(db, name: str) -> tuple[int, int]:
            db.execute("INSERT INTO things VALUES (?)", (name,))
            seen_outside = outside.execute("SELECT count(*) FROM things").fetchone()[0]
            return db.value("SELECT count(*) FROM things"), seen_outside

        done = await asyncio.gather(*(bare.write(add, name) for name in ("a", "b", "c")))

    assert done == [(1, 0), (2, 0), (3, 0)]  # each saw the ones before it; outside, nothing until the end


KILLED_WRITER = """
import asyncio, sys, threading
from portal.store.sqlite import SQLiteStore

async def main(path):
    store = await SQLiteStore.open(path)
    await store.write(lambda db: db.execute("CREATE TABLE written (n INTEGER PRIMARY KEY)"))

    async def one(n):
        await store.write(lambda db: db.execute("INSERT INTO written VALUES (?)", (n,)))
        sys.stdout.write(f"{n}\\n")  # acknowledged, as a callback is answered: one write, whole lines
        sys.stdout.flush()

    def hold(db):
        sys.stdout.write("holding\\n")  # the group's other pieces have run; its commit waits on this
        sys.stdout.flush()
        threading.Event().wait()

    for start in range(0, 320, 32):  # 32 at a time, as callbacks in flight
        await asyncio.gather(*(one(n) for n in range(start, start + 32)))
    await asyncio.gather(*(one(n) for n in range(320, 352)), store.write(hold))

asyncio.run(main(sys.argv[1]))
"""


async def test_a_process_killed_right_after_acknowledging_writes_loses_none_of_them(tmp_path):
    path = tmp_path / "portal.db"
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", KILLED_WRITER, str(path), stdout=asyncio.subprocess.PIPE
    )
    acknowledged = set()
    try:
        while (line := await asyncio.wait_for(child.stdout.readline(), 60)) != b"holding\n":
            assert line, "the writing process ended by itself"
            acknowledged.add(int(line))
    finally:
        child.kill()  # SIGKILL, mid-group: no shutdown, no last commit
        await child.wait()
    with closing(sqlite3.connect(path)) as after:
        kept = {n for (n,) in after.execute("SELECT n FROM written")}
    assert acknowledged == kept == set(range(320))  # the unfinished group: neither answered nor kept


async def test_a_commit_that_fails_fails_its_whole_group_and_keeps_nothing(bare):
    # A deferred foreign key is checked at COMMIT: the one way for a commit itself to fail, on purpose.
    await make(
        bare,
        "CREATE TABLE parents (id INTEGER PRIMARY KEY)",
        "CREATE TABLE children (parent_id INTEGER REFERENCES parents (id) DEFERRABLE INITIALLY DEFERRED)",
        "CREATE TABLE things (name TEXT NOT NULL)",
    )
    first = Held()
    blocking = asyncio.create_task(bare.write(lambda db: first.hold()))
    await first.until_reached()
    pieces = [
        asyncio.create_task(bare.write(lambda db: db.execute("INSERT INTO things VALUES ('a')"))),
        asyncio.create_task(bare.write(lambda db: db.execute("INSERT INTO children VALUES (42)"))),
        asyncio.create_task(bare.write(lambda db: db.execute("INSERT INTO things VALUES ('b')"))),
    ]
    await queued()
    first.go_on.set()
    await blocking
    done = await asyncio.gather(*pieces, return_exceptions=True)

    for outcome in done:  # each piece ran without an error, but none of them was kept
        assert isinstance(outcome, StoreError)
        assert "nothing was written" in str(outcome) and "FOREIGN KEY constraint failed" in str(outcome)
    assert await count(bare, "things") == 0 and await count(bare, "children") == 0
    await bare.write(lambda db: db.execute("INSERT INTO things VALUES ('after')"))  # the writer goes on
    assert await count(bare, "things") == 1


async def test_compare_and_swap_reports_whether_it_won(bare):
    await make(
        bare,
        "CREATE TABLE jobs (id INTEGER PRIMARY KEY, state TEXT)",
        "INSERT INTO jobs VALUES (1, 'pending')",
    )

    def swap(db) -> int:
        return db.execute("UPDATE jobs SET state = 'done' WHERE id = 1 AND state = 'pending'")

    assert await bare.write(swap) == 1
    assert await bare.write(swap) == 0
    await bare.write(lambda db: db.execute("UPDATE jobs SET state = 'pending'"))
    assert sorted(await asyncio.gather(*(bare.write(swap) for _ in range(5)))) == [0, 0, 0, 0, 1]


async def test_reads_see_only_committed_data(bare):
    await make(bare, "CREATE TABLE t (x INTEGER)")
    writing = Held()

    def insert_and_hold(db) -> int:
        db.execute("INSERT INTO t VALUES (1)")
        writing.hold()
        return db.value("SELECT count(*) FROM t")

    task = asyncio.create_task(bare.write(insert_and_hold))
    await writing.until_reached()
    assert await count(bare, "t") == 0
    assert await bare.report(lambda db: db.value("SELECT count(*) FROM t")) == 0
    writing.go_on.set()
    assert await task == 1  # the write saw its own row
    assert await count(bare, "t") == 1


async def test_a_read_sees_one_snapshot_however_long_it_takes(bare):
    await make(bare, "CREATE TABLE t (x INTEGER)", "INSERT INTO t VALUES (1)")
    reading = Held()

    def read_twice(db) -> tuple:
        before = db.value("SELECT count(*) FROM t")
        reading.hold()
        return before, db.value("SELECT count(*) FROM t")

    task = asyncio.create_task(bare.read(read_twice))
    await reading.until_reached()
    await bare.write(lambda db: db.execute("INSERT INTO t VALUES (2)"))
    reading.go_on.set()
    assert await task == (1, 1)
    assert await count(bare, "t") == 2


async def test_slow_reports_hold_up_neither_reads_nor_writes(bare):
    await make(bare, "CREATE TABLE t (x INTEGER)", "INSERT INTO t VALUES (1)")
    slow = [Held() for _ in range(engine.REPORT_READERS)]  # every report thread busy

    def long_report(db, held: Held) -> int:
        seen = db.value("SELECT count(*) FROM t")
        held.hold()
        return seen

    reports = [asyncio.create_task(bare.report(long_report, held)) for held in slow]
    for held in slow:
        await held.until_reached()

    await bare.write(lambda db: db.execute("INSERT INTO t VALUES (2)"))
    assert await count(bare, "t") == 2
    assert not any(report.done() for report in reports)

    for held in slow:
        held.go_on.set()
    assert await asyncio.gather(*reports) == [1] * engine.REPORT_READERS


async def test_a_unique_violation_is_a_conflict_and_other_constraints_a_store_error(bare):
    await make(bare, "CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)")
    await bare.write(lambda db: db.execute("INSERT INTO accounts VALUES (1, 'cafe')"))
    with pytest.raises(Conflict, match=r"UNIQUE constraint failed: accounts\.name"):
        await bare.write(lambda db: db.execute("INSERT INTO accounts VALUES (2, 'cafe')"))
    with pytest.raises(Conflict):
        await bare.write(lambda db: db.execute("INSERT INTO accounts VALUES (1, 'other')"))
    with pytest.raises(StoreError, match="NOT NULL constraint failed") as caught:
        await bare.write(lambda db: db.execute("INSERT INTO accounts VALUES (3, NULL)"))
    assert not isinstance(caught.value, Conflict)
    with pytest.raises(StoreError, match="no such table"):
        await bare.read(lambda db: db.all("SELECT * FROM nowhere"))
    assert await count(bare, "accounts") == 1


async def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match=r"the folder .* does not exist"):
        await SQLiteStore.open(tmp_path / "nowhere" / "portal.db")


async def test_not_a_database_is_a_clear_error(tmp_path):
    path = tmp_path / "portal.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match=re.escape(f"{path}: file is not a database")):
        await SQLiteStore.open(path)


async def test_database_locked_by_another_process_is_a_clear_error(bare, monkeypatch):
    monkeypatch.setattr(engine, "BUSY_TIMEOUT_MS", 50)
    await make(bare, "CREATE TABLE t (x INTEGER)")
    second = await SQLiteStore.open(bare.path)
    other = sqlite3.connect(bare.path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match=re.escape(f"{bare.path}: database is locked")):
            await second.write(lambda db: db.execute("INSERT INTO t VALUES (1)"))
        assert await second.read(lambda db: db.value("SELECT count(*) FROM t")) == 0  # WAL: reads go on
    finally:
        other.execute("ROLLBACK")
        other.close()
    await second.write(lambda db: db.execute("INSERT INTO t VALUES (1)"))  # and writes, once it is free
    await second.close()
    assert await count(bare, "t") == 1


async def test_a_closed_store_refuses_work(tmp_path):
    store = await SQLiteStore.open(tmp_path / "portal.db")
    await store.close()
    with pytest.raises(StoreError, match="the store is closed"):
        await store.write(lambda db: db.value("SELECT 1"))
    with pytest.raises(StoreError, match="the store is closed"):
        await store.read(lambda db: db.value("SELECT 1"))
    with pytest.raises(StoreError, match="the store is closed"):
        await store.report(lambda db: db.value("SELECT 1"))


async def test_a_write_that_comes_while_the_store_closes_is_done_or_refused_never_left_waiting(tmp_path):
    store = await SQLiteStore.open(tmp_path / "portal.db")
    await make(store, "CREATE TABLE t (x INTEGER)")
    first = Held()
    blocking = asyncio.create_task(store.write(lambda db: first.hold()))
    await first.until_reached()
    closing_down = asyncio.create_task(store.close())
    await queued()
    late = asyncio.create_task(store.write(lambda db: db.execute("INSERT INTO t VALUES (1)")))
    await queued()
    first.go_on.set()
    async with asyncio.timeout(10):
        await blocking
        await closing_down
        outcome = await asyncio.gather(late, return_exceptions=True)
    assert outcome == [1] or (isinstance(outcome[0], StoreError) and "closed" in str(outcome[0]))


@pytest.fixture
def loose_umask():
    """The process's umask as most shells leave it: files 0644 unless their maker says otherwise."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_the_database_and_its_wal_and_shm_are_its_owners_alone(tmp_path, loose_umask):
    path = tmp_path / "portal.db"
    store = await SQLiteStore.open(path)
    try:
        await store.write(lambda db: db.execute("CREATE TABLE phones (number TEXT)"))
        files = [path, tmp_path / "portal.db-wal", tmp_path / "portal.db-shm"]
        assert {file.name: mode(file) for file in files} == {file.name: 0o600 for file in files}
    finally:
        await store.close()


async def test_a_database_left_readable_by_others_is_made_its_owners_alone(tmp_path):
    path = tmp_path / "portal.db"
    sqlite3.connect(path).close()
    path.chmod(0o644)
    store = await SQLiteStore.open(path)
    await store.close()
    assert mode(path) == 0o600
