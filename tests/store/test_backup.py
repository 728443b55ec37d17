"""`portal backup` and `portal restore`, against a database that another process is writing to."""

import asyncio
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest

from portal import cli
from portal.store.backup import backup_file
from portal.store.migrations.sqlite import MIGRATIONS
from portal.store.sqlite import SQLiteStore
from tests.seed import WRITTEN_AT, add_paid_payments, add_shop_rows, payment_refs

# Another process commits payments one transaction at a time, each with its event row, until told to
# stop: what `portal serve` does to the file while an admin takes a backup.
WRITER = """
import asyncio, sys
from pathlib import Path
from portal.store.sqlite import SQLiteStore

def pay(db, number):
    payment_id = db.value(
        "INSERT INTO payments (tenant_id, ref, callback_token, mpesa_account_id, package_id,"
        " phone, amount, state, created_at, updated_at)"
        " VALUES (1, ?, ?, 1, 1, '254712345678', ?, 'paid', ?, ?) RETURNING id",
        (f"w{number}", f"t{number}", number % 1000 + 1, "now", "now"),
    )
    db.execute("INSERT INTO payment_events (payment_id, at, kind) VALUES (?, 'now', 'paid')", (payment_id,))

async def main(path, stop):
    store = await SQLiteStore.open(Path(path))
    for number in range(1, 1_000_000):
        if Path(stop).exists():
            break
        await store.write(pay, number)
    await store.close()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    path = tmp_path / "portal.toml"
    path.write_text(f'[store]\ndata_dir = "{data}"\n')
    monkeypatch.setenv("PORTAL_CONFIG", str(path))
    return path


@pytest.fixture
def database(config_file: Path, tmp_path: Path) -> Path:
    assert cli.main(["migrate"]) == 0
    path = tmp_path / "data" / "portal.db"
    add_shop_rows(path)
    return path


def integrity(path: Path) -> str:
    with closing(sqlite3.connect(path)) as connection:
        return connection.execute("PRAGMA integrity_check").fetchone()[0]


def written_by_writer(path: Path) -> int:
    with closing(sqlite3.connect(path, timeout=5)) as connection:
        return connection.execute("SELECT count(*) FROM payments WHERE ref GLOB 'w*'").fetchone()[0]


def wait_for_writes(path: Path, more_than: int) -> int:
    deadline = time.monotonic() + 20
    while (count := written_by_writer(path)) <= more_than:
        assert time.monotonic() < deadline, "the writer process made no progress"
        time.sleep(0.01)
    return count


def test_backup_under_write_load_restores_every_committed_payment(database, tmp_path, capsys):
    add_paid_payments(database, (f"p{n}" for n in range(1, 20_001)))  # a few MB, so the copy takes a while
    stop = tmp_path / "stop"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(database), str(stop)])
    try:
        committed_before = wait_for_writes(database, more_than=20)
        assert cli.main(["backup", str(tmp_path / "backup.db")]) == 0
        committed_after = wait_for_writes(database, more_than=written_by_writer(database))
    finally:
        stop.touch()
        assert writer.wait(timeout=30) == 0
    assert committed_after > committed_before  # the writer kept going through the backup

    backup = tmp_path / "backup.db"
    assert integrity(backup) == "ok"
    assert not Path(f"{backup}-wal").exists()  # one self-contained file
    assert backup.stat().st_mode & 0o777 == 0o600
    with closing(sqlite3.connect(backup)) as copy:
        written = [ref for (ref,) in copy.execute("SELECT ref FROM payments WHERE ref GLOB 'w*' ORDER BY id")]
        events = copy.execute("SELECT count(*) FROM payment_events").fetchone()[0]
    # Every payment committed before the backup started is in it, in commit order with no gap, and
    # each with its event: whole transactions only.
    assert committed_before <= len(written) <= committed_after
    assert written == [f"w{n}" for n in range(1, len(written) + 1)]
    assert events == len(written)

    everything_at_the_end = payment_refs(database)
    assert cli.main(["restore", str(backup)]) == 0
    assert integrity(database) == "ok"
    restored = payment_refs(database)
    assert {f"p{n}" for n in range(1, 20_001)} <= restored
    assert restored == {f"p{n}" for n in range(1, 20_001)} | set(written)
    kept = next(database.parent.glob("portal.db.before-restore-*"))
    assert payment_refs(kept) == everything_at_the_end
    assert f"{len(written) + 20_000} payments" in capsys.readouterr().out


async def test_database_backup_copies_while_the_app_writes(database, tmp_path):
    store = await SQLiteStore.open(database)
    try:
        add = "INSERT INTO tenants (slug, name, created_at) VALUES (?, ?, ?)"
        await store.write(lambda db: db.execute(add, ("a", "A", WRITTEN_AT)))
        inserted, go_on = threading.Event(), threading.Event()

        def add_and_hold(db) -> None:
            db.execute(add, ("b", "B", WRITTEN_AT))
            inserted.set()
            assert go_on.wait(10), "the test never let the write go on"

        writing = asyncio.create_task(store.write(add_and_hold))
        assert await asyncio.to_thread(inserted.wait, 10)
        try:
            # The write transaction is open: the copy is taken beside it, without it.
            await asyncio.to_thread(backup_file, database, tmp_path / "copy.db")
        finally:
            go_on.set()
            await writing
    finally:
        await store.close()
    assert slugs(tmp_path / "copy.db") == ["cafe", "a"]
    assert slugs(database) == ["cafe", "a", "b"]


def slugs(path: Path) -> list[str]:
    with closing(sqlite3.connect(path)) as connection:
        return [slug for (slug,) in connection.execute("SELECT slug FROM tenants ORDER BY id")]


def test_backup_into_a_folder_names_copies_by_time_and_keeps_the_newest(database, tmp_path, capsys):
    folder = tmp_path / "backups"
    folder.mkdir()
    for stamp in ("20250101T000000Z", "20250102T000000Z", "20250103T000000Z"):
        (folder / f"portal-{stamp}.db").write_bytes(b"older")
    (folder / "notes.txt").write_text("not a backup")
    assert cli.main(["backup", "--keep", "2", str(folder)]) == 0
    names = sorted(path.name for path in folder.iterdir())
    assert names[0] == "notes.txt" and names[1] == "portal-20250103T000000Z.db"
    assert len(names) == 3 and names[2].startswith("portal-20") and names[2] > names[1]
    assert integrity(folder / names[2]) == "ok"
    assert f"{folder / names[2]}: backup of {database} written and checked" in capsys.readouterr().out


def test_backup_of_a_missing_database_says_so(config_file, tmp_path, capsys):
    assert cli.main(["backup", str(tmp_path / "backup.db")]) == 2
    assert (
        capsys.readouterr().err.strip()
        == f"portal: {tmp_path / 'data' / 'portal.db'}: no database to back up"
    )
    assert not (tmp_path / "backup.db").exists()


def test_keep_needs_a_folder(database, tmp_path, capsys):
    assert cli.main(["backup", "--keep", "3", str(tmp_path / "one.db")]) == 2
    assert "--keep needs a folder" in capsys.readouterr().err


def make_newer(path: Path) -> None:
    with closing(sqlite3.connect(path)) as connection:
        connection.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")


def make_corrupt(path: Path) -> None:
    add_paid_payments(path, (f"p{n}" for n in range(100, 3100)))
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA journal_mode = DELETE")
        page_size = connection.execute("PRAGMA page_size").fetchone()[0]
        root = connection.execute("SELECT rootpage FROM sqlite_master WHERE name = 'payments'").fetchone()[0]
    with path.open("r+b") as file:  # scribble over the payments table's root page
        file.seek((root - 1) * page_size + 8)
        file.write(b"\xff" * 64)


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (None, "no such file"),
        (lambda path: path.mkdir(), "is a folder; name one of the backup files in it"),
        (
            lambda path: path.write_bytes(b"this is a spreadsheet, not a database" * 100),
            "not an SQLite database",
        ),
        (lambda path: sqlite3.connect(path).close(), "not a portal database"),
        (make_newer, f"schema version {len(MIGRATIONS) + 1} is newer than this portal understands"),
        (make_corrupt, "the backup is damaged"),
    ],
    ids=["missing", "folder", "not-sqlite", "not-portal", "newer", "corrupt"],
)
def test_restore_refuses_a_bad_backup_and_changes_nothing(database, tmp_path, capsys, make, says):
    add_paid_payments(database, (f"p{n}" for n in range(1, 6)))
    candidate = tmp_path / "candidate.db"
    if make is make_newer or make is make_corrupt:
        assert cli.main(["backup", str(candidate)]) == 0
    if make:
        make(candidate)
    before = sorted(path.name for path in database.parent.iterdir())
    capsys.readouterr()

    assert cli.main(["restore", str(candidate)]) == 2

    error = capsys.readouterr().err
    assert error.startswith(f"portal: {candidate}: ") and says in error and error.count("\n") == 1
    assert sorted(path.name for path in database.parent.iterdir()) == before
    assert payment_refs(database) == {f"p{n}" for n in range(1, 6)}


async def test_restore_refuses_while_portal_has_the_database_open(database, tmp_path, capsys):
    assert cli.main(["backup", str(tmp_path / "backup.db")]) == 0
    running = await SQLiteStore.open(database)
    try:
        assert cli.main(["restore", str(tmp_path / "backup.db")]) == 2
    finally:
        await running.close()
    assert "in use by a running portal; stop it first" in capsys.readouterr().err
    assert not list(database.parent.glob("*before-restore*"))


def test_restore_into_an_empty_data_dir_needs_no_previous_database(config_file, tmp_path, capsys):
    source = tmp_path / "elsewhere"
    source.mkdir()
    (tmp_path / "elsewhere.toml").write_text(f'[store]\ndata_dir = "{source}"\n')
    assert cli.main(["--config", str(tmp_path / "elsewhere.toml"), "migrate"]) == 0
    assert cli.main(["--config", str(tmp_path / "elsewhere.toml"), "backup", str(tmp_path / "b.db")]) == 0
    stale = tmp_path / "data" / "portal.db-wal"
    stale.write_bytes(b"left from a database that is gone")

    assert cli.main(["restore", str(tmp_path / "b.db")]) == 0

    assert integrity(tmp_path / "data" / "portal.db") == "ok"
    assert not stale.exists()
    assert "kept as" not in capsys.readouterr().out
