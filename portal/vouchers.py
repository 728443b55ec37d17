"""Vouchers: prepaid codes for a package, generated in batches, printed, sold by hand.

A code is 10 characters from an alphabet without look-alikes (no 0/O, 1/I/L), shown as two groups of
five (`KQ7RD-3XM9P`) so it is easy to read off paper and type on a phone: about 49 bits, far beyond
guessing at the splash page's attempt limits. The database keeps its fingerprint (for redemption)
and the code encrypted (so the owner can print the sheet again).
"""

import secrets
import sqlite3
from dataclasses import dataclass

from .clock import Clock, to_text
from .db import Database, Transaction
from .scope import Scope
from .vault import Vault, fingerprint, new_token

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


async def generate_batch(
    tx: Transaction, clock: Clock, vault: Vault, tenant_id: int, package_id: int, count: int
) -> str:
    """`count` new unused vouchers for the package; returns the batch name."""
    if not 1 <= count <= MAX_BATCH:
        raise ValueError(f"A batch has 1 to {MAX_BATCH} vouchers.")
    batch = new_token(BATCH_LENGTH // 2)
    while await tx.fetchval("SELECT 1 FROM vouchers WHERE batch = ?", (batch,)):
        batch = new_token(BATCH_LENGTH // 2)
    now = to_text(clock.now())
    made = 0
    while made < count:
        code = new_code()
        try:
            await tx.execute(
                "INSERT INTO vouchers (tenant_id, package_id, batch, code_hash, code_enc, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (tenant_id, package_id, batch, fingerprint(code), vault.encrypt(code), now),
            )
        except sqlite3.IntegrityError:
            continue  # that code exists already (1 in 10^14 per code): draw another
        made += 1
    return batch


@dataclass(frozen=True)
class Voucher:
    code: str
    state: str
    used_at: str | None
    access_session_id: int | None


BATCH_SUMMARY = (
    "SELECT v.batch, v.tenant_id, v.package_id, k.name AS package, k.price, k.duration_seconds,"
    " min(v.created_at) AS created_at, count(*) AS total, sum(v.state = 'unused') AS unused,"
    " sum(v.state = 'used') AS used, sum(v.state = 'void') AS void"
    " FROM vouchers v JOIN packages k ON k.id = v.package_id"
    " WHERE v.tenant_id IN (SELECT value FROM json_each(?))"
)


async def batches(db: Database, scope: Scope) -> list[sqlite3.Row]:
    """Every batch, newest first, with how many of its vouchers are unused, used and void."""
    return await db.fetchall(
        BATCH_SUMMARY + " GROUP BY v.batch ORDER BY created_at DESC, v.batch", (scope.param,)
    )


async def batch(db: Database, scope: Scope, name: str) -> sqlite3.Row | None:
    return await db.fetchone(BATCH_SUMMARY + " AND v.batch = ? GROUP BY v.batch", (scope.param, name))


async def batch_vouchers(db: Database, vault: Vault, scope: Scope, name: str) -> list[Voucher]:
    rows = await db.fetchall(
        "SELECT code_enc, state, used_at, access_session_id FROM vouchers"
        " WHERE batch = ? AND tenant_id IN (SELECT value FROM json_each(?)) ORDER BY id",
        (name, scope.param),
    )
    return [
        Voucher(shown(vault.decrypt(row["code_enc"])), row["state"], row["used_at"], row["access_session_id"])
        for row in rows
    ]


async def void_unused(tx: Transaction, tenant_id: int, name: str) -> int:
    """Voids the batch's unused vouchers (a lost or stolen sheet); returns how many."""
    cursor = await tx.execute(
        "UPDATE vouchers SET state = 'void' WHERE batch = ? AND tenant_id = ? AND state = 'unused'",
        (name, tenant_id),
    )
    return cursor.rowcount


async def redeem(tx: Transaction, clock: Clock, tenant_id: int, typed: str) -> sqlite3.Row | None:
    """Uses up an unused voucher of this business; returns it (id, package_id), or None if there is none
    such. The caller links the access it opens (`access_session_id`) in `tx`."""
    code_hash = fingerprint(normalize_code(typed))
    cursor = await tx.execute(
        "UPDATE vouchers SET state = 'used', used_at = ?"
        " WHERE tenant_id = ? AND code_hash = ? AND state = 'unused'",
        (to_text(clock.now()), tenant_id, code_hash),
    )
    if cursor.rowcount != 1:
        return None
    return await tx.fetchone("SELECT id, package_id FROM vouchers WHERE code_hash = ?", (code_hash,))
