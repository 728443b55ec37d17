"""`/api/v1/payments`: an M-Pesa prompt for another program's sale, and following it.

A payment starts through the splash's own checkout (billing/checkout.py) as a `Charge`: the same phone
rules, limits on prompts, states, callbacks and queries; it buys no package, so nothing is switched on
when it is paid. The prompt shows the reference and description as asked, or the request is refused:
M-Pesa would otherwise shorten them silently.
"""

from typing import Annotated, Literal

import msgspec
from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, HeaderParameter, JSONBody, KwargDefinition, QueryParameter

from ... import i18n, phones
from ...billing import payments
from ...billing.checkout import Charge, PaymentError
from ...billing.payments import STATES, ApiPayment
from ...mpesa.daraja import MAX_AMOUNT, account_reference, transaction_desc
from ...tenancy.api_clients import ApiClient
from .problems import (
    IDEMPOTENCY_CONFLICT,
    INVALID,
    NO_ACCOUNT,
    NOT_FOUND,
    PHONE_BUSY,
    PROMPTS_SPENT,
    TOO_MANY_PUSHES,
    FieldError,
    Problem,
    documented,
    field_error,
    invalid,
)
from .resources import (
    LIST_WORDS,
    LOCATION,
    PAGE,
    Cursor,
    Limit,
    NextCursor,
    Since,
    of_business,
    page,
    with_zone,
)

LONGEST_IDEMPOTENCY_KEY = 255
REFUSALS = {"idempotency_conflict": IDEMPOTENCY_CONFLICT, "phone_busy": PHONE_BUSY, "no_account": NO_ACCOUNT}
ACCOUNT_REFUSALS = ("account_needed", "no_such_account")
# What each field must be: the OpenAPI document's description, and the error when it is not.
CHARGE_WORDS = {
    "phone": "a Safaricom number, as people type it: 0712 345 678, 0112 345 678, +254 712 345 678",
    "amount": f"a whole number of shillings from 1 to {MAX_AMOUNT}",
    "reference": "1 to 12 letters and digits (the prompt's account number)",
    "description": "1 to 13 letters, digits and spaces",
    "account": "the name of the business's M-Pesa account to be paid into; needed when it has several",
}
PAYMENTS_WORDS = LIST_WORDS | {
    "state": f"one of {', '.join(STATES)}",
    "reference": "those with this reference",
}
IDEMPOTENCY_WORDS = (
    f"1 to {LONGEST_IDEMPOTENCY_KEY} printable characters: the same key and body within 24 hours answer"
    " the same payment, without a second prompt"
)


class PaymentRequest(msgspec.Struct, frozen=True):
    """An M-Pesa prompt to send. Its value limits are the handler's to check, so that every wrong
    field is named at once (msgspec's own would stop at the first); the OpenAPI document shows them."""

    phone: Annotated[str, KwargDefinition(description=CHARGE_WORDS["phone"])]
    amount: Annotated[int, KwargDefinition(description=CHARGE_WORDS["amount"], ge=1, le=MAX_AMOUNT)]
    reference: Annotated[
        str, KwargDefinition(description=CHARGE_WORDS["reference"], pattern="^[A-Za-z0-9]{1,12}$")
    ]
    description: Annotated[
        str, KwargDefinition(description=CHARGE_WORDS["description"], pattern="^[A-Za-z0-9 ]{1,13}$")
    ]
    account: Annotated[str | None, KwargDefinition(description=CHARGE_WORDS["account"])] = None


class PaymentPage(msgspec.Struct, frozen=True):
    data: list[ApiPayment]
    next_cursor: NextCursor


def _charge(client: ApiClient, asked: PaymentRequest) -> tuple[str, Charge]:
    """(the phone, the charge) a request asks for; every wrong field is named at once."""
    errors = []
    try:
        phone = phones.normalize(asked.phone)
    except phones.PhoneError as error:
        errors.append(field_error("phone", i18n.say("en", error.reason, **error.values)))
    if not 1 <= asked.amount <= MAX_AMOUNT:
        errors.append(field_error("amount", CHARGE_WORDS["amount"]))
    if not asked.reference or account_reference(asked.reference) != asked.reference:
        errors.append(field_error("reference", CHARGE_WORDS["reference"]))
    if not asked.description or transaction_desc(asked.description) != asked.description:
        errors.append(field_error("description", CHARGE_WORDS["description"]))
    if errors:
        raise invalid(errors)
    return phone, Charge(client.id, asked.amount, asked.reference, asked.description, asked.account)


def _idempotency_key(key: str | None) -> str | None:
    if key is not None and not (0 < len(key) <= LONGEST_IDEMPOTENCY_KEY and key.isprintable()):
        raise Problem(
            INVALID,
            f"an Idempotency-Key is 1 to {LONGEST_IDEMPOTENCY_KEY} printable characters",
            errors=[FieldError(header="Idempotency-Key", detail=IDEMPOTENCY_WORDS)],
        )
    return key


@post(
    "/payments",
    summary="Send an M-Pesa prompt",
    opt={"scope": "payments:write", "words": CHARGE_WORDS},
    responses=documented(
        INVALID, IDEMPOTENCY_CONFLICT, PHONE_BUSY, NO_ACCOUNT, TOO_MANY_PUSHES, PROMPTS_SPENT
    ),
    response_headers=[LOCATION],
)
async def create_payment(
    request: Request,
    state: State,
    data: JSONBody[PaymentRequest],
    idempotency_key: Annotated[
        str | None, HeaderParameter(name="Idempotency-Key", description=IDEMPOTENCY_WORDS)
    ] = None,
) -> Response[ApiPayment]:
    """Sends the prompt; the same Idempotency-Key and body within 24 hours answer the same payment."""
    client: ApiClient = request.state.api_client
    phone, charge = _charge(client, data)
    try:
        payment = await state.services.checkout.start(
            tenant_id=client.tenant_id,
            phone=phone,
            charge=charge,
            idempotency_key=_idempotency_key(idempotency_key),
        )
    except PaymentError as error:
        if error.reason == "too_many_pushes":
            raise Problem(
                TOO_MANY_PUSHES,
                f"{error}; try again in {error.wait_minutes} minutes",
                headers={"Retry-After": str(error.wait_minutes * 60)},
            ) from None
        if error.reason in ACCOUNT_REFUSALS:
            raise invalid([field_error("account", str(error))]) from None
        raise Problem(REFUSALS[error.reason], str(error)) from None
    if payment.state in payments.TOLD:
        state.services.jobs.webhooks.wake()  # the push failed at once: its webhook is queued
    return Response(
        payments.api_view(payment), status_code=201, headers={"Location": f"/api/v1/payments/{payment.id}"}
    )


@get(
    "/payments/{payment_id:int}",
    summary="Read a payment",
    opt={"scope": "payments:read"},
    responses=documented(NOT_FOUND),
)
async def read_payment(request: Request, state: State, payment_id: FromPath[int]) -> ApiPayment:
    client: ApiClient = request.state.api_client
    return payments.api_view(
        await of_business(state, payments.of_api, client.tenant_id, payment_id, "payment")
    )


@post(
    "/payments/{payment_id:int}/refresh",
    summary="Ask M-Pesa about a payment now",
    status_code=200,
    opt={"scope": "payments:write"},
    responses=documented(NOT_FOUND),
)
async def refresh_payment(request: Request, state: State, payment_id: FromPath[int]) -> ApiPayment:
    """Asks M-Pesa about the payment now, as the box asks about every open payment in turn, and answers
    it as it then stands. A payment whose outcome is final, or that was asked about in the last five
    seconds, is answered at once without asking. It takes payments:write: each call costs a query of the
    business's M-Pesa account, which Daraja limits."""
    client: ApiClient = request.state.api_client
    payment = await of_business(state, payments.of_api, client.tenant_id, payment_id, "payment")
    await state.services.confirmation.ask_now(payment)
    return payments.api_view(await state.services.store.read(payments.get, payment.id))


@get(
    "/payments",
    summary="List payments",
    opt={"scope": "payments:read", "words": PAYMENTS_WORDS},
    responses=documented(INVALID),
)
async def list_payments(
    request: Request,
    state: State,
    asked_state: Annotated[
        Literal[STATES] | None, QueryParameter(name="state", description=PAYMENTS_WORDS["state"])
    ] = None,
    since: Since = None,
    reference: Annotated[str | None, QueryParameter(description=PAYMENTS_WORDS["reference"])] = None,
    cursor: Cursor = None,
    limit: Limit = PAGE,
) -> PaymentPage:
    """Newest first, `limit` at a time (50, at most 100); `next_cursor` fetches the next page."""
    client: ApiClient = request.state.api_client
    found = await state.services.store.read(
        payments.api_page,
        client.tenant_id,
        state=asked_state or "",
        since=with_zone(since),
        reference=reference or "",
        before_id=cursor,
        limit=limit + 1,  # one more tells whether there is a next page
    )
    shown, next_cursor = page(found, limit)
    return PaymentPage([payments.api_view(payment) for payment in shown], next_cursor)


HANDLERS = [create_payment, read_payment, refresh_payment, list_payments]
