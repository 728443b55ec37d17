"""The mpesa_accounts table: a tenant's PayBills and Tills, and their Daraja app credentials.

The consumer key, consumer secret, passkey and initiator password are stored encrypted and decrypted
only into a `daraja.Account` for the client (`load`), never into a page, an API answer or a log line.
"""

from collections.abc import Collection
from datetime import datetime

from .. import store
from ..clock import Clock, to_text
from ..store import Conflict, Connection, Record, columns, marks, replace_each
from ..tenancy.scope import Scope
from ..vault import Vault, new_token
from .daraja import Account, base_url
from .form import INITIATOR_PASSWORD, SECRETS, AccountError, AccountSpec, read_account

NAME_TAKEN = "You have an M-Pesa account with that name already: choose another, or change that one."

# What lists show of an account: never a secret.


class StoredAccount(Record, frozen=True):
    """An account as pages and payments see it, without its secrets."""

    id: int
    tenant_id: int
    name: str
    kind: str  # paybill | till
    shortcode: str
    till_number: str | None
    environment: str  # sandbox, production, or the base URL of a Daraja simulator
    c2b_token: str  # the secret path segment of its C2B confirmation and validation URLs
    c2b_registered_at: datetime | None  # when Daraja took those URLs; None: payments by hand go unheard
    c2b_registration_error: str | None  # why Daraja did not take them, the last time it was asked
    initiator_name: str | None  # Transaction Status: set with its password and certificate, or not at all
    certificate: str | None  # Safaricom's, public
    updated_at: datetime  # the "Changed" column of the accounts page
    # Disabled: takes no new payments (those under way still settle). Removed: out of the lists too,
    # kept only because the books name it.
    disabled_at: datetime | None
    removed_at: datetime | None

    @property
    def checks_receipts(self) -> bool:
        """Can M-Pesa be asked about a receipt (Transaction Status) with this account?"""
        return bool(self.initiator_name and self.certificate)


SUMMARY = columns(StoredAccount)


def get(db: Connection, account_id: int, scope: Scope | None = None) -> StoredAccount | None:
    where, params = scope.where("tenant_id") if scope else ("1 = 1", [])
    return db.record(
        StoredAccount, f"SELECT {SUMMARY} FROM mpesa_accounts WHERE id = ? AND {where}", (account_id, *params)
    )


def in_scope(db: Connection, scope: Scope) -> list[StoredAccount]:
    """The admin's accounts, disabled ones too; not those removed."""
    where, params = scope.where("tenant_id")
    return db.records(
        StoredAccount,
        f"SELECT {SUMMARY} FROM mpesa_accounts WHERE {where} AND removed_at IS NULL ORDER BY tenant_id, name",
        params,
    )


def names(db: Connection, account_ids: Collection[int]) -> dict[int, str]:
    rows = db.all(
        f"SELECT id, name FROM mpesa_accounts WHERE id IN ({marks(account_ids)})",
        list(account_ids),
    )
    return {row["id"]: row["name"] for row in rows}


def first_of_tenant(db: Connection, tenant_id: int) -> int | None:
    """The business's first account in use: the one that takes payments where a router names none."""
    return db.value(
        "SELECT min(id) FROM mpesa_accounts WHERE tenant_id = ? AND disabled_at IS NULL", (tenant_id,)
    )


def ids_by_name(db: Connection, tenant_id: int) -> dict[str, int]:
    """The business's accounts by their names (unique within a business), oldest first."""
    rows = db.all("SELECT id, name FROM mpesa_accounts WHERE tenant_id = ? ORDER BY id", (tenant_id,))
    return {row["name"]: row["id"] for row in rows}


def by_c2b_token(db: Connection, token: str) -> StoredAccount | None:
    return db.record(StoredAccount, f"SELECT {SUMMARY} FROM mpesa_accounts WHERE c2b_token = ?", (token,))


def without_c2b_urls(db: Connection) -> list[int]:
    """Accounts in use whose C2B URLs Daraja has not taken yet."""
    rows = db.all("SELECT id FROM mpesa_accounts WHERE c2b_registered_at IS NULL AND disabled_at IS NULL")
    return [row["id"] for row in rows]


def set_disabled(db: Connection, clock: Clock, account_id: int, tenant_id: int, disabled: bool) -> bool:
    """Disables or enables the account; False if it was so already (or is removed)."""
    return store.set_disabled(db, "mpesa_accounts", account_id, tenant_id, to_text(clock.now()), disabled)


def remove(db: Connection, clock: Clock, account_id: int, tenant_id: int, *, keep: bool) -> None:
    """Deletes the account, or with `keep` (the books name it) disables it and takes it off the lists;
    a kept one keeps its credentials, so payments under way through it can still be confirmed."""
    store.remove(db, "mpesa_accounts", account_id, tenant_id, to_text(clock.now()), keep=keep)


def c2b_registered(db: Connection, clock: Clock, account_id: int) -> None:
    db.execute(
        "UPDATE mpesa_accounts SET c2b_registered_at = ?, c2b_registration_error = NULL WHERE id = ?",
        (to_text(clock.now()), account_id),
    )


def c2b_refused(db: Connection, account_id: int, error: str) -> None:
    """Daraja did not take the URLs: why, for the owner (Daraja's words; never a secret)."""
    db.execute("UPDATE mpesa_accounts SET c2b_registration_error = ? WHERE id = ?", (error[:500], account_id))


def load(db: Connection, vault: Vault, account_id: int) -> Account:
    """The account with its secrets decrypted, for the Daraja client only."""
    row = db.one("SELECT * FROM mpesa_accounts WHERE id = ?", (account_id,))
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
        initiator_name=row["initiator_name"],
        initiator_password=(
            vault.decrypt(row["initiator_password_enc"]) if row["initiator_password_enc"] else None
        ),
        certificate=row["certificate"],
    )


def create_account(
    db: Connection,
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
    initiator_name: str = "",
    initiator_password: str = "",
    certificate: str = "",
) -> int:
    """Adds an account from what a person typed (a script, the demo, a test's shop), checked as the
    admin form checks it; the first mistake is raised."""
    typed = {"name": name, "shortcode": shortcode, "kind": kind, "environment": environment}
    typed |= {"till_number": till_number or "", "initiator_name": initiator_name, "certificate": certificate}
    secrets = {"consumer_key": consumer_key, "consumer_secret": consumer_secret, "passkey": passkey}
    secrets[INITIATOR_PASSWORD] = initiator_password
    spec, errors = read_account(typed | secrets, stored=None)
    if spec is None:
        field, message = next(iter(errors.items()))
        raise AccountError(field, f"{field}: {message}")
    return insert(db, vault, clock, tenant_id, spec)


def _initiator_password(vault: Vault, spec: AccountSpec) -> str | None:
    typed = spec.secrets.get(INITIATOR_PASSWORD) if spec.initiator_name else None
    return vault.encrypt(typed) if typed else None


def insert(db: Connection, vault: Vault, clock: Clock, tenant_id: int, spec: AccountSpec) -> int:
    now = to_text(clock.now())
    try:
        return db.value(
            "INSERT INTO mpesa_accounts (tenant_id, name, shortcode, kind, till_number, environment,"
            " consumer_key_enc, consumer_secret_enc, passkey_enc, initiator_name, initiator_password_enc,"
            " certificate, c2b_token, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (
                tenant_id,
                spec.name,
                spec.shortcode,
                spec.kind,
                spec.till_number,
                spec.environment,
                *(vault.encrypt(spec.secrets[key]) for key in SECRETS),
                spec.initiator_name,
                _initiator_password(vault, spec),
                spec.certificate,
                new_token(),
                now,
                now,
            ),
        )
    except Conflict:
        raise AccountError("name", NAME_TAKEN) from None


def update(
    db: Connection, vault: Vault, clock: Clock, account_id: int, tenant_id: int, spec: AccountSpec
) -> bool:
    """Changes the account; a secret given replaces the stored one, a secret left out is kept. False if
    the tenant has no such account, or if a secret left out would be kept for another environment than
    the one it was typed for (read_account asks for them again; this holds even against an edit that
    raced another). Without an initiator, no initiator password is kept. Another shortcode or
    environment needs its C2B URLs registered again."""
    encrypted = [vault.encrypt(spec.secrets[key]) if key in spec.secrets else None for key in SECRETS]
    all_given = len(spec.secrets.keys() & SECRETS.keys()) == len(SECRETS)
    initiator_password = _initiator_password(vault, spec)
    # An initiator password left out is kept only while there is an initiator, and in its environment.
    keep_initiator_password = spec.initiator_name is not None and initiator_password is None
    same_place = (spec.shortcode, spec.environment)
    try:
        return bool(
            db.execute(
                "UPDATE mpesa_accounts SET name = ?, kind = ?, shortcode = ?, till_number = ?,"
                " environment = ?,"
                " consumer_key_enc = coalesce(?, consumer_key_enc),"
                " consumer_secret_enc = coalesce(?, consumer_secret_enc),"
                " passkey_enc = coalesce(?, passkey_enc), initiator_name = ?, certificate = ?,"
                " initiator_password_enc = CASE WHEN ? AND environment = ? THEN initiator_password_enc"
                " ELSE ? END,"
                " c2b_registered_at = CASE WHEN shortcode = ? AND environment = ? THEN c2b_registered_at END,"
                " c2b_registration_error = CASE WHEN shortcode = ? AND environment = ?"
                " THEN c2b_registration_error END,"
                " updated_at = ?"
                " WHERE id = ? AND tenant_id = ? AND (? OR environment = ?)",
                (
                    spec.name,
                    spec.kind,
                    spec.shortcode,
                    spec.till_number,
                    spec.environment,
                    *encrypted,
                    spec.initiator_name,
                    spec.certificate,
                    keep_initiator_password,
                    spec.environment,
                    initiator_password,
                    *same_place,
                    *same_place,
                    to_text(clock.now()),
                    account_id,
                    tenant_id,
                    all_given,
                    spec.environment,
                ),
            )
        )
    except Conflict:
        raise AccountError("name", NAME_TAKEN) from None


SECRET_COLUMNS = ("consumer_key_enc", "consumer_secret_enc", "passkey_enc", "initiator_password_enc")


def rotate_secrets(db: Connection, vault: Vault) -> int:
    """Re-encrypts every stored secret under the vault's newest key (`portal keys rotate`)."""
    return replace_each(db, "mpesa_accounts", SECRET_COLUMNS, vault.rotate_token)
