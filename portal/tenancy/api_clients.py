"""The api_clients table: the other software a business lets use its payments (and, later, access)
through `/api/v1`, each with its own token and scopes.

A token reads `portal_api_<key id>_<secret>`: the prefix lets secret scanners (GitHub's, a CI's)
recognise a leaked one, the key id (public, unique) finds its client, and the secret is 256 random bits.
Only the token's SHA-256 is kept: a hash that slow password hashing would add nothing to at that
entropy, and that a stolen database can't turn back into a token. It is shown once, when made.
"""

import hmac
from datetime import datetime

from ..clock import Clock, to_text
from ..store import Connection, Record, columns
from ..vault import fingerprint, new_token

PREFIX = "portal_api_"
SCOPES = ("payments:write", "payments:read", "access:write", "access:read")
LONGEST_NAME = 80


class ApiClientError(ValueError):
    """A client can't be made as asked; the message says why, in plain words."""


class ApiClient(Record, frozen=True):
    id: int
    tenant_id: int
    key_id: str
    name: str
    scopes: str  # space-separated
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    def may(self, scope: str) -> bool:
        return scope in self.scopes.split()


COLUMNS = columns(ApiClient)


def create(
    db: Connection, clock: Clock, tenant_id: int, name: str, scopes: list[str]
) -> tuple[ApiClient, str]:
    """A new client and its token (shown once: only its hash is kept)."""
    name = " ".join(name.split())
    if not name or len(name) > LONGEST_NAME:
        raise ApiClientError(f"a client's name is 1 to {LONGEST_NAME} characters")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise ApiClientError(f"scopes are some of {', '.join(SCOPES)}; not {', '.join(unknown) or 'none'}")
    key_id, secret = new_token(4), new_token(32)
    token = f"{PREFIX}{key_id}_{secret}"
    client_id = db.value(
        "INSERT INTO api_clients (tenant_id, key_id, token_hash, name, scopes, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        (
            tenant_id,
            key_id,
            fingerprint(token),
            name,
            " ".join(s for s in SCOPES if s in scopes),
            to_text(clock.now()),
        ),
    )
    return get(db, client_id), token


def get(db: Connection, client_id: int) -> ApiClient | None:
    return db.record(ApiClient, f"SELECT {COLUMNS} FROM api_clients WHERE id = ?", (client_id,))


def of_tenant(db: Connection, tenant_id: int) -> list[ApiClient]:
    return db.records(
        ApiClient, f"SELECT {COLUMNS} FROM api_clients WHERE tenant_id = ? ORDER BY id", (tenant_id,)
    )


def revoke(db: Connection, clock: Clock, client_id: int) -> bool:
    """False if there is no such client or it was revoked already."""
    return bool(
        db.execute(
            "UPDATE api_clients SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            (to_text(clock.now()), client_id),
        )
    )


def authenticate(db: Connection, clock: Clock, token: str) -> ApiClient | None:
    """The live client this token is, its use noted; None for anything else (malformed, unknown,
    revoked). The secret is compared in constant time: how long a wrong one takes tells nothing."""
    key_id, _, secret = token.removeprefix(PREFIX).partition("_")
    if not token.startswith(PREFIX) or not secret:
        return None
    row = db.one("SELECT id, token_hash FROM api_clients WHERE key_id = ? AND revoked_at IS NULL", (key_id,))
    if row is None or not hmac.compare_digest(row["token_hash"], fingerprint(token)):
        return None
    db.execute("UPDATE api_clients SET last_used_at = ? WHERE id = ?", (to_text(clock.now()), row["id"]))
    return get(db, row["id"])
