"""The vouchers table: prepaid codes for a package, generated in batches, printed, sold by hand.

A batch sells at a price of its own (the package's unless the owner says otherwise; 0 for vouchers
given away). A voucher's sale counts once: when the owner marked its batch sold (`sold_at`), else when
a customer redeemed it (`used_at`), so that a sheet sold to a reseller counts the day it was sold.

A code is 10 characters from an alphabet without look-alikes (no 0/O, 1/I/L), shown as two groups of
five (`KQ7RD-3XM9P`) so it is easy to read off paper and type on a phone: about 49 bits, far beyond
guessing at the splash page's attempt limits. The database keeps its fingerprint (for redemption)
and the code encrypted (so the owner can print the sheet again).
"""

import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from ..catalog import packages
from ..catalog.packages import MAX_PRICE
from ..clock import Clock, from_text, to_text
from ..store import Connection, Record, marks, replace_each
from ..tenancy.scope import Scope
from ..vault import Vault, fingerprint, new_token

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 10
MAX_BATCH = 500
BATCH_LENGTH = 8  # hex characters


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(typed: str) -> str:
    """What a person typed, as stored: capitals, without the spaces and dashes people add."""
    return "".join(char for char in typed.upper() if char not in " -")


def shown(code: str) -> str:
    return f"{code[:5]}-{code[5:]}"


def is_batch(text: str) -> bool:
    return len(text) == BATCH_LENGTH and all(char in "0123456789abcdef" for char in text)


class Batch(Record, frozen=True):
    batch: str
    tenant_id: int
    package_id: int
    created_at: datetime
    total: int
    unused: int
    used: int
    void: int
    price: int | None  # what each of its vouchers sells at
    unsold: int  # unused, and not marked sold
    made_by: int | None  # the admin who made it
    removed_at: datetime | None  # off the list, kept for the books


@dataclass(frozen=True)
class Voucher:
    code: str
    state: str  # unused | used | void
    used_at: datetime | None
    sold_at: datetime | None
    access_session_id: int | None


@dataclass(frozen=True)
class Redeemed:
    id: int
    package_id: int


def generate_batch(
    db: Connection,
    clock: Clock,
    vault: Vault,
    tenant_id: int,
    package_id: int,
    count: int,
    price: int | None = None,
    made_by: int | None = None,
) -> str:
    """`count` new unused vouchers for the package, selling at `price` (None: the package's), made by
    the admin `made_by` (None: from the command line or a test); returns the batch name."""
    if not 1 <= count <= MAX_BATCH:
        raise ValueError(f"A batch has 1 to {MAX_BATCH} vouchers.")
    if price is None:
        price = packages.get(db, package_id).price
    if not 0 <= price <= MAX_PRICE:
        raise ValueError(f"A voucher sells at 0 to {MAX_PRICE} shillings.")
    batch = new_token(BATCH_LENGTH // 2)
    # A batch is named within its business (every lookup is), which its index serves.
    while db.value("SELECT 1 FROM vouchers WHERE tenant_id = ? AND batch = ?", (tenant_id, batch)):
        batch = new_token(BATCH_LENGTH // 2)
    now = to_text(clock.now())
    made = 0
    while made < count:
        code = new_code()
        # A code that exists already (1 in 10^14 per code) inserts nothing: another is drawn.
        made += db.execute(
            "INSERT INTO vouchers (tenant_id, package_id, batch, code_hash, code_enc, created_at, price,"
            " made_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (code_hash) DO NOTHING",
            (tenant_id, package_id, batch, fingerprint(code), vault.encrypt(code), now, price, made_by),
        )
    return batch


BATCH_SUMMARY = (
    "SELECT batch, tenant_id, package_id, min(created_at) AS created_at, count(*) AS total,"
    " count(*) FILTER (WHERE state = 'unused') AS unused, count(*) FILTER (WHERE state = 'used') AS used,"
    " count(*) FILTER (WHERE state = 'void') AS void, max(price) AS price,"
    " count(*) FILTER (WHERE state = 'unused' AND sold_at IS NULL) AS unsold, max(made_by) AS made_by,"
    " max(removed_at) AS removed_at"
    " FROM vouchers"
)


def batches(db: Connection, scope: Scope) -> list[Batch]:
    """Every batch but those removed, newest first, with how many of its vouchers are unused, used and
    void."""
    where, params = scope.where("tenant_id")
    return db.records(
        Batch,
        f"{BATCH_SUMMARY} WHERE {where} AND removed_at IS NULL GROUP BY batch, tenant_id, package_id"
        " ORDER BY 4 DESC, batch",
        params,
    )


def batch(db: Connection, scope: Scope, name: str) -> Batch | None:
    where, params = scope.where("tenant_id")
    return db.record(
        Batch,
        f"{BATCH_SUMMARY} WHERE {where} AND batch = ? GROUP BY batch, tenant_id, package_id",
        (*params, name),
    )


def batch_vouchers(db: Connection, vault: Vault, scope: Scope, name: str) -> list[Voucher]:
    where, params = scope.where("tenant_id")
    rows = db.all(
        f"SELECT code_enc, state, used_at, sold_at, access_session_id FROM vouchers"
        f" WHERE batch = ? AND {where}"
        " ORDER BY id",
        (name, *params),
    )
    return [
        Voucher(
            shown(vault.decrypt(row["code_enc"])),
            row["state"],
            from_text(row["used_at"]) if row["used_at"] else None,
            from_text(row["sold_at"]) if row["sold_at"] else None,
            row["access_session_id"],
        )
        for row in rows
    ]


def void_unused(db: Connection, tenant_id: int, name: str) -> int:
    """Voids the batch's unused vouchers (a lost or stolen sheet); returns how many."""
    return db.execute(
        "UPDATE vouchers SET state = 'void' WHERE batch = ? AND tenant_id = ? AND state = 'unused'",
        (name, tenant_id),
    )


def remove_batch(db: Connection, clock: Clock, tenant_id: int, name: str) -> bool:
    """Deletes a batch none of which was used or sold; else voids its unused vouchers and takes it off
    the list, kept for the books (the sessions it bought, its sales). True if it was kept."""
    kept = bool(
        db.value(
            "SELECT 1 FROM vouchers WHERE batch = ? AND tenant_id = ?"
            " AND (state = 'used' OR sold_at IS NOT NULL)",
            (name, tenant_id),
        )
    )
    if kept:
        void_unused(db, tenant_id, name)
        db.execute(
            "UPDATE vouchers SET removed_at = ? WHERE batch = ? AND tenant_id = ?",
            (to_text(clock.now()), name, tenant_id),
        )
    else:
        db.execute("DELETE FROM vouchers WHERE batch = ? AND tenant_id = ?", (name, tenant_id))
    return kept


def mark_sold(db: Connection, clock: Clock, tenant_id: int, name: str) -> int:
    """The owner sold the batch's unused vouchers (to a reseller, over the counter): their sale counts
    now, and not again when they are used. Returns how many."""
    return db.execute(
        "UPDATE vouchers SET sold_at = ? WHERE batch = ? AND tenant_id = ? AND state = 'unused'"
        " AND sold_at IS NULL",
        (to_text(clock.now()), name, tenant_id),
    )


def count_of_package(db: Connection, package_id: int) -> int:
    return db.value("SELECT count(*) FROM vouchers WHERE package_id = ?", (package_id,))


class Sale(Record, frozen=True):
    """A voucher sold: when its batch was marked sold, else when a customer used it."""

    sold_at: datetime
    tenant_id: int
    package_id: int
    access_session_id: int | None  # what it bought; None while unused
    price: int
    batch: str
    marked_sold: bool  # sold with its batch (to a reseller, over the counter), not at its use


def sales(db: Connection, scope: Scope, start: datetime, end: datetime) -> list[Sale]:
    """Vouchers sold at or after `start` and before `end`, oldest first. Free ones are no sale."""
    where, params = scope.where("tenant_id")
    sold_at = "coalesce(sold_at, used_at)"  # used_at is set only on use: unsold and void, never sold
    return db.records(
        Sale,
        f"SELECT {sold_at}, tenant_id, package_id, access_session_id, price, batch, sold_at IS NOT NULL"
        f" FROM vouchers WHERE {where} AND price > 0 AND {sold_at} >= ? AND {sold_at} < ?"
        f" ORDER BY {sold_at}, id",
        (*params, to_text(start), to_text(end)),
    )


def redeem(db: Connection, clock: Clock, tenant_id: int, typed: str) -> Redeemed | None:
    """Uses up an unused voucher of this business; None if there is none such. The caller links the
    access it opens (`link_session`) in `db`."""
    code_hash = fingerprint(normalize_code(typed))
    used = db.execute(
        "UPDATE vouchers SET state = 'used', used_at = ?"
        " WHERE tenant_id = ? AND code_hash = ? AND state = 'unused'",
        (to_text(clock.now()), tenant_id, code_hash),
    )
    if not used:
        return None
    row = db.one("SELECT id, package_id FROM vouchers WHERE code_hash = ?", (code_hash,))
    return Redeemed(row["id"], row["package_id"])


def session_of_code(db: Connection, tenant_id: int, typed: str) -> tuple[bool, int | None]:
    """(is it one of the business's vouchers, the session it bought if it bought one)."""
    row = db.one(
        "SELECT access_session_id FROM vouchers WHERE tenant_id = ? AND code_hash = ?",
        (tenant_id, fingerprint(normalize_code(typed))),
    )
    return (row is not None, row["access_session_id"] if row else None)


def link_session(db: Connection, voucher_id: int, session_id: int) -> None:
    db.execute("UPDATE vouchers SET access_session_id = ? WHERE id = ?", (session_id, voucher_id))


def for_sessions(db: Connection, session_ids: Collection[int]) -> list[tuple[int, str, datetime]]:
    """(session id, batch, used at) of the vouchers that bought these sessions."""
    rows = db.all(
        "SELECT access_session_id, batch, used_at FROM vouchers"
        f" WHERE access_session_id IN ({marks(session_ids)})",
        list(session_ids),
    )
    return [(row["access_session_id"], row["batch"], from_text(row["used_at"])) for row in rows]


def rotate_secrets(db: Connection, vault: Vault) -> int:
    """Re-encrypts every stored voucher code under the vault's newest key (`portal keys rotate`)."""
    return replace_each(db, "vouchers", ["code_enc"], vault.rotate_token)
