"""Receipts typed for payments whose outcome is unknown, and M-Pesa asked about them (Transaction Status,
billing/receipt_checks.py) against the Daraja simulator over HTTP: only M-Pesa's word on this
amount, to this account, for a receipt no other payment has, pays; a typed receipt alone never does."""

import pytest

from portal.billing import receipt_checks
from portal.billing.receipt_checks import ReceiptRefused
from portal.mpesa.daraja import TRANSACTION_STATUS
from tests.billing.conftest import answer, current, effects, start
from tests.conftest import execute, rows, running_portal, seed_shop


async def unknown(portal, shop, daraja, http, phone="0708 374 149") -> tuple:
    """A payment the payer paid whose push's answer was lost (and no callback came): `unknown`, with
    the receipt in the payer's SMS."""
    daraja.sim.options.drop_callbacks = True
    payment = await start(portal, shop, phone=phone)
    await answer(daraja, http, payment, "success")
    await daraja.sim.settle()
    daraja.sim.options.drop_callbacks = False
    await execute(
        portal.services.store,
        "UPDATE payments SET state = 'unknown', checkout_request_id = NULL, merchant_request_id = NULL,"
        " next_query_at = NULL WHERE id = ?",
        (payment.id,),
    )
    return await current(portal, payment), daraja.sim.prompts[payment.checkout_request_id].receipt


async def ask(portal, payment, receipt: str, who: str = "owner@cafe"):
    check = await portal.services.receipt_checks.ask(payment, receipt, who)
    return check


async def result_url(portal, check) -> str:
    return f"{portal.base_url}/hooks/status/{check.token}/result"


def result(receipt: str, amount=20, credit="174379 - Demo Cafe", code=0, status="Completed") -> dict:
    """A Transaction Status result as Daraja posts it (reference/daraja.md §8.1)."""
    parameters = [
        {"Key": "ReceiptNo", "Value": receipt},
        {"Key": "TransactionStatus", "Value": status},
        {"Key": "Amount", "Value": amount},
        {"Key": "CreditPartyName", "Value": credit},
        {"Key": "FinalisedTime", "Value": 20260105120031},
    ]
    body = {
        "ResultType": 0,
        "ResultCode": code,
        "ResultDesc": "The service request is processed successfully.",
    }
    return {"Result": body | {"ConversationID": "AG_1", "ResultParameters": {"ResultParameter": parameters}}}


async def test_m_pesa_confirming_the_receipt_pays_once_and_a_repeated_answer_changes_nothing(
    portal, shop, daraja, http
):
    payment, receipt = await unknown(portal, shop, daraja, http)
    check = await ask(portal, payment, receipt)
    # Asked; the answer may already be in (the simulator answers at once, as Daraja may).
    assert check.state in ("asked", "answered") and check.conversation_id.startswith("AG_")
    await daraja.sim.settle()
    paid = await current(portal, payment)
    assert paid.state == "paid" and paid.receipt == receipt
    again = await http.post(await result_url(portal, check), json=result(receipt))
    assert again.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
    assert (await effects(portal, payment, "receipt"))[-1:] == ["paid"]
    assert (await effects(portal, payment)).count("paid") == 1


@pytest.mark.parametrize(
    ("answered", "why"),
    [
        ({"amount": 1}, "not paid: amount 1 is not 20"),
        ({"credit": "600000 - Someone Else"}, "not paid: paid to 600000, not 174379"),
        ({"code": 2032, "status": ""}, "not paid: The service request is processed successfully."),
        ({"receipt": "OTHER00001"}, "not paid: the answer is about OTHER00001"),
    ],
)
async def test_an_answer_that_proves_nothing_about_this_payment_pays_nothing(
    portal, shop, daraja, http, answered, why
):
    payment, receipt = await unknown(portal, shop, daraja, http)
    daraja.sim.options.drop_callbacks = True  # the simulator's own answer is not delivered
    check = await ask(portal, payment, receipt)
    posted = await http.post(
        await result_url(portal, check), json=result(**({"receipt": receipt} | answered))
    )
    assert posted.status_code == 200
    assert (await current(portal, payment)).state == "unknown"
    assert (await effects(portal, payment, "receipt"))[-1] == why


async def test_a_receipt_that_paid_another_payment_pays_nothing(portal, shop, daraja, http):
    first, receipt = await unknown(portal, shop, daraja, http)
    await ask(portal, first, receipt)
    await daraja.sim.settle()
    second, _ = await unknown(portal, shop, daraja, http, phone="0708374150")
    check = await ask(portal, second, receipt)  # the first payment's receipt, typed for the second
    await http.post(await result_url(portal, check), json=result(receipt))
    assert (await current(portal, second)).state == "unknown"
    assert (await effects(portal, second, "receipt"))[-1] == "not paid: the receipt is another payment's"


async def test_a_wrong_initiator_password_is_answered_2001_and_pays_nothing(
    portal, shop, daraja, http, vault
):
    await execute(
        portal.services.store,
        "UPDATE mpesa_accounts SET initiator_password_enc = ?",
        (vault.encrypt("nope"),),
    )
    payment, receipt = await unknown(portal, shop, daraja, http)
    check = await ask(portal, payment, receipt)
    await daraja.sim.settle()
    [answered] = await rows(portal.services.store, "SELECT * FROM receipt_checks WHERE id = ?", (check.id,))
    assert (answered["state"], answered["result_code"]) == ("answered", "2001")
    assert (await current(portal, payment)).state == "unknown"


async def test_m_pesa_is_asked_about_one_payment_a_few_times_at_most(portal, shop, daraja, http):
    payment, receipt = await unknown(portal, shop, daraja, http)
    daraja.sim.options.drop_callbacks = True
    for _ in range(receipt_checks.CHECKS_PER_PAYMENT):
        await ask(portal, payment, "TJ3MX6CLYC")
    with pytest.raises(ReceiptRefused) as refused:
        await ask(portal, payment, receipt)
    assert refused.value.reason == "too_many_checks"
    assert daraja.sim.requests[TRANSACTION_STATUS] == receipt_checks.CHECKS_PER_PAYMENT


async def test_nobody_asks_without_a_public_url_or_an_initiator(
    settings, clock, vault, daraja, http, portal, shop
):
    payment, receipt = await unknown(portal, shop, daraja, http)
    await execute(portal.services.store, "UPDATE mpesa_accounts SET initiator_name = NULL")
    assert not await portal.services.receipt_checks.can_ask(payment)
    with pytest.raises(ReceiptRefused, match="cannot_ask"):
        await ask(portal, payment, receipt)
    async with running_portal(settings, clock, vault, callbacks=False) as behind_nat:
        shop = await behind_nat.services.store.write(seed_shop, vault, clock, daraja.base_url, "nat")
        there, _ = await unknown(behind_nat, shop, daraja, http, phone="0708374150")
        assert not await behind_nat.services.receipt_checks.can_ask(there)
    assert TRANSACTION_STATUS not in daraja.sim.requests


async def test_a_typed_receipt_is_kept_beside_the_payment_and_never_believed_alone(
    portal, shop, daraja, http
):
    payment, receipt = await unknown(portal, shop, daraja, http)
    store, clock = portal.services.store, portal.services.clock
    with pytest.raises(ReceiptRefused, match="not_a_receipt"):
        await store.write(receipt_checks.type_receipt, clock, payment.ref, "1234567890")  # digits only
    typed, code = await store.write(receipt_checks.type_receipt, clock, payment.ref, f" {receipt.lower()} ")
    assert (
        code == receipt and typed.typed_receipt == receipt and typed.state == "unknown" and not typed.receipt
    )
    assert (await current(portal, payment)).access_session_id is None


async def test_m_pesas_queue_timing_out_lets_the_receipt_be_asked_again(portal, shop, daraja, http):
    payment, receipt = await unknown(portal, shop, daraja, http)
    daraja.sim.options.drop_callbacks = True
    check = await ask(portal, payment, receipt)
    timeout = f"{portal.base_url}/hooks/status/{check.token}/timeout"
    body = {"Result": {"ResultType": 1, "ResultCode": 1, "ResultDesc": "The service request timed out."}}
    assert (await http.post(timeout, json=body)).status_code == 200
    [timed_out] = await rows(portal.services.store, "SELECT state FROM receipt_checks")
    assert timed_out["state"] == "refused"
    assert (await effects(portal, payment, "receipt"))[-1] == "timed out"


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        (f"/hooks/status/{'0' * 32}/result", b"{}", 404),
        ("/hooks/status/not-a-token/result", b"{}", 404),
        ("/hooks/status/{token}/elsewhere", b"{}", 404),
        ("/hooks/status/{token}/result", b"{", 400),
        ("/hooks/status/{token}/result", b'{"Result": {"ResultCode": null}}', 400),
    ],
)
async def test_status_hooks_answer_unknown_and_unreadable_posts_plainly_never_a_500(
    portal, shop, daraja, http, path, body, status
):
    payment, receipt = await unknown(portal, shop, daraja, http)
    daraja.sim.options.drop_callbacks = True
    check = await ask(portal, payment, receipt)
    response = await http.post(portal.base_url + path.format(token=check.token), content=body)
    assert response.status_code == status
    assert (await current(portal, payment)).state == "unknown"
