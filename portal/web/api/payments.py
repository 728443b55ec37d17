"""`/api/v1/payments`: an M-Pesa prompt for another program's sale, and following it.

A payment starts through the splash's own checkout (billing/checkout.py) as a `Charge`: the same phone
rules, limits on prompts, states, callbacks and queries; it buys no package, so nothing is switched on
when it is paid. The prompt shows the reference and description as asked, or the request is refused:
M-Pesa would otherwise shorten them silently.
"""

import json
from datetime import datetime
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath

from ... import i18n, phones
from ...billing import payments
from ...billing.checkout import Charge, PaymentError
from ...billing.payments import STATES
from ...mpesa.daraja import MAX_AMOUNT, account_reference, transaction_desc
from ...tenancy.api_clients import ApiClient
from ...typed_numbers import is_digits
from .problems import (
    IDEMPOTENCY_CONFLICT,
    INVALID,
    NO_ACCOUNT,
    NOT_FOUND,
    PHONE_BUSY,
    TOO_MANY_PUSHES,
    Problem,
    field_error,
)

PAGE = 50
LONGEST_PAGE = 100
LONGEST_IDEMPOTENCY_KEY = 255
LARGEST_ID = 2**63 - 1  # the database's largest integer: no payment's id is larger
REFUSALS = {"idempotency_conflict": IDEMPOTENCY_CONFLICT, "phone_busy": PHONE_BUSY, "no_account": NO_ACCOUNT}


def _moment(text: str) -> datetime | None:
    """An ISO 8601 time with its zone; None for anything else."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def _charge(client: ApiClient, body: bytes) -> tuple[str, Charge]:
    """(the phone, the charge) a request's JSON asks for; every wrong field is named at once."""
    try:
        asked = json.loads(body or b"null")
    except ValueError:
        asked = None
    if not isinstance(asked, dict):
        raise Problem(INVALID, "the body must be a JSON object: phone, amount, reference, description")
    errors = []
    phone, amount = asked.get("phone"), asked.get("amount")
    reference, description = asked.get("reference"), asked.get("description")
    try:
        phone = phones.normalize(phone if isinstance(phone, str) else "")
    except phones.PhoneError as error:
        errors.append(field_error("phone", i18n.say("en", error.reason, **error.values)))
    if isinstance(amount, bool) or not isinstance(amount, int) or not 1 <= amount <= MAX_AMOUNT:
        errors.append(field_error("amount", f"a whole number of shillings from 1 to {MAX_AMOUNT}"))
    if not isinstance(reference, str) or not reference or account_reference(reference) != reference:
        errors.append(field_error("reference", "1 to 12 letters and digits (the prompt's account number)"))
    if not isinstance(description, str) or not description or transaction_desc(description) != description:
        errors.append(field_error("description", "1 to 13 letters, digits and spaces"))
    if errors:
        raise Problem(INVALID, "some fields are not right; `errors` says which", errors=errors)
    return phone, Charge(client.id, amount, reference, description)


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is not None and not (0 < len(key) <= LONGEST_IDEMPOTENCY_KEY and key.isprintable()):
        raise Problem(
            INVALID,
            f"an Idempotency-Key is 1 to {LONGEST_IDEMPOTENCY_KEY} printable characters",
            errors=[{"header": "Idempotency-Key", "detail": "1 to 255 printable characters"}],
        )
    return key


@post("/payments", opt={"scope": "payments:write"})
async def create_payment(request: Request, state: State) -> Response:
    """Sends the prompt; the same Idempotency-Key and body within 24 hours answer the same payment."""
    client: ApiClient = request.state.api_client
    phone, charge = _charge(client, await request.body())
    try:
        payment = await state.services.checkout.start(
            tenant_id=client.tenant_id, phone=phone, charge=charge, idempotency_key=_idempotency_key(request)
        )
    except PaymentError as error:
        if error.reason == "too_many_pushes":
            raise Problem(
                TOO_MANY_PUSHES,
                f"{error}; try again in {error.wait_minutes} minutes",
                headers={"Retry-After": str(error.wait_minutes * 60)},
            ) from None
        raise Problem(REFUSALS[error.reason], str(error)) from None
    if payment.state in payments.TOLD:
        state.services.jobs.webhooks.wake()  # the push failed at once: its webhook is queued
    return Response(
        payments.api_view(payment), status_code=201, headers={"Location": f"/api/v1/payments/{payment.id}"}
    )


@get("/payments/{payment_id:int}", opt={"scope": "payments:read"})
async def read_payment(request: Request, state: State, payment_id: FromPath[int]) -> dict[str, Any]:
    client: ApiClient = request.state.api_client
    found = payment_id <= LARGEST_ID
    payment = (
        await state.services.store.read(payments.of_api, client.tenant_id, payment_id) if found else None
    )
    if payment is None:
        raise Problem(NOT_FOUND, f"no payment {payment_id}")
    return payments.api_view(payment)


@get("/payments", opt={"scope": "payments:read"})
async def list_payments(request: Request, state: State) -> dict[str, Any]:
    """Newest first, `limit` at a time (50, at most 100); `next_cursor` fetches the next page."""
    client: ApiClient = request.state.api_client
    query = request.query_params
    errors = []
    asked_state = query.get("state", "")
    if asked_state and asked_state not in STATES:
        errors.append({"parameter": "state", "detail": f"one of {', '.join(STATES)}"})
    since_text = query.get("since", "")
    since = _moment(since_text) if since_text else None
    if since_text and since is None:
        errors.append({"parameter": "since", "detail": "a time with its zone, e.g. 2026-01-05T09:00:00Z"})
    cursor, limit = query.get("cursor", ""), query.get("limit", str(PAGE))
    if cursor and not (is_digits(cursor) and int(cursor) <= LARGEST_ID):
        errors.append({"parameter": "cursor", "detail": "a next_cursor from an earlier page"})
    if not is_digits(limit) or not 1 <= int(limit) <= LONGEST_PAGE:
        errors.append({"parameter": "limit", "detail": f"a whole number from 1 to {LONGEST_PAGE}"})
    if errors:
        raise Problem(INVALID, "some parameters are not right; `errors` says which", errors=errors)
    found = await state.services.store.read(
        payments.api_page,
        client.tenant_id,
        state=asked_state,
        since=since,
        reference=query.get("reference", ""),
        before_id=int(cursor) if cursor else None,
        limit=int(limit) + 1,  # one more tells whether there is a next page
    )
    page = found[: int(limit)]
    more = len(found) > len(page)
    return {
        "data": [payments.api_view(payment) for payment in page],
        "next_cursor": str(page[-1].id) if more else None,
    }


HANDLERS = [create_payment, read_payment, list_payments]
