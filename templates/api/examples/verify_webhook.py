"""Check a webhook's signature before trusting it (Python 3, the standard library only): the
endpoint's secret (whsec_…, shown once when the endpoint was added) signs "{id}.{timestamp}.{body}"."""

import base64
import hashlib
import hmac
import time

TOLERANCE = 5 * 60  # seconds either way: an older timestamp is a replay


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """Whether the request's `webhook-signature` is this secret's signature of its id, timestamp and
    body (the body as received, byte for byte, before any JSON parsing)."""
    event_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(timestamp)) > TOLERANCE:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{event_id}.{timestamp}.".encode() + body
    expected = "v1," + base64.b64encode(hmac.digest(key, signed, hashlib.sha256)).decode()
    # The header may hold several signatures, separated by spaces.
    return any(hmac.compare_digest(expected, given) for given in headers["webhook-signature"].split())
