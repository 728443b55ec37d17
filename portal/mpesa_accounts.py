"""M-Pesa accounts: the PayBill or Till a tenant is paid through, and its Daraja app credentials.

The consumer key, consumer secret and passkey are stored encrypted and never shown again: forms say
which are set, and a new value replaces (rotates) the stored one. For a Till (Buy Goods), Daraja's
BusinessShortCode is the store number (head office) and the till number is where the money goes;
mixing them up is the most common set-up error (reference/daraja.md), so the form asks for both.
"""

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass

from .clock import Clock, to_text
from .db import Database, Transaction
from .scope import Scope
from .vault import Vault

KINDS = {"paybill": "PayBill", "till": "Till (Buy Goods)"}
ENVIRONMENTS = {"sandbox": "Sandbox (testing)", "production": "Production (real money)"}
SECRETS = {"consumer_key": "consumer key", "consumer_secret": "consumer secret", "passkey": "passkey"}


@dataclass(frozen=True)
class AccountSpec:
    name: str
    kind: str
    shortcode: str
    till_number: str | None
    environment: str
    secrets: dict[str, str]  # only the secrets given: the others keep their stored values


def read_account(form: Mapping[str, str], *, new: bool) -> tuple[AccountSpec | None, dict[str, str]]:
    errors = {}
    name = " ".join(form.get("name", "").split())
    if not name or len(name) > 60:
        errors["name"] = (
            "Give the account a name you will recognise, like “Main PayBill” (up to 60 characters)."
        )
    kind = form.get("kind", "")
    if kind not in KINDS:
        errors["kind"] = "Pick PayBill or Till."
    shortcode = form.get("shortcode", "").strip()
    if not (shortcode.isdigit() and 5 <= len(shortcode) <= 8):
        errors["shortcode"] = (
            "The shortcode is 5 to 8 digits: the PayBill number, or for a Till the store number"
            " (not the till number)."
        )
    till_number = form.get("till_number", "").strip()
    if kind == "till" and not (till_number.isdigit() and 5 <= len(till_number) <= 8):
        errors["till_number"] = "A Till needs its till number (5 to 8 digits): where customers' money goes."
    elif kind == "paybill" and till_number:
        errors["till_number"] = "A PayBill has no till number; leave this empty."
    environment = form.get("environment", "")
    if environment not in ENVIRONMENTS:
        errors["environment"] = "Pick sandbox or production."
    given = {key: form.get(key, "").strip() for key in SECRETS}
    for key, label in SECRETS.items():
        if new and not given[key]:
            errors[key] = f"Paste the {label} from the Daraja portal."
        elif len(given[key]) > 500:
            errors[key] = f"That {label} is too long."
    if errors:
        return None, errors
    return (
        AccountSpec(
            name=name,
            kind=kind,
            shortcode=shortcode,
            till_number=till_number if kind == "till" else None,
            environment=environment,
            secrets={key: value for key, value in given.items() if value},
        ),
        {},
    )


def account_fields(row: sqlite3.Row) -> dict[str, str]:
    return {
        "name": row["name"],
        "kind": row["kind"],
        "shortcode": row["shortcode"],
        "till_number": row["till_number"] or "",
        "environment": row["environment"],
    }


async def accounts(db: Database, scope: Scope) -> list[sqlite3.Row]:
    return await db.fetchall(
        "SELECT id, tenant_id, name, kind, shortcode, till_number, environment, created_at, updated_at"
        " FROM mpesa_accounts WHERE tenant_id IN (SELECT value FROM json_each(?)) ORDER BY tenant_id, name",
        (scope.param,),
    )


async def account(db: Database, scope: Scope, account_id: int) -> sqlite3.Row | None:
    """The account without its secrets: pages never need them."""
    return await db.fetchone(
        "SELECT id, tenant_id, name, kind, shortcode, till_number, environment, created_at, updated_at"
        " FROM mpesa_accounts WHERE id = ? AND tenant_id IN (SELECT value FROM json_each(?))",
        (account_id, scope.param),
    )


async def create_account(
    tx: Transaction, clock: Clock, vault: Vault, tenant_id: int, spec: AccountSpec
) -> int:
    now = to_text(clock.now())
    cursor = await tx.execute(
        "INSERT INTO mpesa_accounts (tenant_id, name, shortcode, kind, till_number, environment,"
        " consumer_key_enc, consumer_secret_enc, passkey_enc, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            tenant_id,
            spec.name,
            spec.shortcode,
            spec.kind,
            spec.till_number,
            spec.environment,
            *(vault.encrypt(spec.secrets[key]) for key in SECRETS),
            now,
            now,
        ),
    )
    return cursor.lastrowid


async def update_account(
    tx: Transaction, clock: Clock, vault: Vault, account_id: int, tenant_id: int, spec: AccountSpec
) -> bool:
    """Changes the account; a secret given replaces the stored one, a secret left empty is kept."""
    encrypted = [vault.encrypt(spec.secrets[key]) if key in spec.secrets else None for key in SECRETS]
    cursor = await tx.execute(
        "UPDATE mpesa_accounts SET name = ?, kind = ?, shortcode = ?, till_number = ?, environment = ?,"
        " consumer_key_enc = coalesce(?, consumer_key_enc),"
        " consumer_secret_enc = coalesce(?, consumer_secret_enc),"
        " passkey_enc = coalesce(?, passkey_enc), updated_at = ? WHERE id = ? AND tenant_id = ?",
        (
            spec.name,
            spec.kind,
            spec.shortcode,
            spec.till_number,
            spec.environment,
            *encrypted,
            to_text(clock.now()),
            account_id,
            tenant_id,
        ),
    )
    return cursor.rowcount == 1
