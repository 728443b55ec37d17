"""The simulator's fidelity to Daraja (reference/daraja.md §13), raw over HTTP, and its fake phone."""

import asyncio
import hashlib
import json

import httpx
import pytest
from litestar import Litestar, Request, Response, post

from portal.mpesa.daraja import OAUTH, STK_PUSH, STK_QUERY, password, timestamp
from portal.sim.daraja import SANDBOX_PASSKEY
from tests.conftest import eventually, serving

PHONE = "254708374149"


class Receiver:
    """Where the simulator's callbacks land in these tests: records each body and headers."""

    def __init__(self, answer: dict | None = None):
        self.received: list[tuple[dict, dict]] = []
        receiver = self

        @post("/{path:path}")
        async def record(request: Request) -> Response:
            receiver.received.append((json.loads(await request.body()), dict(request.headers)))
            return Response(answer or {"ResultCode": 0, "ResultDesc": "Accepted"}, status_code=200)

        self.app = Litestar([record], openapi_config=None, logging_config=None)


async def token(http, base) -> str:
    response = await http.get(
        base + OAUTH,
        params={"grant_type": "client_credentials"},
        auth=("sim-consumer-key", "sim-consumer-secret"),
    )
    return response.json()["access_token"]


def push_body(clock, callback_url="http://127.0.0.1:9/cb/1", **changes) -> dict:
    stamp = timestamp(clock.now())
    body = {
        "BusinessShortCode": 174379,
        "Password": password("174379", SANDBOX_PASSKEY, stamp),
        "Timestamp": stamp,
        "TransactionType": "CustomerPayBillOnline",
        "Amount": 20,
        "PartyA": int(PHONE),
        "PartyB": 174379,
        "PhoneNumber": int(PHONE),
        "CallBackURL": callback_url,
        "AccountReference": "WiFi1234",
        "TransactionDesc": "WiFi access",
    }
    body.update(changes)
    return {key: value for key, value in body.items() if value is not None}


async def api(http, base, path, body, bearer=None, **options) -> httpx.Response:
    bearer = bearer or await token(http, base)
    return await http.post(base + path, headers={"Authorization": f"Bearer {bearer}"}, json=body, **options)


async def test_oauth_answers_like_daraja(daraja, http):
    base = daraja.base_url + OAUTH
    wrong_grant = await http.get(base, params={"grant_type": "password"}, auth=("sim-consumer-key", "x"))
    assert wrong_grant.status_code == 400 and wrong_grant.json()["errorCode"] == "400.008.02"
    no_auth = await http.get(base, params={"grant_type": "client_credentials"})
    assert no_auth.status_code == 400 and no_auth.json()["errorCode"] == "400.008.01"
    wrong_secret = await http.get(
        base, params={"grant_type": "client_credentials"}, auth=("sim-consumer-key", "x")
    )
    assert wrong_secret.status_code == 400 and wrong_secret.content == b""
    ok = await http.get(
        base, params={"grant_type": "client_credentials"}, auth=("sim-consumer-key", "sim-consumer-secret")
    )
    assert ok.status_code == 200
    assert ok.json()["expires_in"] == "3599" and len(ok.json()["access_token"]) == 28


async def test_bad_token_is_a_404_and_unknown_paths_and_methods_get_envelopes(daraja, http, clock):
    refused = await api(http, daraja.base_url, STK_PUSH, push_body(clock), bearer="not-a-token")
    assert refused.status_code == 404
    assert (
        refused.json()["errorCode"] == "404.001.03"
        and refused.json()["errorMessage"] == "Invalid Access Token"
    )
    assert set(refused.json()) == {"requestId", "errorCode", "errorMessage"}
    unknown = await http.post(daraja.base_url + "/mpesa/nothing/v1/here")
    assert unknown.status_code == 404 and unknown.json()["errorCode"] == "404.001.01"
    wrong_method = await http.get(daraja.base_url + STK_PUSH)
    assert wrong_method.status_code == 405 and wrong_method.json()["errorCode"] == "405.001"


async def test_token_expires_on_the_clock_and_a_new_one_replaces_the_old(daraja, http, clock):
    first = await token(http, daraja.base_url)
    second = await token(http, daraja.base_url)
    assert (await api(http, daraja.base_url, STK_QUERY, {}, bearer=first)).status_code == 404
    assert (await api(http, daraja.base_url, STK_QUERY, {}, bearer=second)).status_code == 400
    clock.advance(3600)
    assert (await api(http, daraja.base_url, STK_QUERY, {}, bearer=second)).status_code == 404


async def test_form_encoded_push_is_an_invalid_shortcode(daraja, http):
    bearer = await token(http, daraja.base_url)
    response = await http.post(
        daraja.base_url + STK_PUSH,
        headers={"Authorization": f"Bearer {bearer}"},
        data={"BusinessShortCode": "174379"},
    )
    assert response.status_code == 400
    assert response.json()["errorMessage"] == "Bad Request - Invalid BusinessShortCode"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"Timestamp": "2026-01-05", "Amount": "1.5"}, "Invalid Timestamp"),  # checked in Daraja's order
        ({"TransactionType": "PayBill"}, "Invalid TransactionType"),
        ({"Amount": "1.5"}, "Invalid Amount"),
        ({"Amount": 0}, "Invalid Amount"),
        ({"Amount": 250001}, "Invalid Amount"),
        ({"PartyA": "0708374149"}, "Invalid PartyA"),
        ({"PhoneNumber": 254608374149}, "Invalid PhoneNumber"),
        ({"PartyB": "17"}, "Invalid PartyB"),
        ({"CallBackURL": "https://pay.example.com/mpesa/cb"}, "Invalid CallBackURL"),
        ({"CallBackURL": "https://pay.example.com/a b"}, "Invalid CallBackURL"),
        ({"CallBackURL": "YOUR_CALLBACK_URL"}, "Invalid CallBackURL"),
        ({"AccountReference": None}, "Invalid AccountReference"),
        ({"TransactionDesc": None}, "Invalid Remarks"),
    ],
)
async def test_push_validation_answers_400_with_darajas_words(daraja, http, clock, changes, message):
    response = await api(http, daraja.base_url, STK_PUSH, push_body(clock, **changes))
    assert response.status_code == 400
    assert response.json()["errorCode"] == "400.002.02"
    assert response.json()["errorMessage"] == f"Bad Request - {message}"


async def test_numbers_may_come_as_digit_strings(daraja, http, clock):
    body = push_body(
        clock, BusinessShortCode="174379", Amount="20", PartyA=PHONE, PartyB="174379", PhoneNumber=PHONE
    )
    response = await api(http, daraja.base_url, STK_PUSH, body)
    assert response.status_code == 200


async def test_merchant_and_password_errors_are_500s(daraja, http, clock):
    unknown = await api(http, daraja.base_url, STK_PUSH, push_body(clock, BusinessShortCode=999999))
    assert unknown.status_code == 500 and unknown.json()["errorMessage"] == "Merchant does not exist"
    stale = push_body(clock, Timestamp="20160216165627")  # Password made for another Timestamp
    wrong = await api(http, daraja.base_url, STK_PUSH, stale)
    assert wrong.status_code == 500
    assert wrong.json() | {"requestId": ""} == {
        "requestId": "",
        "errorCode": "500.001.1001",
        "errorMessage": "[MerchantValidate] - Wrong credentials",
    }


async def test_accepted_push_answers_like_daraja_and_locks_the_subscriber(daraja, http, clock):
    accepted = await api(http, daraja.base_url, STK_PUSH, push_body(clock))
    assert accepted.status_code == 200
    body = accepted.json()
    assert (
        body["ResponseCode"] == "0"
        and body["ResponseDescription"] == "Success. Request accepted for processing"
    )
    # ws_CO_ + DDMMYYYYHHmmss (Kenya time) + milliseconds + national number
    assert body["CheckoutRequestID"] == "ws_CO_05012026120000000708374149"
    again = await api(http, daraja.base_url, STK_PUSH, push_body(clock, Amount=50))
    assert again.status_code == 500
    assert again.json()["errorMessage"].startswith("Unable to lock subscriber")


@pytest.mark.parametrize(
    ("style", "status", "expected"),
    [
        ("4999", 200, {"ResultCode": "4999", "ResultDesc": "The transaction is still under processing"}),
        (
            "legacy500",
            500,
            {"errorCode": "500.001.1001", "errorMessage": "The transaction is being processed"},
        ),
    ],
)
async def test_query_while_pending_in_both_styles(daraja, http, clock, style, status, expected):
    daraja.sim.options.pending_style = style
    checkout = (await api(http, daraja.base_url, STK_PUSH, push_body(clock))).json()["CheckoutRequestID"]
    body = push_body(clock) | {"CheckoutRequestID": checkout}
    response = await api(http, daraja.base_url, STK_QUERY, body)
    assert response.status_code == status
    assert response.json().items() >= expected.items()


async def test_query_for_an_unknown_checkout_is_a_500(daraja, http, clock):
    body = push_body(clock) | {"CheckoutRequestID": "ws_CO_00000000000000000700000000"}
    response = await api(http, daraja.base_url, STK_QUERY, body)
    assert response.status_code == 500 and response.json()["errorCode"] == "500.001.1001"


async def test_success_callback_is_typed_like_darajas(daraja, http, clock):
    receiver = Receiver()
    async with serving(receiver.app) as callback_base:
        accepted = await api(
            http, daraja.base_url, STK_PUSH, push_body(clock, callback_url=callback_base + "/cb/1")
        )
        checkout = accepted.json()["CheckoutRequestID"]
        answered = await http.post(
            f"{daraja.base_url}/phone/api/prompts/{checkout}", json={"outcome": "success"}
        )
        assert answered.status_code == 200 and answered.json()["result_code"] == "0"
        await daraja.sim.settle()
    [(body, _)] = receiver.received
    callback = body["Body"]["stkCallback"]
    assert callback["CheckoutRequestID"] == checkout and callback["ResultCode"] == 0
    items = {item["Name"]: item for item in callback["CallbackMetadata"]["Item"]}
    assert items["Amount"]["Value"] == 20
    assert "Value" not in items["Balance"]
    assert items["TransactionDate"]["Value"] == 20260105120000
    assert items["PhoneNumber"]["Value"] == int(PHONE)
    receipt = items["MpesaReceiptNumber"]["Value"]
    assert len(receipt) == 10 and receipt.isalnum() and receipt.isupper()
    query = await api(http, daraja.base_url, STK_QUERY, push_body(clock) | {"CheckoutRequestID": checkout})
    assert query.json()["ResultCode"] == "0" and "MpesaReceiptNumber" not in query.text


async def test_callback_knobs_duplicate_drop_delay_and_source_address(daraja, http, clock):
    receiver = Receiver()
    daraja.sim.options.duplicate_callbacks = 2
    daraja.sim.options.callback_delay = 5
    daraja.sim.options.callback_source_ip = "196.201.214.200"
    async with serving(receiver.app) as callback_base:
        body = push_body(clock, callback_url=callback_base + "/cb/1")
        checkout = (await api(http, daraja.base_url, STK_PUSH, body)).json()["CheckoutRequestID"]
        daraja.sim.answer(checkout, "cancel")
        clock.advance(4)
        assert receiver.received == []
        clock.advance(1)
        await daraja.sim.settle()
        assert len(receiver.received) == 3
        assert {headers["x-forwarded-for"] for _, headers in receiver.received} == {"196.201.214.200"}
        assert receiver.received[0][0]["Body"]["stkCallback"]["ResultCode"] == 1032

        daraja.sim.options.drop_callbacks = True
        body = push_body(
            clock, callback_url=callback_base + "/cb/2", PartyA=254708374150, PhoneNumber=254708374150
        )
        checkout = (await api(http, daraja.base_url, STK_PUSH, body)).json()["CheckoutRequestID"]
        daraja.sim.answer(checkout, "success")
        await daraja.sim.settle()
    assert len(receiver.received) == 3
    deliveries = (await http.get(daraja.base_url + "/__sim/callbacks")).json()
    assert [d["status"] for d in deliveries] == [200, 200, 200, None]
    assert deliveries[-1]["error"] == "dropped"


async def test_prompt_times_out_on_the_clock_with_1037(daraja, http, clock):
    receiver = Receiver()
    async with serving(receiver.app) as callback_base:
        await api(http, daraja.base_url, STK_PUSH, push_body(clock, callback_url=callback_base + "/cb/1"))
        clock.advance(daraja.sim.options.prompt_timeout - 1)
        assert len((await http.get(daraja.base_url + "/phone/api/prompts")).json()) == 1
        clock.advance(1)
        assert (await http.get(daraja.base_url + "/phone/api/prompts")).json() == []
        await daraja.sim.settle()
    [(body, _)] = receiver.received
    assert body["Body"]["stkCallback"]["ResultCode"] == 1037


async def test_query_can_disagree_with_a_paid_callback(daraja, http, clock):
    daraja.sim.options.query_disagrees = True
    checkout = (await api(http, daraja.base_url, STK_PUSH, push_body(clock))).json()["CheckoutRequestID"]
    daraja.sim.answer(checkout, "success")
    query = await api(http, daraja.base_url, STK_QUERY, push_body(clock) | {"CheckoutRequestID": checkout})
    assert query.json()["ResultCode"] == "1032"


async def test_callbacks_to_invalid_hosts_are_never_attempted(daraja, http, clock):
    body = push_body(clock, callback_url="https://no-public-url.invalid/hooks/stk/ab12")
    checkout = (await api(http, daraja.base_url, STK_PUSH, body)).json()["CheckoutRequestID"]
    daraja.sim.answer(checkout, "success")
    await daraja.sim.settle()
    [delivery] = (await http.get(daraja.base_url + "/__sim/callbacks")).json()
    assert delivery["status"] is None and ".invalid" in delivery["error"]


async def test_phone_api_lists_and_answers_prompts(daraja, http, clock):
    checkout = (await api(http, daraja.base_url, STK_PUSH, push_body(clock))).json()["CheckoutRequestID"]
    [prompt] = (await http.get(daraja.base_url + "/phone/api/prompts")).json()
    assert prompt["checkout_request_id"] == checkout and prompt["amount"] == 20 and prompt["phone"] == PHONE
    url = f"{daraja.base_url}/phone/api/prompts/{checkout}"
    assert (await http.post(url, json={"outcome": "maybe"})).status_code == 400
    assert (await http.post(url + "x", json={"outcome": "cancel"})).status_code == 404
    assert (await http.post(url, json={"outcome": "wrong_pin"})).json()["result_code"] == "2001"
    assert (await http.post(url, json={"outcome": "success"})).status_code == 409


async def test_phone_page_shows_the_prompt_and_its_buttons_answer_it(daraja, http, clock):
    checkout = (await api(http, daraja.base_url, STK_PUSH, push_body(clock))).json()["CheckoutRequestID"]
    page = await http.get(daraja.base_url + "/phone")
    assert "Pay <b>KES 20</b> to <b>Demo Cafe</b>" in page.text
    assert not any(part in page.text for part in ("://", "src=", "<link", "<script"))  # self-contained
    assert len(page.content) < 4000
    answered = await http.post(f"{daraja.base_url}/phone/prompts/{checkout}", data={"outcome": "no_funds"})
    assert answered.status_code == 303
    assert daraja.sim.prompts[checkout].outcome == "no_funds"
    assert "No M-Pesa prompt is waiting" in (await http.get(daraja.base_url + "/phone")).text


async def test_injected_faults_stop_requests_before_daraja_acts(daraja, http, clock):
    daraja.sim.fail_next("server_error")
    daraja.sim.fail_next("garbage")
    gateway = await api(http, daraja.base_url, STK_PUSH, push_body(clock))
    assert gateway.status_code == 502 and gateway.headers["content-type"].startswith("text/html")
    garbage = await api(http, daraja.base_url, STK_PUSH, push_body(clock))
    assert garbage.status_code == 200 and not garbage.text.startswith("{")
    assert daraja.sim.prompts == {}


@pytest.mark.parametrize(
    ("version", "shown"), [("v1", hashlib.sha256(PHONE.encode()).hexdigest()), ("v2", "2547 ***** 149")]
)
async def test_c2b_register_and_simulate_confirm_by_http(daraja, http, version, shown):
    receiver = Receiver()
    async with serving(receiver.app) as callback_base:
        registered = await api(
            http,
            daraja.base_url,
            f"/mpesa/c2b/{version}/registerurl",
            {
                "ShortCode": "174379",
                "ResponseType": "Completed",
                "ConfirmationURL": callback_base + "/c2b/confirm",
                "ValidationURL": callback_base + "/c2b/validate",
            },
        )
        assert registered.json()["ResponseCode"] == "0" and "OriginatorCoversationID" in registered.json()
        simulated = await api(
            http,
            daraja.base_url,
            f"/mpesa/c2b/{version}/simulate",
            {
                "ShortCode": 174379,
                "CommandID": "CustomerPayBillOnline",
                "Amount": 50,
                "Msisdn": int(PHONE),
                "BillRefNumber": "wifi 42",
            },
        )
        assert simulated.json()["ResponseDescription"] == "Accept the service request successfully."
        await daraja.sim.settle()
    [(confirmation, _)] = receiver.received
    assert confirmation["TransAmount"] == "50.00" and confirmation["BillRefNumber"] == "wifi 42"
    assert confirmation["MSISDN"] == shown and confirmation["OrgAccountBalance"] == "50.00"
    assert all(isinstance(value, str) for value in confirmation.values())


async def test_c2b_validation_can_refuse_the_payment(daraja, http):
    daraja.sim.options.c2b_validation = True
    receiver = Receiver(answer={"ResultCode": "C2B00012", "ResultDesc": "Rejected"})
    async with serving(receiver.app) as callback_base:
        await api(
            http,
            daraja.base_url,
            "/mpesa/c2b/v2/registerurl",
            {
                "ShortCode": "174379",
                "ResponseType": "Completed",
                "ConfirmationURL": callback_base + "/c2b/confirm",
                "ValidationURL": callback_base + "/c2b/validate",
            },
        )
        await api(
            http,
            daraja.base_url,
            "/mpesa/c2b/v2/simulate",
            {
                "ShortCode": 174379,
                "CommandID": "CustomerPayBillOnline",
                "Amount": 50,
                "Msisdn": int(PHONE),
            },
        )
        await daraja.sim.settle()
    [(validation, _)] = receiver.received
    assert validation["OrgAccountBalance"] == ""


async def test_c2b_urls_with_forbidden_words_are_refused(daraja, http):
    response = await api(
        http,
        daraja.base_url,
        "/mpesa/c2b/v2/registerurl",
        {
            "ShortCode": "174379",
            "ResponseType": "Completed",
            "ConfirmationURL": "https://x.example.com/c2b/confirm",
            "ValidationURL": "https://x.example.com/sql/validate",
        },
    )
    assert (
        response.status_code == 400
        and response.json()["errorMessage"] == "Bad Request - Invalid ValidationURL"
    )


# -- answering as the real service does when it turns a request away (§1, §7.1, §10.5) --


@pytest.mark.parametrize(
    ("fault", "status", "body"),
    [
        ("too_many_requests", 429, b'"errorcode":"policies.ratelimit.SpikeArrestViolation"'),
        ("server_error", 502, b"<html>"),
        ("unavailable", 503, b""),
        ("spike_arrest", 500, b'"errorCode":"500.003.02"'),
    ],
)
async def test_the_gateway_turns_requests_away_before_daraja_acts(daraja, http, clock, fault, status, body):
    daraja.sim.fail_next(fault)
    turned_away = await api(http, daraja.base_url, STK_PUSH, push_body(clock))
    assert turned_away.status_code == status
    assert body in turned_away.content.replace(b" ", b"") if body else turned_away.content == b""
    assert daraja.sim.prompts == {}
    assert (await api(http, daraja.base_url, STK_PUSH, push_body(clock))).status_code == 200  # once only


async def test_a_gateway_timeout_comes_after_daraja_acted(daraja, http, clock):
    daraja.sim.fail_next("gateway_timeout")
    timed_out = await api(http, daraja.base_url, STK_PUSH, push_body(clock))
    assert timed_out.status_code == 504 and "GatewayTimeout" in timed_out.text
    assert len(daraja.sim.pending_prompts()) == 1  # the prompt rings all the same


def registration(host: str) -> dict:
    return {
        "ShortCode": "174379",
        "ResponseType": "Completed",
        "ConfirmationURL": f"https://{host}/c2b/confirm",
        "ValidationURL": f"https://{host}/c2b/validate",
    }


@pytest.mark.parametrize(
    ("shape", "status", "answer"),
    [
        ("allowed", 200, {"ResponseCode": "0", "ResponseDescription": "Success"}),
        ("refused", 500, {"errorCode": "500.003.1001", "errorMessage": "Urls are already registered"}),
        (
            "described",
            200,
            {"ResponseDescription": "Validation and Confirmation URLs are already registered"},
        ),
    ],
)
async def test_registering_c2b_urls_again_answers_as_the_sandbox_or_production_does(
    daraja, http, shape, status, answer
):
    daraja.sim.options.c2b_reregistration = shape
    assert (
        await api(http, daraja.base_url, "/mpesa/c2b/v2/registerurl", registration("a.example.com"))
    ).json()["ResponseCode"] == "0"
    again = await api(http, daraja.base_url, "/mpesa/c2b/v2/registerurl", registration("b.example.com"))
    assert again.status_code == status and again.json().items() >= answer.items()
    assert "ResponseCode" not in again.json() or shape == "allowed"
    kept = "b.example.com" if shape == "allowed" else "a.example.com"
    assert daraja.sim.c2b_urls["174379"]["ConfirmationURL"] == f"https://{kept}/c2b/confirm"


async def test_a_slow_daraja_answers_a_query_when_its_latency_has_passed_on_the_clock(daraja, http, clock):
    daraja.sim.options.query_latency = 8
    checkout = (await api(http, daraja.base_url, STK_PUSH, push_body(clock))).json()["CheckoutRequestID"]
    bearer = await token(http, daraja.base_url)
    query = asyncio.create_task(
        api(http, daraja.base_url, STK_QUERY, push_body(clock) | {"CheckoutRequestID": checkout}, bearer)
    )

    async def arrived() -> bool:
        return daraja.sim.requests.get(STK_QUERY) == 1

    await eventually(arrived)
    daraja.sim.answer(checkout, "success")  # while the query waits: it tells what is true when it answers
    assert not query.done()
    clock.advance(8)
    assert (await query).json()["ResultCode"] == "0"


async def test_a_number_m_pesa_does_not_know_is_an_invalid_phone_number(daraja, http, clock):
    daraja.sim.options.not_on_mpesa = {PHONE}
    refused = await api(http, daraja.base_url, STK_PUSH, push_body(clock))
    assert (
        refused.status_code == 400 and refused.json()["errorMessage"] == "Bad Request - Invalid PhoneNumber"
    )
