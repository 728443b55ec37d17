"""Daraja's API as the simulator answers it: OAuth, STK push and query, C2B URL registration and the
sandbox's C2B simulate (reference/daraja.md §13.2)."""

import base64
import hashlib
import secrets
import string
from datetime import timedelta

from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath

from ...mpesa.daraja import KENYA, MAX_AMOUNT
from .protocol import (
    digits,
    error,
    gatekeeper,
    invalid,
    is_timestamp,
    json_object,
    merchant_refused,
    ok,
    respond,
    simulator_of,
    url_problem,
)
from .simulator import MSISDN, OUTCOMES, QUERY_DESCS, TOKEN_TTL, Prompt, new_receipt, new_request_id


@get("/oauth/v1/generate")
async def oauth(state: State, request: Request) -> Response:
    sim = simulator_of(state)
    sim.requests[request.url.path] = sim.requests.get(request.url.path, 0) + 1
    if request.query_params.get("grant_type") != "client_credentials":
        return error(400, "400.008.02", "Invalid grant type passed")
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return error(400, "400.008.01", "Invalid authentication type passed")
    try:
        key, _, secret = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        key, secret = "", ""
    if not key or sim.consumers.get(key) != secret:
        return Response(b"", status_code=400, media_type="application/json")  # observed: empty body (§2)
    # Each new token invalidates the consumer's previous one (Daraja FAQ, §2).
    sim.tokens = {token: entry for token, entry in sim.tokens.items() if entry[0] != key}
    token = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(28))
    sim.tokens[token] = (key, sim.clock.now() + TOKEN_TTL)
    expires_in = int(TOKEN_TTL.total_seconds()) - 1
    shown = expires_in if sim.options.expires_in_as_number else str(expires_in)
    return Response({"access_token": token, "expires_in": shown}, status_code=200)


@post("/mpesa/stkpush/v1/processrequest")
async def stk_push(state: State, request: Request) -> Response:
    sim = simulator_of(state)
    if stopped := gatekeeper(sim, request):
        return stopped
    body = await json_object(request)
    # Daraja's order of checks (§13.2.3); a form-encoded body fails the first.
    if body is None or (shortcode := digits(body.get("BusinessShortCode"))) is None:
        return invalid("BusinessShortCode")
    if not is_timestamp(body.get("Timestamp")):
        return invalid("Timestamp")
    kind = body.get("TransactionType")
    if kind not in {"CustomerPayBillOnline", "CustomerBuyGoodsOnline"}:
        return invalid("TransactionType")
    amount = digits(body.get("Amount"))
    if amount is None or not 1 <= int(amount) <= MAX_AMOUNT:
        return invalid("Amount")
    for name in ("PartyA", "PhoneNumber"):
        if not MSISDN.match(digits(body.get(name)) or ""):
            return invalid(name)
    if digits(body.get("PhoneNumber")) in sim.options.not_on_mpesa:
        return invalid("PhoneNumber")
    party_b = digits(body.get("PartyB"))
    if party_b is None or not 5 <= len(party_b) <= 7:
        return invalid("PartyB")
    if url_problem(body.get("CallBackURL")):
        return invalid("CallBackURL")
    if not body.get("AccountReference"):
        return invalid("AccountReference")
    if not str(body.get("TransactionDesc") or "").strip():
        return invalid("Remarks")
    merchant = sim.merchants.get(shortcode)
    if refused := merchant_refused(merchant, shortcode, body):
        return refused
    phone = digits(body["PhoneNumber"]) or ""
    if any(prompt.phone == phone for prompt in sim.pending_prompts()):
        return error(500, "500.001.1001", OUTCOMES["locked"][1].rstrip("."))
    prompt = Prompt(
        checkout_request_id=sim.new_checkout_request_id(phone),
        merchant_request_id=new_request_id(),
        shortcode=shortcode,
        merchant=merchant.name,
        phone=phone,
        amount=int(amount),
        account_reference=str(body["AccountReference"]),
        callback_url=body["CallBackURL"],
        expires_at=sim.clock.now() + timedelta(seconds=sim.options.prompt_timeout),
    )
    permitted = (kind == "CustomerPayBillOnline") == (merchant.kind == "paybill") and (
        party_b == shortcode if merchant.kind == "paybill" else party_b in merchant.tills
    )
    sim.open_prompt(prompt, permitted)
    accepted = "Success. Request accepted for processing"
    return await respond(
        sim,
        ok(
            {
                "MerchantRequestID": prompt.merchant_request_id,
                "CheckoutRequestID": prompt.checkout_request_id,
                "ResponseCode": "0",
                "ResponseDescription": accepted,
                "CustomerMessage": accepted,
            }
        ),
    )


@post("/mpesa/stkpushquery/v1/query")
async def stk_query(state: State, request: Request) -> Response:
    sim = simulator_of(state)
    if stopped := gatekeeper(sim, request):
        return stopped
    body = await json_object(request)
    if body is None or (shortcode := digits(body.get("BusinessShortCode"))) is None:
        return invalid("BusinessShortCode")
    merchant = sim.merchants.get(shortcode)
    if refused := merchant_refused(merchant, shortcode, body):
        return refused
    if sim.options.query_latency:
        await sim.clock.sleep(sim.options.query_latency)
    sim.pending_prompts()  # time out what is overdue, so the answer matches the clock
    checkout = str(body.get("CheckoutRequestID", ""))
    prompt = sim.prompts.get(checkout)
    if prompt is None or prompt.shortcode != shortcode:
        return error(500, "500.001.1001", "This transaction does not exist")
    if prompt.outcome is None and sim.options.pending_style == "legacy500":
        return await respond(sim, error(500, "500.001.1001", "The transaction is being processed", checkout))
    if prompt.outcome is None:
        code, desc = "4999", "The transaction is still under processing"
    elif prompt.outcome == "success" and sim.options.query_disagrees:
        code, desc = "1032", QUERY_DESCS["cancel"]
    else:
        code = str(OUTCOMES[prompt.outcome][0])
        desc = QUERY_DESCS.get(prompt.outcome, OUTCOMES[prompt.outcome][1])
    return await respond(
        sim,
        ok(
            {
                "ResponseCode": "0",
                "ResponseDescription": "The service request has been accepted successsfully",  # sic (§5.1)
                "MerchantRequestID": prompt.merchant_request_id,
                "CheckoutRequestID": prompt.checkout_request_id,
                "ResultCode": code,
                "ResultDesc": desc,
            }
        ),
    )


@post("/mpesa/c2b/{version:str}/registerurl")
async def c2b_register(state: State, request: Request, version: FromPath[str]) -> Response:
    sim = simulator_of(state)
    if version not in {"v1", "v2"}:
        return error(404, "404.001.01", "Resource not found")
    if stopped := gatekeeper(sim, request):
        return stopped
    body = await json_object(request)
    if body is None or (shortcode := digits(body.get("ShortCode"))) is None or shortcode not in sim.merchants:
        return invalid("ShortCode")
    if body.get("ResponseType") not in {"Completed", "Cancelled"}:
        return invalid("ResponseType")
    for name in ("ConfirmationURL", "ValidationURL"):
        if url_problem(body.get(name)):
            return invalid(name)
    again = sim.options.c2b_reregistration
    if shortcode in sim.c2b_urls and again == "refused":
        return error(500, "500.003.1001", "Urls are already registered")
    if shortcode in sim.c2b_urls and again == "described":
        return ok(
            {
                "OriginatorCoversationID": new_request_id(),
                "ResponseDescription": "Validation and Confirmation URLs are already registered",
            }
        )
    sim.c2b_urls[shortcode] = {**body, "version": version}
    return await respond(
        sim,
        ok(
            {
                "OriginatorCoversationID": new_request_id(),  # sic: Daraja's spelling (§7.1)
                "ResponseCode": "0",
                "ResponseDescription": "Success",
            }
        ),
    )


@post("/mpesa/c2b/{version:str}/simulate")
async def c2b_simulate(state: State, request: Request, version: FromPath[str]) -> Response:
    sim = simulator_of(state)
    if version not in {"v1", "v2"}:
        return error(404, "404.001.01", "Resource not found")
    if stopped := gatekeeper(sim, request):
        return stopped
    body = await json_object(request)
    if body is None or (shortcode := digits(body.get("ShortCode"))) is None or shortcode not in sim.c2b_urls:
        return invalid("ShortCode")
    command = body.get("CommandID")
    if command not in {"CustomerPayBillOnline", "CustomerBuyGoodsOnline"}:
        return invalid("CommandID")
    amount = digits(body.get("Amount"))
    if amount is None or not 1 <= int(amount) <= MAX_AMOUNT:
        return invalid("Amount")
    msisdn = digits(body.get("Msisdn")) or ""
    if not MSISDN.match(msisdn):
        return invalid("Msisdn")
    # The payer's number never reaches the business: v1 sends a hash, v2 a mask (§7.3).
    shown = (
        hashlib.sha256(msisdn.encode()).hexdigest()
        if version == "v1"
        else f"{msisdn[:4]} ***** {msisdn[-3:]}"
    )
    payment = {
        "TransactionType": "Pay Bill" if command == "CustomerPayBillOnline" else "Buy Goods",
        "TransID": new_receipt(),
        "TransTime": f"{sim.clock.now().astimezone(KENYA):%Y%m%d%H%M%S}",
        "TransAmount": f"{int(amount)}.00",
        "BusinessShortCode": shortcode,
        "BillRefNumber": str(body.get("BillRefNumber") or "") if command == "CustomerPayBillOnline" else "",
        "InvoiceNumber": "",
        "OrgAccountBalance": "",
        "ThirdPartyTransID": "",
        "MSISDN": shown,
        "FirstName": "JOHN",
        "MiddleName": "",
        "LastName": "DOE",
    }
    sim.pay_by_hand(sim.c2b_urls[shortcode], payment)
    return await respond(
        sim,
        ok(
            {
                "OriginatorCoversationID": new_request_id(),
                "ResponseCode": "0",
                "ResponseDescription": "Accept the service request successfully.",
            }
        ),
    )


HANDLERS = [oauth, stk_push, stk_query, c2b_register, c2b_simulate]
