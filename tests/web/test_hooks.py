"""`/hooks/stk/{token}` over real HTTP, fed by the Daraja simulator and by hand-made (forged) bodies."""

import json
import logging
from dataclasses import replace
from ipaddress import ip_network

import pytest

from portal.billing import payments
from tests.conftest import running_portal, seed_shop

ACCEPTED = {"ResultCode": 0, "ResultDesc": "Accepted"}


async def pending_payment(portal, daraja, vault, clock):
    shop = await portal.services.store.write(seed_shop, vault, clock, daraja.base_url)
    payment = await portal.services.checkout.start(
        tenant_id=shop.tenant_id, package_id=shop.package_id, phone="0708374149"
    )
    return payment, await callback_url(portal, payment)


async def callback_url(portal, payment) -> str:
    token = await portal.services.store.read(payments.callback_token, payment.id)
    return f"{portal.base_url}/hooks/stk/{token}"


def success(payment, amount=20, checkout=None, receipt="TJ3MX6CLYC") -> dict:
    return {
        "Body": {
            "stkCallback": {
                "MerchantRequestID": payment.merchant_request_id,
                "CheckoutRequestID": checkout or payment.checkout_request_id,
                "ResultCode": 0,
                "ResultDesc": "The service request is processed successfully.",
                "CallbackMetadata": {
                    "Item": [
                        {"Name": "Amount", "Value": amount},
                        {"Name": "MpesaReceiptNumber", "Value": receipt},
                        {"Name": "Balance"},
                        {"Name": "TransactionDate", "Value": 20260105120031},
                        {"Name": "PhoneNumber", "Value": 254708374149},
                    ]
                },
            }
        }
    }


async def state_of(portal, payment):
    return (await portal.services.store.read(payments.by_ref, payment.ref)).state


async def callback_events(portal, payment):
    events = await portal.services.store.read(payments.timeline, payment.id)
    return [event for event in events if event.kind == "callback"]


async def test_a_good_callback_is_answered_accepted_and_pays(portal, daraja, vault, clock, http):
    payment, url = await pending_payment(portal, daraja, vault, clock)
    response = await http.post(url, json=success(payment))
    assert response.status_code == 200 and response.json() == ACCEPTED
    assert await state_of(portal, payment) == "paid"
    [event] = await callback_events(portal, payment)
    assert event.source == "127.0.0.1" and event.at == clock.now()
    assert event.detail["effect"] == "paid" and event.detail["receipt"] == "TJ3MX6CLYC"


@pytest.mark.parametrize("token", ["0" * 32, "not-a-token", "A" * 32])
async def test_unknown_token_is_a_404(portal, http, token):
    response = await http.post(f"{portal.base_url}/hooks/stk/{token}", json={"Body": {}})
    assert response.status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"[]",
        b'{"Body": 1}',
        b'{"Body": {"stkCallback": {"ResultCode": 0}}}',
        b'{"Body": {"stkCallback": {"CheckoutRequestID": "ws_CO_1", "ResultCode": [0]}}}',
        b'{"Body": {"stkCallback": {"CheckoutRequestID": "1", "ResultCode": 0, "CallbackMetadata": [1]}}}',
        "\u00ff".encode("latin-1"),
    ],
)
async def test_unreadable_bodies_are_a_400_with_the_reason_logged(
    portal, daraja, vault, clock, http, caplog, body
):
    payment, url = await pending_payment(portal, daraja, vault, clock)
    with caplog.at_level(logging.WARNING, logger="portal.web.hooks"):
        response = await http.post(url, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["ResultDesc"]
    [record] = [r for r in caplog.records if r.getMessage() == "unreadable STK callback"]
    assert (
        record.fields["reason"] == response.json()["ResultDesc"] and record.fields["payment"] == payment.ref
    )
    assert await state_of(portal, payment) == "pending"


async def test_a_checkout_id_that_is_not_this_payments_is_suspicious_and_pays_nothing(
    portal, daraja, vault, clock, http
):
    payment, url = await pending_payment(portal, daraja, vault, clock)
    response = await http.post(url, json=success(payment, checkout="ws_CO_05012026120000000799999999"))
    assert response.json() == ACCEPTED  # Daraja is never told; we just don't believe it
    assert await state_of(portal, payment) == "pending"
    [event] = await callback_events(portal, payment)
    assert event.detail["effect"].startswith("suspicious: CheckoutRequestID")


async def test_an_amount_that_is_not_the_price_is_suspicious_and_pays_nothing(
    portal, daraja, vault, clock, http
):
    payment, url = await pending_payment(portal, daraja, vault, clock)
    await http.post(url, json=success(payment, amount=1))
    assert await state_of(portal, payment) == "pending"
    assert (await callback_events(portal, payment))[0].detail["effect"] == "suspicious: amount 1 is not 20"
    await http.post(url, json=success(payment, amount=20.00))
    assert await state_of(portal, payment) == "paid"


async def test_a_receipt_already_used_is_suspicious(portal, daraja, vault, clock, http):
    first, first_url = await pending_payment(portal, daraja, vault, clock)
    await http.post(first_url, json=success(first, receipt="TJ3MX6CLYC"))
    second = await portal.services.checkout.start(
        tenant_id=first.tenant_id, package_id=first.package_id, phone="0708374150"
    )
    response = await http.post(await callback_url(portal, second), json=success(second, receipt="TJ3MX6CLYC"))
    assert response.json() == ACCEPTED
    assert await state_of(portal, second) == "pending"


async def test_callbacks_from_outside_the_allow_list_are_logged_but_taken_by_default(
    portal, daraja, vault, clock, http, caplog
):
    payment, url = await pending_payment(portal, daraja, vault, clock)
    with caplog.at_level(logging.WARNING, logger="portal.web.hooks"):
        await http.post(url, json=success(payment))
    assert "callback from outside the allow-list" in caplog.messages
    assert await state_of(portal, payment) == "paid"


@pytest.mark.parametrize(
    ("trusted", "source", "paid"),
    [
        (True, "196.201.214.200", True),  # Safaricom, as the trusted proxy saw it
        (True, "203.0.113.9", False),
        (False, "196.201.214.200", False),  # X-Forwarded-For from an untrusted peer is not believed
    ],
)
async def test_an_enforced_allow_list_reads_the_address_through_trusted_proxies(
    settings, clock, vault, daraja, http, trusted, source, paid
):
    proxies = (ip_network("127.0.0.1/32"),) if trusted else ()
    settings = replace(settings, server=replace(settings.server, trusted_proxies=proxies))
    daraja.sim.options.callback_source_ip = source
    async with running_portal(settings, clock, vault, enforce_allowlist=True) as portal:
        payment, _ = await pending_payment(portal, daraja, vault, clock)
        daraja.sim.answer(payment.checkout_request_id, "success")
        await daraja.sim.settle()
        assert (await state_of(portal, payment) == "paid") is paid
        [delivery] = daraja.sim.deliveries
        assert delivery.status == (200 if paid else 403)
        [event] = await callback_events(portal, payment)
        assert event.source == (source if trusted else "127.0.0.1")
        assert event.detail["effect"] == ("paid" if paid else "refused: source not in the allow-list")


async def test_the_callback_token_never_reaches_the_log(portal, daraja, vault, clock, http, caplog):
    payment, url = await pending_payment(portal, daraja, vault, clock)
    with caplog.at_level(logging.DEBUG):
        await http.post(url, content=b"{")
        await http.post(url, json=success(payment, amount=3))
        await http.post(url, json=success(payment))
    token = url.rsplit("/", 1)[1]
    ours = [record for record in caplog.records if record.name.startswith("portal")]
    assert ours
    for record in ours:
        assert token not in record.getMessage() + json.dumps(getattr(record, "fields", {}), default=str)


def deeply_nested(levels: int) -> bytes:
    return b'{"Body": ' + b"[" * levels + b"]" * levels + b"}"


def stk_body_with(payment, **changes) -> dict:
    body = success(payment)
    body["Body"]["stkCallback"].update(changes)
    return body


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda payment: deeply_nested(30), "nested more than 10 levels"),
        (lambda payment: deeply_nested(30_000), "nested more than 10 levels"),  # past json's own limit
        (lambda payment: stk_body_with(payment, CheckoutRequestID="w" * 1_000_000), "larger than"),
        (lambda payment: stk_body_with(payment, CheckoutRequestID="w" * 5000), "CheckoutRequestID is longer"),
        (lambda payment: stk_body_with(payment, MerchantRequestID={"a": 1}), "MerchantRequestID is not text"),
        (
            lambda payment: stk_body_with(
                payment,
                CallbackMetadata={
                    "Item": [
                        {"Name": "Amount", "Value": 20},
                        {"Name": "MpesaReceiptNumber", "Value": {"x": 1}},
                    ]
                },
            ),
            "MpesaReceiptNumber is not text",
        ),
        (lambda payment: success(payment, amount=1e30), "out of range"),
    ],
)
async def test_hostile_callbacks_are_a_400_with_the_reason_logged_and_change_nothing(
    portal, daraja, vault, clock, http, caplog, make, reason
):
    payment, url = await pending_payment(portal, daraja, vault, clock)
    body = make(payment)
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    with caplog.at_level(logging.WARNING, logger="portal.web.hooks"):
        response = await http.post(url, content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and reason in response.json()["ResultDesc"]
    [record] = [r for r in caplog.records if r.getMessage() == "unreadable STK callback"]
    assert reason in record.fields["reason"]
    assert await state_of(portal, payment) == "pending"
    assert await callback_events(portal, payment) == []


@pytest.mark.parametrize("code", ["0.0", 0.0, "0", " 00 "])
async def test_a_success_code_pays_however_it_is_spelt(portal, daraja, vault, clock, http, code):
    payment, url = await pending_payment(portal, daraja, vault, clock)
    response = await http.post(url, json=stk_body_with(payment, ResultCode=code))
    assert response.json() == ACCEPTED
    assert await state_of(portal, payment) == "paid"


async def test_a_callback_naming_another_phone_is_put_on_the_timeline(portal, daraja, vault, clock, http):
    payment, url = await pending_payment(portal, daraja, vault, clock)
    body = success(payment)
    body["Body"]["stkCallback"]["CallbackMetadata"]["Item"][4]["Value"] = 254711000222
    await http.post(url, json=body)
    assert await state_of(portal, payment) == "paid"  # the amount and the CheckoutRequestID decide that
    events = await portal.services.store.read(payments.timeline, payment.id)
    [differs] = [event for event in events if event.kind == "phone_differs"]
    assert differs.detail == {"phone": "254711000222"} and differs.source == "127.0.0.1"


async def test_a_callback_naming_the_payments_phone_adds_nothing_to_the_timeline(
    portal, daraja, vault, clock, http
):
    payment, url = await pending_payment(portal, daraja, vault, clock)
    await http.post(url, json=success(payment))
    events = await portal.services.store.read(payments.timeline, payment.id)
    assert "phone_differs" not in [event.kind for event in events]
