"""A tenant's M-Pesa accounts: PayBill or Till, the environment, and secrets kept in the vault.

The consumer key, consumer secret and passkey are write-only: stored encrypted, decrypted only into a
`daraja.Account` for the client, never in an `AccountSummary`, a page, an API answer or a log line.
"""

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..clock import Clock, to_text
from ..db import Database, Transaction
from ..vault import Vault, new_token
from .daraja import ENVIRONMENTS, Account, base_url

SHORTCODE = re.compile(r"^\d{5,7}$")
KINDS = ("paybill", "till")


class AccountError(ValueError):
    """A field of an M-Pesa account is wrong; the message names it."""


@dataclass(frozen=True)
class AccountSummary:
    """What may be shown about an account: everything but the secrets."""

    id: int
    tenant_id: int
    name: str
    shortcode: str
    kind: str
    till_number: str | None
    environment: str
    created_at: str
    updated_at: str


def _clean(
    name: str, shortcode: str, kind: str, till_number: str | None, environment: str
) -> tuple[str, str, str, str | None, str]:
    name, shortcode, kind = name.strip(), shortcode.strip(), kind.strip().lower()
    till_number = (till_number or "").strip() or None
    environment = environment.strip()
    if not name or len(name) > 60:
        raise AccountError("name: the name payers see, 1 to 60 characters")
    if kind not in KINDS:
        raise AccountError("kind: paybill or till")
    if not SHORTCODE.match(shortcode):
        what = "the store (head office) number" if kind == "till" else "the PayBill number"
        raise AccountError(f"shortcode: {what}, 5 to 7 digits")
    if kind == "till" and not (till_number and SHORTCODE.match(till_number)):
        raise AccountError("till_number: the Till number customers pay to, 5 to 7 digits")
    if kind == "paybill" and till_number:
        raise AccountError("till_number: only a Till has one; a PayBill is paid to its shortcode")
    if environment.lower() in ENVIRONMENTS:
        environment = environment.lower()
    else:
        parts = urlsplit(environment)
        if parts.scheme not in {"http", "https"} or not parts.netloc or parts.query or parts.fragment:
            raise AccountError("environment: sandbox, production, or the base URL of a Daraja simulator")
        environment = environment.rstrip("/")
    return name, shortcode, kind, till_number, environment


def _secret(name: str, value: str) -> str:
    value = (value or "").strip()
    if not value:
        raise AccountError(f"{name}: required")
    return value


async def create_account(
    tx: Transaction,
    vault: Vault,
    clock: Clock,
    *,
    tenant_id: int,
    name: str,
    shortcode: str,
    kind: str,
    environment: str,
    consumer_key: str,
    consumer_secret: str,
    passkey: str,
    till_number: str | None = None,
) -> int:
    name, shortcode, kind, till_number, environment = _clean(name, shortcode, kind, till_number, environment)
    secrets = [
        vault.encrypt(_secret(label, value))
        for label, value in (
            ("consumer_key", consumer_key),
            ("consumer_secret", consumer_secret),
            ("passkey", passkey),
        )
    ]
    now = to_text(clock.now())
    cursor = await tx.execute(
        "INSERT INTO mpesa_accounts (tenant_id, name, shortcode, kind, till_number, environment,"
        " consumer_key_enc, consumer_secret_enc, passkey_enc, c2b_token, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (tenant_id, name, shortcode, kind, till_number, environment, *secrets, new_token(), now, now),
    )
    return cursor.lastrowid


async def update_account(
    tx: Transaction,
    vault: Vault,
    clock: Clock,
    account_id: int,
    *,
    tenant_id: int,
    name: str,
    shortcode: str,
    kind: str,
    environment: str,
    till_number: str | None = None,
    consumer_key: str | None = None,
    consumer_secret: str | None = None,
    passkey: str | None = None,
) -> None:
    """Secrets left as None (or empty: a form's untouched field) keep their stored value."""
    name, shortcode, kind, till_number, environment = _clean(name, shortcode, kind, till_number, environment)
    assignments = [
        "name = ?",
        "shortcode = ?",
        "kind = ?",
        "till_number = ?",
        "environment = ?",
        "updated_at = ?",
    ]
    values: list[Any] = [name, shortcode, kind, till_number, environment, to_text(clock.now())]
    for column, value in (
        ("consumer_key_enc", consumer_key),
        ("consumer_secret_enc", consumer_secret),
        ("passkey_enc", passkey),
    ):
        if value and value.strip():
            assignments.append(f"{column} = ?")
            values.append(vault.encrypt(value.strip()))
    cursor = await tx.execute(
        f"UPDATE mpesa_accounts SET {', '.join(assignments)} WHERE id = ? AND tenant_id = ?",  # noqa: S608
        (*values, account_id, tenant_id),
    )
    if cursor.rowcount != 1:
        raise AccountError(f"no M-Pesa account {account_id} for this tenant")


async def list_accounts(db: Database, tenant_id: int) -> list[AccountSummary]:
    rows = await db.fetchall(
        "SELECT id, tenant_id, name, shortcode, kind, till_number, environment, created_at, updated_at"
        " FROM mpesa_accounts WHERE tenant_id = ? ORDER BY id",
        (tenant_id,),
    )
    return [AccountSummary(**dict(row)) for row in rows]


async def load_account(store: Database | Transaction, vault: Vault, account_id: int) -> Account:
    """The account with its secrets decrypted, for the Daraja client only."""
    row = await store.fetchone("SELECT * FROM mpesa_accounts WHERE id = ?", (account_id,))
    if row is None:
        raise AccountError(f"no M-Pesa account {account_id}")
    return Account(
        id=row["id"],
        name=row["name"],
        shortcode=row["shortcode"],
        kind=row["kind"],
        till_number=row["till_number"],
        base_url=base_url(row["environment"]),
        consumer_key=vault.decrypt(row["consumer_key_enc"]),
        consumer_secret=vault.decrypt(row["consumer_secret_enc"]),
        passkey=vault.decrypt(row["passkey_enc"]),
    )
