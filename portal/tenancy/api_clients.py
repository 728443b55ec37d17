"""The api_clients table: the other software a business lets use its payments (and, later, access)
through `/api/v1`, each with its own token and scopes.

A token reads `portal_api_<key id>_<secret>`: the prefix lets secret scanners (GitHub's, a CI's)
recognise a leaked one, the key id (public, unique) finds its client, and the secret is 256 random bits.
Only the token's SHA-256 is kept: a hash that slow password hashing would add nothing to at that
entropy, and that a stolen database can't turn back into a token. It is shown once, when made.

Rotating gives a client a new secret under the same key id; the token it replaces keeps working for an
overlap (the software using it is switched over meanwhile), then stops. A second rotation within the
overlap ends the oldest token at once: a client has at most two.

The rate limit counts each client's calls per minute in its own row, in the transaction that
authenticates the call (a write every call makes anyway): every process serving the API shares the
count, and the limit costs no transaction of its own. The minutes are fixed (:00 to :59 of each
clock minute), so a client knows exactly when its count starts again.
"""

import hmac
from datetime import datetime, timedelta

from ..clock import Clock, to_text
from ..store import Connection, Record, columns
from ..vault import fingerprint, new_token
from .scope import Scope

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
    requests_per_minute: int | None  # None: the [api] setting's
    pushes_per_month: int | None  # None: the [api] setting's
    minute_start: datetime | None  # the minute its calls are being counted in
    minute_calls: int
    previous_token_until: datetime | None  # a rotated token works until then

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


def in_scope(db: Connection, scope: Scope) -> list[ApiClient]:
    where, params = scope.where("tenant_id")
    return db.records(ApiClient, f"SELECT {COLUMNS} FROM api_clients WHERE {where} ORDER BY id", params)


def get_in(db: Connection, client_id: int, scope: Scope) -> ApiClient | None:
    """The client, if it is one of these tenants'."""
    where, params = scope.where("tenant_id")
    return db.record(
        ApiClient, f"SELECT {COLUMNS} FROM api_clients WHERE id = ? AND {where}", (client_id, *params)
    )


def revoke(db: Connection, clock: Clock, client_id: int) -> bool:
    """False if there is no such client or it was revoked already."""
    return bool(
        db.execute(
            "UPDATE api_clients SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            (to_text(clock.now()), client_id),
        )
    )


def rotate(db: Connection, clock: Clock, client_id: int, overlap: timedelta) -> tuple[ApiClient, str]:
    """A new token for a live client (shown once); the one it replaces works `overlap` longer (none:
    it stops now, for a token that leaked)."""
    client = get(db, client_id)
    if client is None:
        raise ApiClientError(f"no API client {client_id}")
    if client.revoked_at is not None:
        raise ApiClientError(f"API client {client_id} ({client.name}) is revoked")
    token = f"{PREFIX}{client.key_id}_{new_token(32)}"
    until = clock.now() + overlap
    db.execute(
        "UPDATE api_clients SET previous_token_hash = CASE WHEN ? THEN token_hash END,"
        " previous_token_until = ?, token_hash = ? WHERE id = ?",
        (overlap > timedelta(0), to_text(until) if overlap else None, fingerprint(token), client_id),
    )
    return get(db, client_id), token


def set_quotas(
    db: Connection, client_id: int, requests_per_minute: int | None, pushes_per_month: int | None
) -> bool:
    """The client's own limits (None: the settings' defaults); False if there is no such client."""
    for value in (requests_per_minute, pushes_per_month):
        if value is not None and value < 1:
            raise ApiClientError("a quota is a whole number of at least 1, or the default")
    return bool(
        db.execute(
            "UPDATE api_clients SET requests_per_minute = ?, pushes_per_month = ? WHERE id = ?",
            (requests_per_minute, pushes_per_month, client_id),
        )
    )


def authenticate(db: Connection, clock: Clock, token: str) -> ApiClient | None:
    """The live client this token is (or, within its overlap, was before a rotation), its use noted
    and the call counted in its minute; None for anything else (malformed, unknown, revoked, past its
    overlap). The secret is compared in constant time: how long a wrong one takes tells nothing."""
    key_id, _, secret = token.removeprefix(PREFIX).partition("_")
    if not token.startswith(PREFIX) or not secret:
        return None
    row = db.one(
        "SELECT id, token_hash, previous_token_hash, previous_token_until FROM api_clients"
        " WHERE key_id = ? AND revoked_at IS NULL",
        (key_id,),
    )
    if row is None:
        return None
    now, hashed = clock.now(), fingerprint(token)
    current = hmac.compare_digest(row["token_hash"], hashed)
    previous = row["previous_token_hash"] or ""
    if not current and not (
        hmac.compare_digest(previous, hashed) and to_text(now) < row["previous_token_until"]
    ):
        return None
    minute = to_text(now.replace(second=0, microsecond=0))
    # The SET's right-hand sides read the row as it was: a new minute starts its count at one.
    db.execute(
        "UPDATE api_clients SET last_used_at = ?,"
        " minute_calls = CASE WHEN minute_start = ? THEN minute_calls + 1 ELSE 1 END, minute_start = ?"
        " WHERE id = ?",
        (to_text(now), minute, minute, row["id"]),
    )
    return get(db, row["id"])
