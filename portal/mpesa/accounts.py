"""A tenant's M-Pesa accounts: the PayBill or Till it is paid through, and its Daraja app credentials.

The consumer key, consumer secret and passkey are write-only: stored encrypted, decrypted only into a
`daraja.Account` for the client (`load_account`), never in a page, an API answer or a log line. Forms
say which are set, and a new value replaces (rotates) the stored one. For a Till (Buy Goods), Daraja's
BusinessShortCode is the store number (head office) and the till number is where the money goes;
mixing them up is the most common set-up error (reference/daraja.md §11.7), so both are asked for.
"""

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..clock import Clock, to_text
from ..db import Database, Transaction
from ..numbers import is_digits
from ..scope import Scope
from ..vault import Vault, new_token
from .daraja import Account, base_url

KINDS = {"paybill": "PayBill", "till": "Till (Buy Goods)"}
ENVIRONMENTS = {"sandbox": "Sandbox (testing)", "production": "Production (real money)"}
SECRETS = {"consumer_key": "consumer key", "consumer_secret": "consumer secret", "passkey": "passkey"}
RETYPE_SECRETS = (
    "The environment changed: type the consumer key, secret and passkey again. Stored ones are only"
    " sent to the environment they were typed for."
)
# What lists show of an account: never a secret.
SUMMARY = ", ".join([
    "id", "tenant_id", "name", "kind", "shortcode", "till_number", "environment", "c2b_registered_at",
    "created_at", "updated_at",
])  # fmt: skip


class AccountError(ValueError):
    """A field of an M-Pesa account is wrong; `field` names it."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class AccountSpec:
    name: str
    kind: str
    shortcode: str
    till_number: str | None
    environment: str  # sandbox, production, or the base URL of a Daraja simulator
    secrets: dict[str, str]  # only the secrets given: the others keep their stored values


def read_account(
    form: Mapping[str, str], *, stored: Mapping | None
) -> tuple[AccountSpec | None, dict[str, str]]:
    """The account a form describes, or what is wrong with each field.

    `stored` is the account being edited (None: a new one). Its secrets left blank are kept, but only
    while the environment stays: re-pointed at another URL, an account would otherwise send the stored
    secrets there (Test credentials sends them all), so a new environment needs them typed again."""
    errors = {}
    name = " ".join(form.get("name", "").split())
    if not name or len(name) > 60:
        errors["name"] = (
            "Give the account a name you will recognise, like “Main PayBill” (up to 60 characters)."
        )
    kind = form.get("kind", "").strip().lower()
    if kind not in KINDS:
        errors["kind"] = "Pick PayBill or Till."
    shortcode = form.get("shortcode", "").strip()
    if not _is_shortcode(shortcode):
        errors["shortcode"] = (
            "The shortcode is 5 to 7 digits: the PayBill number, or for a Till the store number"
            " (not the till number)."
        )
    till_number = (form.get("till_number") or "").strip()
    if kind == "till" and not _is_shortcode(till_number):
        errors["till_number"] = "A Till needs its till number (5 to 7 digits): where customers' money goes."
    elif kind == "paybill" and till_number:
        errors["till_number"] = "A PayBill has no till number; leave this empty."
    environment = _environment(form.get("environment", ""))
    if environment is None:
        errors["environment"] = "Pick sandbox or production."
    moved = stored is not None and environment not in (None, stored["environment"])
    given = {key: (form.get(key) or "").strip() for key in SECRETS}
    for key, label in SECRETS.items():
        if stored is None and not given[key]:
            errors[key] = f"Paste the {label} from the Daraja portal."
        elif moved and not given[key]:
            errors[key] = RETYPE_SECRETS
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


def _is_shortcode(text: str) -> bool:
    return is_digits(text) and 5 <= len(text) <= 7  # reference/daraja.md §3.1


def _environment(text: str) -> str | None:
    """sandbox, production, or the base URL of something that speaks Daraja (the simulator, in tests
    and the demo)."""
    text = text.strip()
    if text.lower() in ENVIRONMENTS:
        return text.lower()
    parts = urlsplit(text)
    if parts.scheme in {"http", "https"} and parts.netloc and not (parts.query or parts.fragment):
        return text.rstrip("/")
    return None


def account_fields(row: Mapping) -> dict[str, str]:
    """What a form shows of an account (a row, or a spec as a dict): never a secret."""
    return {
        "name": row["name"],
        "kind": row["kind"],
        "shortcode": row["shortcode"],
        "till_number": row["till_number"] or "",
        "environment": row["environment"],
    }


async def accounts(db: Database, scope: Scope) -> list[sqlite3.Row]:
    return await db.fetchall(
        f"SELECT {SUMMARY} FROM mpesa_accounts WHERE tenant_id IN (SELECT value FROM json_each(?))"  # noqa: S608
        " ORDER BY tenant_id, name",
        (scope.param,),
    )


async def account(db: Database, scope: Scope, account_id: int) -> sqlite3.Row | None:
    """The account without its secrets: pages never need them."""
    return await db.fetchone(
        f"SELECT {SUMMARY} FROM mpesa_accounts"  # noqa: S608
        " WHERE id = ? AND tenant_id IN (SELECT value FROM json_each(?))",
        (account_id, scope.param),
    )


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
    """Adds an account from what a person typed (a test's shop, a script), checked as the admin form
    checks it; the first mistake is raised."""
    typed = {"name": name, "shortcode": shortcode, "kind": kind, "environment": environment}
    secrets = {"consumer_key": consumer_key, "consumer_secret": consumer_secret, "passkey": passkey}
    spec, errors = read_account({**typed, **secrets, "till_number": till_number or ""}, stored=None)
    if spec is None:
        field, message = next(iter(errors.items()))
        raise AccountError(field, f"{field}: {message}")
    return await insert_account(tx, vault, clock, tenant_id, spec)


async def insert_account(
    tx: Transaction, vault: Vault, clock: Clock, tenant_id: int, spec: AccountSpec
) -> int:
    now = to_text(clock.now())
    cursor = await tx.execute(
        "INSERT INTO mpesa_accounts (tenant_id, name, shortcode, kind, till_number, environment,"
        " consumer_key_enc, consumer_secret_enc, passkey_enc, c2b_token, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            tenant_id,
            spec.name,
            spec.shortcode,
            spec.kind,
            spec.till_number,
            spec.environment,
            *(vault.encrypt(spec.secrets[key]) for key in SECRETS),
            new_token(),
            now,
            now,
        ),
    )
    return cursor.lastrowid


async def update_account(
    tx: Transaction, vault: Vault, clock: Clock, account_id: int, tenant_id: int, spec: AccountSpec
) -> bool:
    """Changes the account; a secret given replaces the stored one, a secret left out is kept. False if
    the tenant has no such account, or if a secret left out would be kept for another environment than
    the one it was typed for (read_account asks for them again; this holds even against an edit that
    raced another)."""
    encrypted = [vault.encrypt(spec.secrets[key]) if key in spec.secrets else None for key in SECRETS]
    all_given = len(spec.secrets) == len(SECRETS)
    cursor = await tx.execute(
        "UPDATE mpesa_accounts SET name = ?, kind = ?, shortcode = ?, till_number = ?, environment = ?,"
        " consumer_key_enc = coalesce(?, consumer_key_enc),"
        " consumer_secret_enc = coalesce(?, consumer_secret_enc),"
        " passkey_enc = coalesce(?, passkey_enc), updated_at = ?"
        " WHERE id = ? AND tenant_id = ? AND (? OR environment = ?)",
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
            all_given,
            spec.environment,
        ),
    )
    return cursor.rowcount == 1


async def load_account(store: Database | Transaction, vault: Vault, account_id: int) -> Account:
    """The account with its secrets decrypted, for the Daraja client only."""
    row = await store.fetchone("SELECT * FROM mpesa_accounts WHERE id = ?", (account_id,))
    if row is None:
        raise AccountError("id", f"no M-Pesa account {account_id}")
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
