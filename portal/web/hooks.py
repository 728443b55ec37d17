"""`/hooks/…`: what Daraja posts to us.

Daraja signs nothing (reference/daraja.md §10): a callback is believed only because its URL carries a
per-payment secret, its CheckoutRequestID and amount match the payment, and (optionally) it comes from
Safaricom's addresses. It is answered at once and never with a 500: Daraja doesn't retry, and whatever
goes wrong here, the STK query still settles the payment.
"""

import logging
import re

from litestar import Request, Response, post
from litestar.datastructures import State
from litestar.params import FromPath

from .. import payments
from ..mpesa.callbacks import CallbackError, parse_stk_callback
from .addresses import client_address, within

log = logging.getLogger(__name__)

ACCEPTED = {"ResultCode": 0, "ResultDesc": "Accepted"}
TOKEN = re.compile(r"^[0-9a-f]{32}$")  # vault.new_token(): anything else can't be one of ours


def _refusal(status: int, reason: str) -> Response:
    return Response({"ResultCode": 1, "ResultDesc": reason}, status_code=status)


@post("/hooks/stk/{token:str}")
async def stk_callback(request: Request, state: State, token: FromPath[str]) -> Response:
    services = state.services
    settings = services.settings
    source = client_address(request, settings.server.trusted_proxies)
    payment = await payments.payment_by_callback_token(services.db, token) if TOKEN.match(token) else None
    if payment is None:
        log.warning("STK callback for no payment", extra={"fields": {"source": source}})
        return _refusal(404, "Unknown")
    try:
        result = parse_stk_callback(await request.body())
    except CallbackError as error:
        log.warning(
            "unreadable STK callback",
            extra={"fields": {"payment": payment.ref, "source": source, "reason": str(error)}},
        )
        return _refusal(400, str(error))
    refuse = ""
    if not within(source, settings.mpesa.callback_allowlist):
        log.warning(
            "STK callback from outside the allow-list",
            extra={"fields": {"payment": payment.ref, "source": source}},
        )
        if settings.mpesa.enforce_allowlist:
            refuse = "source not in the allow-list"
    try:
        await payments.record_callback(services, token, result, source=source, refuse=refuse)
    except Exception:
        # Nothing Daraja can do about it and the poller will settle the payment: log, don't 500.
        log.exception("STK callback not recorded", extra={"fields": {"payment": payment.ref}})
    return _refusal(403, "Forbidden") if refuse else Response(ACCEPTED, status_code=200)


HANDLERS = [stk_callback]
