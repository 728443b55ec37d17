"""`/hooks/…`: what Daraja posts to us: STK results, C2B payments, Transaction Status answers.

Daraja signs nothing (reference/daraja.md §10): a callback is believed only because its URL carries a
secret token, its contents match what we expect, and (optionally) it comes from Safaricom's addresses.
It is answered at once and never with a 500: Daraja doesn't retry, and whatever goes wrong here, the STK
query still settles the payment (and a receipt can be asked about again).
"""

import logging
import re

from litestar import Request, Response, post
from litestar.datastructures import State
from litestar.params import FromPath

from ..billing import c2b, payments, receipt_checks
from ..mpesa import accounts
from ..mpesa.callbacks import CallbackError, parse_c2b, parse_status_result, parse_stk_callback
from .addresses import client_address, within

log = logging.getLogger(__name__)

TOKEN = re.compile(r"^[0-9a-f]{32}$")  # vault.new_token(): anything else can't be one of ours


def _answer(code: int | str, desc: str, status: int = 200) -> Response:
    return Response({"ResultCode": code, "ResultDesc": desc}, status_code=status)


def _source(request: Request, settings, subject: str) -> tuple[str, str]:
    """The sender's address, and why it is refused ('' if it isn't)."""
    source = client_address(request, settings.server.trusted_proxies)
    return source, _refusal(settings, source, subject)


def _refusal(settings, source: str, subject: str) -> str:
    """Why a callback from `source` is refused ('' if it isn't); one from outside the allow-list is
    logged, refused or not."""
    if within(source, settings.mpesa.callback_allowlist):
        return ""
    log.warning("callback from outside the allow-list", extra={"fields": {"for": subject, "source": source}})
    return "source not in the allow-list" if settings.mpesa.enforce_allowlist else ""


@post("/hooks/stk/{token:str}")
async def stk_callback(request: Request, state: State, token: FromPath[str]) -> Response:
    """A usual callback costs one transaction and nothing else: the write finds the payment by its
    token. The payment is read apart only where a log line names it (a sender outside the allow-list,
    a body that can't be read), which a busy hour of real callbacks never takes."""
    services = state.services
    settings = services.settings
    source = client_address(request, settings.server.trusted_proxies)
    known = TOKEN.match(token) is not None
    refuse = ""
    if not known or not within(source, settings.mpesa.callback_allowlist):
        payment = await services.store.read(payments.by_callback_token, token) if known else None
        refuse = _refusal(settings, source, payment.ref if payment else "unknown payment")
        if payment is None:
            return _no_payment(source)
    try:
        result = parse_stk_callback(await request.body())
    except CallbackError as error:
        payment = await services.store.read(payments.by_callback_token, token)
        if payment is None:
            return _no_payment(source)
        fields = {"payment": payment.ref, "source": source, "reason": str(error)}
        log.warning("unreadable STK callback", extra={"fields": fields})
        return _answer(1, str(error), 400)
    try:
        effect = await services.confirmation.record_callback(token, result, source=source, refuse=refuse)
    except Exception:
        # Nothing Daraja can do about it, and the poller will settle the payment: log it, don't 500.
        # The CheckoutRequestID names the payment (the token in the URL is a secret, never logged).
        fields = {"checkout_request_id": result.checkout_request_id, "source": source}
        log.exception("STK callback not recorded", extra={"fields": fields})
    else:
        if effect is None:
            return _no_payment(source)
    return _answer(1, "Forbidden", 403) if refuse else _answer(0, "Accepted")


def _no_payment(source: str) -> Response:
    log.warning("STK callback for no payment", extra={"fields": {"source": source}})
    return _answer(1, "Unknown", 404)


@post("/hooks/c2b/{token:str}/validation")
async def c2b_validation(request: Request, state: State, token: FromPath[str]) -> Response:
    """Daraja asks before taking the money (only if validation was enabled for the shortcode)."""
    services = state.services
    account = await services.store.read(accounts.by_c2b_token, token) if TOKEN.match(token) else None
    _, refuse = _source(request, services.settings, f"account {account.id}" if account else "unknown")
    if account is None:
        return _answer("C2B00015", "Rejected", 404)  # Invalid Shortcode
    if refuse:
        return _answer("C2B00016", "Rejected", 403)
    try:
        parse_c2b(await request.body())
    except CallbackError as error:
        log.warning(
            "unreadable C2B validation", extra={"fields": {"account": account.id, "reason": str(error)}}
        )
        # A refusal in Daraja's terms: the payer keeps the money rather than paying for nothing.
        return _answer("C2B00016", "Rejected")
    return _answer("0", "Accepted")


@post("/hooks/c2b/{token:str}/confirmation")
async def c2b_confirmation(request: Request, state: State, token: FromPath[str]) -> Response:
    """The money has moved. Daraja never retries a confirmation, so it is stored before answering."""
    services = state.services
    account = await services.store.read(accounts.by_c2b_token, token) if TOKEN.match(token) else None
    source, refuse = _source(request, services.settings, f"account {account.id}" if account else "unknown")
    if account is None:
        return _answer(1, "Unknown", 404)
    if refuse:
        return _answer(1, "Forbidden", 403)
    try:
        payment = parse_c2b(await request.body())
    except CallbackError as error:
        log.error(
            "unreadable C2B confirmation", extra={"fields": {"account": account.id, "reason": str(error)}}
        )
        return _answer(1, str(error), 400)
    new = await services.store.write(
        c2b.record, services.clock, account_id=account.id, tenant_id=account.tenant_id, payment=payment
    )
    fields = {"account": account.id, "receipt": payment.trans_id, "amount": payment.amount, "source": source}
    log.info("C2B payment received" if new else "C2B payment received again", extra={"fields": fields})
    return _answer(0, "Success")


@post("/hooks/status/{token:str}/{outcome:str}")
async def status_result(
    request: Request, state: State, token: FromPath[str], outcome: FromPath[str]
) -> Response:
    """M-Pesa's answer about a receipt (`result`), or its queue giving up on the question (`timeout`)."""
    services = state.services
    known = outcome in ("result", "timeout") and TOKEN.match(token)
    check = await services.store.read(receipt_checks.by_token, token) if known else None
    source, refuse = _source(request, services.settings, f"receipt check {check.id}" if check else "unknown")
    if check is None:
        return _answer(1, "Unknown", 404)
    if refuse:
        return _answer(1, "Forbidden", 403)
    try:
        if outcome == "timeout":
            await services.receipt_checks.record_timeout(token, source=source)
            return _answer(0, "Accepted")
        result = parse_status_result(await request.body())
        effect = await services.receipt_checks.record_result(token, result, source=source)
    except CallbackError as error:
        log.warning(
            "unreadable Transaction Status result",
            extra={"fields": {"check": check.id, "reason": str(error)}},
        )
        return _answer(1, str(error), 400)
    except Exception:
        # Nothing M-Pesa can do about it; the receipt can be asked about again: log it, don't 500.
        log.exception("Transaction Status result not recorded", extra={"fields": {"check": check.id}})
        return _answer(0, "Accepted")
    log.info("Transaction Status answered", extra={"fields": {"check": check.id, "effect": effect}})
    return _answer(0, "Accepted")


HANDLERS = [stk_callback, c2b_validation, c2b_confirmation, status_result]
