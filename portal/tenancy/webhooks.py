"""The webhook_endpoints, webhook_messages and webhook_attempts tables: an API client's own URLs, told
what became of its payments, signed per the Standard Webhooks specification (standardwebhooks.com).

An endpoint's secret reads `whsec_<base64 of 32 random bytes>`: shown once when it is added, kept
encrypted by the vault (the sender needs it back to sign), never logged. Each request carries
`webhook-id` (the event's id, the same on every try: the receiver's key against duplicates),
`webhook-timestamp` (Unix seconds, by the injected clock) and `webhook-signature`
(`v1,<base64 of HMAC-SHA256 of "{id}.{timestamp}.{body}">`); the body is JSON `{type, timestamp, data}`.

Delivery is an outbox: a payment's change of state (`queue`, called by billing/payments.py) writes
one message per live endpoint of the client that asked for it, in the transaction that changes the
state, so an event is sent if and only if its change was kept. `Sender` (run by jobs.py) posts what is
due; a 2xx answer delivers it, anything else is tried again after RETRY_AFTER, over about three days,
and then given up. Events of one subject (a payment) reach an endpoint in order: a message waits while
an earlier one of the same subject to the same endpoint is still pending. An endpoint that has failed
without one success for DISABLE_AFTER is disabled, its pending messages given up, and the owner told
(an audit entry, on their Audit page); `enable` turns it back on for new events.
"""

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..clock import Clock, to_api_text, to_text
from ..store import Connection, Record, Store, columns, marks, replace_each
from ..vault import Vault
from . import api_clients, audit

log = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"  # noqa: S105 (the format's name, not a secret)
# After the first try fails, the next ones come this long after the one before (Standard Webhooks'
# suggested schedule, stretched with 10-hour tries to three days); after the last, the event is given up.
RETRY_AFTER = tuple(timedelta(seconds=seconds) for seconds in (5, 300, 1800, 7200, 18000, *(36000,) * 7))
DISABLE_AFTER = timedelta(days=3)  # failing, without one success, this long
TIMEOUT = httpx.Timeout(10.0)  # a receiver is to answer at once and work afterwards
BATCH = 50  # messages sent at once by one round of the sender
LONGEST_URL = 2000
LONGEST_ERROR = 300
STATES = ("pending", "delivered", "failed")


class WebhookError(ValueError):
    """An endpoint can't be added or changed as asked; the message says why, in plain words."""


class Endpoint(Record, frozen=True):
    id: int
    api_client_id: int
    url: str
    created_at: datetime
    failing_since: datetime | None  # the first failure since the last success
    disabled_at: datetime | None  # by repeated failure; `enable` clears it
    removed_at: datetime | None


class Message(Record, frozen=True):
    id: int
    endpoint_id: int
    event_id: str  # webhook-id
    event_type: str  # payment.paid …
    subject: str  # 'payment:12': what the order of delivery is kept for
    body: str
    state: str  # pending | delivered | failed (given up)
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime
    finished_at: datetime | None


class Attempt(Record, frozen=True):
    id: int
    message_id: int
    at: datetime
    status_code: int | None  # None: no answer (refused, timed out)
    error: str | None  # None: delivered


ENDPOINT = columns(Endpoint)
MESSAGE = columns(Message)
ATTEMPT = columns(Attempt)


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signature(secret: str, event_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header's value for this secret."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{event_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.digest(key, signed, hashlib.sha256)).decode()


# -- endpoints --


def add(db: Connection, clock: Clock, vault: Vault, client_id: int, url: str) -> tuple[Endpoint, str]:
    """A new endpoint of a live client, and its secret (shown once)."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > LONGEST_URL:
        raise WebhookError(f"{url!r} is not an http(s) URL such as https://shop.example/hooks/portal")
    client = api_clients.get(db, client_id)
    if client is None:
        raise WebhookError(f"no API client {client_id}")
    if client.revoked_at is not None:
        raise WebhookError(f"API client {client_id} ({client.name}) is revoked")
    secret = new_secret()
    endpoint_id = db.value(
        "INSERT INTO webhook_endpoints (api_client_id, url, secret_enc, created_at) VALUES (?, ?, ?, ?)"
        " RETURNING id",
        (client_id, url, vault.encrypt(secret), to_text(clock.now())),
    )
    return get(db, endpoint_id), secret


def get(db: Connection, endpoint_id: int) -> Endpoint | None:
    return db.record(Endpoint, f"SELECT {ENDPOINT} FROM webhook_endpoints WHERE id = ?", (endpoint_id,))


def of_client(db: Connection, client_id: int) -> list[Endpoint]:
    """The client's endpoints, removed ones too (their deliveries stay readable)."""
    return db.records(
        Endpoint,
        f"SELECT {ENDPOINT} FROM webhook_endpoints WHERE api_client_id = ? ORDER BY id",
        (client_id,),
    )


def remove(db: Connection, clock: Clock, endpoint_id: int) -> bool:
    """No more events to it, and those pending are given up; False if it was removed already."""
    now = to_text(clock.now())
    removed = db.execute(
        "UPDATE webhook_endpoints SET removed_at = ? WHERE id = ? AND removed_at IS NULL", (now, endpoint_id)
    )
    if removed:
        _give_up_pending(db, now, endpoint_id)
    return bool(removed)


def enable(db: Connection, endpoint_id: int) -> bool:
    """A disabled endpoint gets new events again; False if it was not disabled (or is removed)."""
    return bool(
        db.execute(
            "UPDATE webhook_endpoints SET disabled_at = NULL, failing_since = NULL"
            " WHERE id = ? AND disabled_at IS NOT NULL AND removed_at IS NULL",
            (endpoint_id,),
        )
    )


def rotate_secrets(db: Connection, vault: Vault) -> int:
    """Re-encrypts every endpoint's secret under the vault's newest key (`portal keys rotate`)."""
    return replace_each(db, "webhook_endpoints", ["secret_enc"], vault.rotate_token)


def _give_up_pending(db: Connection, now: str, endpoint_id: int) -> None:
    db.execute(
        "UPDATE webhook_messages SET state = 'failed', next_attempt_at = NULL, finished_at = ?"
        " WHERE endpoint_id = ? AND state = 'pending'",
        (now, endpoint_id),
    )


# -- events --


def queue(
    db: Connection, clock: Clock, client_id: int, event_type: str, subject: str, data: dict[str, Any]
) -> int:
    """The event, to each live endpoint of the client (none once it is revoked), in the caller's
    transaction; returns to how many."""
    client = api_clients.get(db, client_id)
    if client is None or client.revoked_at is not None:
        return 0
    endpoints = db.all(
        "SELECT id FROM webhook_endpoints"
        " WHERE api_client_id = ? AND disabled_at IS NULL AND removed_at IS NULL",
        (client_id,),
    )
    now = clock.now()
    body = json.dumps(
        {"type": event_type, "timestamp": to_api_text(now), "data": data}, separators=(",", ":")
    )
    event_id = f"msg_{secrets.token_hex(12)}"
    for endpoint in endpoints:
        db.execute(
            "INSERT INTO webhook_messages (endpoint_id, event_id, event_type, subject, body, state,"
            " next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)",
            (endpoint["id"], event_id, event_type, subject, body, to_text(now), to_text(now)),
        )
    return len(endpoints)


# Pending, and no earlier message of its subject to its endpoint is still pending.
FIRST_OF_ITS_SUBJECT = (
    "state = 'pending' AND NOT EXISTS (SELECT 1 FROM webhook_messages AS earlier"
    " WHERE earlier.state = 'pending' AND earlier.endpoint_id = webhook_messages.endpoint_id"
    " AND earlier.subject = webhook_messages.subject AND earlier.id < webhook_messages.id)"
)


def due(db: Connection, now: datetime, limit: int) -> list[Message]:
    return db.records(
        Message,
        f"SELECT {MESSAGE} FROM webhook_messages WHERE {FIRST_OF_ITS_SUBJECT} AND next_attempt_at <= ?"
        " ORDER BY next_attempt_at, id LIMIT ?",
        (to_text(now), limit),
    )


def next_due(db: Connection) -> datetime | None:
    """When the next message may go; a message waiting behind an earlier one goes once that one is done."""
    moment = db.value(f"SELECT min(next_attempt_at) FROM webhook_messages WHERE {FIRST_OF_ITS_SUBJECT}")
    return datetime.fromisoformat(moment) if moment else None


def _due_and_next(db: Connection, now: datetime, limit: int) -> tuple[list[Message], datetime | None]:
    return due(db, now, limit), next_due(db)


def destinations(db: Connection, vault: Vault, endpoint_ids: Collection[int]) -> dict[int, tuple[str, str]]:
    """Each endpoint's (URL, secret), decrypted for signing."""
    rows = db.all(
        f"SELECT id, url, secret_enc FROM webhook_endpoints WHERE id IN ({marks(endpoint_ids)})",
        list(endpoint_ids),
    )
    return {row["id"]: (row["url"], vault.decrypt(row["secret_enc"])) for row in rows}


def record_attempt(
    db: Connection, clock: Clock, message: Message, status_code: int | None, error: str | None
) -> None:
    """One try's outcome: delivered; or failed, tried again later or given up, and the endpoint
    disabled once it has failed for DISABLE_AFTER."""
    now = clock.now()
    db.execute(
        "INSERT INTO webhook_attempts (message_id, at, status_code, error) VALUES (?, ?, ?, ?)",
        (message.id, to_text(now), status_code, error),
    )
    attempts = message.attempts + 1
    if error is None:
        db.execute(
            "UPDATE webhook_messages SET state = 'delivered', attempts = ?, next_attempt_at = NULL,"
            " finished_at = ? WHERE id = ? AND state = 'pending'",
            (attempts, to_text(now), message.id),
        )
        db.execute("UPDATE webhook_endpoints SET failing_since = NULL WHERE id = ?", (message.endpoint_id,))
        return
    if attempts > len(RETRY_AFTER):
        db.execute(
            "UPDATE webhook_messages SET state = 'failed', attempts = ?, next_attempt_at = NULL,"
            " finished_at = ? WHERE id = ? AND state = 'pending'",
            (attempts, to_text(now), message.id),
        )
    else:
        db.execute(
            "UPDATE webhook_messages SET attempts = ?, next_attempt_at = ?"
            " WHERE id = ? AND state = 'pending'",
            (attempts, to_text(now + RETRY_AFTER[attempts - 1]), message.id),
        )
    db.execute(
        "UPDATE webhook_endpoints SET failing_since = ? WHERE id = ? AND failing_since IS NULL",
        (to_text(now), message.endpoint_id),
    )
    endpoint = get(db, message.endpoint_id)
    if endpoint.disabled_at is None and endpoint.failing_since <= now - DISABLE_AFTER:
        _disable(db, clock, endpoint, error)


def _disable(db: Connection, clock: Clock, endpoint: Endpoint, last_error: str) -> None:
    now = to_text(clock.now())
    db.execute("UPDATE webhook_endpoints SET disabled_at = ? WHERE id = ?", (now, endpoint.id))
    _give_up_pending(db, now, endpoint.id)
    client = api_clients.get(db, endpoint.api_client_id)
    audit.record(
        db,
        clock,
        tenant_id=client.tenant_id,
        actor="portal",
        action="webhook_endpoint_disabled",
        target=endpoint.url,
        detail={
            "api_client": f"{client.id} {client.name}",
            "endpoint": endpoint.id,
            "failing_since": to_text(endpoint.failing_since),
            "last_error": last_error,
        },
    )
    log.warning(
        "webhook endpoint disabled after failing for days",
        extra={"fields": {"endpoint": endpoint.id, "url": endpoint.url, "last_error": last_error}},
    )


def send_again(db: Connection, clock: Clock, client_id: int, message_id: int) -> Message | None:
    """A finished event (delivered, or given up) of the client's queued once more to its endpoint, as
    a new delivery with tries of its own: the owner's "send again", for a receiver that lost it or was
    down for days. It keeps its webhook-id, as it is the same event: a receiver that already has it
    may ignore it. None if the client has no such event."""
    message = db.record(
        Message,
        f"SELECT {MESSAGE} FROM webhook_messages WHERE id = ? AND endpoint_id IN"
        " (SELECT id FROM webhook_endpoints WHERE api_client_id = ?)",
        (message_id, client_id),
    )
    if message is None:
        return None
    endpoint = get(db, message.endpoint_id)
    if message.state == "pending":
        raise WebhookError("this event is still being sent: its next try comes by itself")
    if endpoint.removed_at is not None:
        raise WebhookError(f"{endpoint.url} was removed: it gets no events")
    if endpoint.disabled_at is not None:
        raise WebhookError(f"{endpoint.url} is disabled after failing: enable it first")
    now = to_text(clock.now())
    again = db.value(
        "INSERT INTO webhook_messages (endpoint_id, event_id, event_type, subject, body, state,"
        " next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?) RETURNING id",
        (endpoint.id, message.event_id, message.event_type, message.subject, message.body, now, now),
    )
    return db.record(Message, f"SELECT {MESSAGE} FROM webhook_messages WHERE id = ?", (again,))


def deliveries(db: Connection, client_id: int, limit: int) -> list[tuple[Message, list[Attempt]]]:
    """The client's newest messages (to any of its endpoints), each with its tries, oldest try first."""
    messages = db.records(
        Message,
        f"SELECT {MESSAGE} FROM webhook_messages WHERE endpoint_id IN"
        " (SELECT id FROM webhook_endpoints WHERE api_client_id = ?) ORDER BY id DESC LIMIT ?",
        (client_id, limit),
    )
    ids = [message.id for message in messages]
    tries = db.records(
        Attempt,
        f"SELECT {ATTEMPT} FROM webhook_attempts WHERE message_id IN ({marks(ids)}) ORDER BY id",
        ids,
    )
    return [(message, [a for a in tries if a.message_id == message.id]) for message in messages]


# -- sending --


class Sender:
    """Posts the messages that are due, all of a round at once, and records each try. jobs.py runs
    `send_due` in a loop woken when events are queued."""

    def __init__(self, store: Store, clock: Clock, vault: Vault, http: httpx.AsyncClient):
        self.store = store
        self.clock = clock
        self.vault = vault
        self.http = http

    async def send_due(self) -> datetime | None:
        """Sends what is due; returns when the next message is."""
        messages, next_at = await self.store.read(_due_and_next, self.clock.now(), BATCH)
        if not messages:  # most wake-ups: every settled payment wakes this, an API client's or not
            return next_at
        where = await self.store.read(destinations, self.vault, {message.endpoint_id for message in messages})
        outcomes = await asyncio.gather(*(self._post(m, *where[m.endpoint_id]) for m in messages))
        await self.store.write(_record_all, self.clock, list(zip(messages, outcomes, strict=True)))
        return await self.store.read(next_due)

    async def _post(self, message: Message, url: str, secret: str) -> tuple[int | None, str | None]:
        """(status code, error): error None when the receiver took it (a 2xx)."""
        timestamp = int(self.clock.now().timestamp())
        body = message.body.encode()
        headers = {
            "content-type": "application/json",
            "user-agent": "portal-webhooks",
            "webhook-id": message.event_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(secret, message.event_id, timestamp, body),
        }
        try:
            response = await self.http.post(url, content=body, headers=headers, timeout=TIMEOUT)
        except httpx.HTTPError as error:
            said = str(error)
            return None, (f"{type(error).__name__}: {said}" if said else type(error).__name__)[:LONGEST_ERROR]
        if response.is_success:
            return response.status_code, None
        return response.status_code, f"HTTP {response.status_code} {response.reason_phrase}"[:LONGEST_ERROR]


def _record_all(
    db: Connection, clock: Clock, outcomes: list[tuple[Message, tuple[int | None, str | None]]]
) -> None:
    for message, (status_code, error) in outcomes:
        record_attempt(db, clock, message, status_code, error)
