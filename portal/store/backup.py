"""Backups of the SQLite database, taken while portal serves, and putting one back.

A backup is one self-contained SQLite file (see `backup_file`). The vault key is not in it, on
purpose: keep a copy of the key somewhere else, once; without it the stored secrets in a backup
can't be read, and with both in one place a stolen backup gives them away.
"""

import os
import shutil
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from . import StoreError
from .migrations.sqlite import MIGRATIONS
from .sqlite import BUSY_TIMEOUT_MS

# Sorting these names sorts the backups by time.
NAME_PATTERN = "portal-*.db"


def backup_name(moment: datetime) -> str:
    return f"portal-{moment:%Y%m%dT%H%M%SZ}.db"


def take_backup(database: Path, destination: Path, moment: datetime, keep: int | None = None) -> Path:
    """Backs up into `destination`: a file, or a folder where the copy gets a dated name.

    `keep` (folders only) then deletes all but the newest `keep` dated copies in that folder.
    """
    if keep is not None and not destination.is_dir():
        raise StoreError(f"{destination}: --keep needs a folder to hold dated backups")
    target = destination / backup_name(moment) if destination.is_dir() else destination
    backup_file(database, target)
    if keep is not None:
        for old in sorted(destination.glob(NAME_PATTERN), reverse=True)[keep:]:
            old.unlink()
    return target


@dataclass(frozen=True)
class Restored:
    schema_version: int
    payments: int
    previous: Path | None  # where the database that was replaced now is


def restore_backup(backup: Path, database: Path, moment: datetime) -> Restored:
    """Puts `backup` in place of `database`, after checking it; the replaced one is kept beside it.

    Portal must be stopped: a running server would go on writing to the file that was moved away.
    """
    if backup.is_dir():
        raise StoreError(f"{backup}: is a folder; name one of the backup files in it")
    if not backup.is_file():
        raise StoreError(f"{backup}: no such file")
    if not database.parent.is_dir():
        raise StoreError(f"{database}: the folder {database.parent} does not exist")
    if database.exists():
        refuse_if_in_use(database)
    # Check a private copy, so the file put in place is exactly the file that was checked.
    staging = database.with_name(f".{database.name}.restoring")
    shutil.copyfile(backup, staging)
    try:
        schema_version, payments = check_restorable(staging, backup)
        like = database if database.exists() else database.parent
        _take_ownership_of(staging, like)
        fsync(staging)
        previous = _move_aside(database, f"{database.name}.before-restore-{moment:%Y%m%dT%H%M%SZ}")
        os.replace(staging, database)
        fsync(database.parent)
    finally:
        staging.unlink(missing_ok=True)
    return Restored(schema_version, payments, previous)


def refuse_if_in_use(database: Path) -> None:
    """Raises if another connection has the database open (every portal process keeps one open).

    An exclusive-mode transaction needs every other connection gone, WAL readers included; with no
    busy wait it fails at once instead of waiting for them.
    """
    try:
        with closing(open_file(database, busy_timeout_ms=0)) as probe:
            probe.execute("PRAGMA locking_mode = EXCLUSIVE")
            probe.execute("BEGIN EXCLUSIVE")
            probe.execute("COMMIT")
    except sqlite3.OperationalError as error:
        if "locked" in str(error) or "busy" in str(error):
            raise StoreError(
                f"{database}: in use by a running portal; stop it first (systemctl stop portal)"
            ) from None
        # Anything else means the current file is damaged: replacing it is the point of a restore.
    except sqlite3.DatabaseError:
        pass


def check_restorable(path: Path, named: Path) -> tuple[int, int]:
    """(schema version, payments) of a portal database that this portal can run; errors name `named`."""
    try:
        with closing(open_file(path)) as connection:
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if problem := integrity_problem(connection):
                raise StoreError(f"{named}: the backup is damaged (integrity check: {problem})")
            if version == 0:
                raise StoreError(f"{named}: not a portal database (it has no portal schema)")
            if version > len(MIGRATIONS):
                raise StoreError(
                    f"{named}: schema version {version} is newer than this portal understands "
                    f"({len(MIGRATIONS)}); install the portal version that made it"
                )
            payments = connection.execute("SELECT count(*) FROM payments").fetchone()[0]
    except sqlite3.DatabaseError as error:
        if "not a database" in str(error):
            raise StoreError(f"{named}: not an SQLite database") from None
        raise StoreError(f"{named}: the backup is damaged ({error})") from None
    return version, payments


def _take_ownership_of(path: Path, like: Path) -> None:
    # The service may run as another user (systemd's DynamicUser) than the admin restoring as root.
    status = like.stat()
    if (path.stat().st_uid, path.stat().st_gid) != (status.st_uid, status.st_gid):
        os.chown(path, status.st_uid, status.st_gid)
    os.chmod(path, 0o600)


def _move_aside(database: Path, name: str) -> Path | None:
    """Renames the database with its -wal and -shm, which may hold its last commits; returns the new path."""
    if not database.exists():
        for suffix in ("-wal", "-shm"):  # stale ones would be replayed into the restored file
            database.with_name(database.name + suffix).unlink(missing_ok=True)
        return None
    for suffix in ("-wal", "-shm"):
        companion = database.with_name(database.name + suffix)
        if companion.exists():
            os.replace(companion, database.with_name(name + suffix))
    os.replace(database, database.with_name(name))
    return database.with_name(name)


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
