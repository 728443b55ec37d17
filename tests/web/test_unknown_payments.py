"""A payment whose push outcome is unknown, end to end on the simulators (the portal, the Daraja simulator,
the RouterOS emulator): what the customer is told and may type, what the owner sees and decides, and
the customer online in the end, through the router."""

import contextlib
import re
from collections.abc import AsyncIterator

import httpx

from portal.billing import checkout, payments
from portal.clock import to_text
from portal.mpesa.daraja import STK_PUSH, TRANSACTION_STATUS
from tests.conftest import Hotspot, execute, rows
from tests.web.admin.client import browser, csrf_of, sign_in
from tests.web.test_splash import device_form, online, pay, status

CONFIRM_FORM = re.compile(r'action="/admin/payments/(\d+)/confirm"')


async def killed_in_the_push_window(http, hotspot: Hotspot, clock) -> payments.Payment:
    """A payment whose push went out while the process died before storing Daraja's answer: the row as
    the crash left it (created, no CheckoutRequestID); the payer approves the prompt meanwhile. Then the
    reconciler, once the push's grace is over, finds it."""
    location = (await pay(http, hotspot)).headers["location"]
    ref = location.split("/pay/")[1].split("?")[0]
    await execute(
        hotspot.portal.services.store,
        "UPDATE payments SET state = 'created', checkout_request_id = NULL, merchant_request_id = NULL,"
        " next_query_at = ? WHERE ref = ?",
        (to_text(clock.now() + checkout.ANSWER_GRACE), ref),
    )
    [prompt] = hotspot.daraja.sim.pending_prompts()
    hotspot.daraja.sim.answer(prompt.checkout_request_id, "success")
    clock.advance(checkout.ANSWER_GRACE.total_seconds())
    await hotspot.portal.services.confirmation.reconcile_due()
    return await payment_of(hotspot, ref)


async def without_its_callback(http, hotspot: Hotspot, clock) -> payments.Payment:
    """Killed in the push window, and the callback lost too (as the sandbox often loses them)."""
    hotspot.daraja.sim.options.drop_callbacks = True
    payment = await killed_in_the_push_window(http, hotspot, clock)
    await hotspot.daraja.sim.settle()
    hotspot.daraja.sim.options.drop_callbacks = False
    return payment


async def payment_of(hotspot: Hotspot, ref: str) -> payments.Payment:
    return await hotspot.portal.services.store.read(payments.by_ref, ref)


def page_of(hotspot: Hotspot, payment: payments.Payment, lang: str = "en") -> str:
    return f"{hotspot.portal.base_url}/pay/{payment.ref}?lang={lang}"


@contextlib.asynccontextmanager
async def owner(hotspot: Hotspot) -> AsyncIterator[httpx.AsyncClient]:
    """The owner's browser, signed in."""
    async with browser() as admin:
        await sign_in(admin, hotspot.portal.base_url, hotspot.demo.admin_email, hotspot.demo.admin_password)
        yield admin


async def test_a_process_killed_in_the_push_window_in_query_mode_ends_online_once_the_owner_confirms(
    http, nat_hotspot, clock
):
    hotspot = nat_hotspot
    payment = await killed_in_the_push_window(http, hotspot, clock)
    assert payment.state == "unknown"  # never silently expired
    page = await http.get(page_of(hotspot, payment))
    assert "We could not hear from M-Pesa whether you paid" in page.text
    assert 'name="receipt"' in page.text
    said = await status(http, hotspot, f"/pay/{payment.ref}")
    assert (said["state"], said["view"]) == ("unknown", "unknown")

    async with owner(hotspot) as admin:
        dashboard = (await admin.get(f"{hotspot.portal.base_url}/admin")).text
        attention = dashboard[dashboard.index("Needs attention") : dashboard.index("earned-today")]
        assert "Did they pay?" in attention and f'href="/admin/payments/{payment.id}"' in attention
        detail = await admin.get(f"{hotspot.portal.base_url}/admin/payments/{payment.id}")
        assert "Did this customer pay?" in detail.text and CONFIRM_FORM.search(detail.text)
        confirmed = await admin.post(
            f"{hotspot.portal.base_url}/admin/payments/{payment.id}/confirm",
            data={"csrf": csrf_of(detail.text), "receipt": ""},
        )
        assert "confirmed paid" in confirmed.text
    await online(hotspot)
    paid = await payment_of(hotspot, payment.ref)
    assert paid.state == "paid" and paid.receipt is None and paid.access_session_id
    [audited] = await rows(
        hotspot.portal.services.store, "SELECT actor, target FROM audit_events WHERE action = ?",
        ("payment_confirmed_paid",),
    )  # fmt: skip
    assert (audited["actor"], audited["target"]) == (hotspot.demo.admin_email, f"payment:{payment.ref}")
    assert (await status(http, hotspot, f"/pay/{payment.ref}"))["view"] == "online"
    assert hotspot.daraja.sim.requests[STK_PUSH] == 1


async def test_a_process_killed_in_the_push_window_in_callback_mode_ends_online_by_itself(
    http, hotspot, clock
):
    hotspot.daraja.sim.options.callback_delay = checkout.ANSWER_GRACE.total_seconds() + 60
    payment = await killed_in_the_push_window(http, hotspot, clock)
    assert payment.state == "unknown"
    clock.advance(60)  # the late callback names the push, and pays it
    await hotspot.daraja.sim.settle()
    await online(hotspot)
    paid = await payment_of(hotspot, payment.ref)
    assert paid.state == "paid" and paid.checkout_request_id and paid.receipt


async def test_the_receipt_the_customer_types_is_asked_of_m_pesa_and_pays_once_it_is_confirmed(
    http, hotspot, clock
):
    payment = await without_its_callback(http, hotspot, clock)
    [prompt] = hotspot.daraja.sim.prompts.values()
    wrong = await http.post(
        f"{hotspot.portal.base_url}/pay/{payment.ref}/receipt", data=device_form(hotspot, receipt="12345")
    )
    assert wrong.status_code == 400 and "it has 10 letters and digits" in wrong.text
    sent = await http.post(
        f"{hotspot.portal.base_url}/pay/{payment.ref}/receipt",
        data=device_form(hotspot, receipt=prompt.receipt.lower()),
    )
    assert sent.status_code == 303
    assert hotspot.daraja.sim.requests[TRANSACTION_STATUS] == 1
    await hotspot.daraja.sim.settle()  # M-Pesa's answer: Completed, KES 10, to 174379
    await online(hotspot)
    paid = await payment_of(hotspot, payment.ref)
    assert (paid.state, paid.receipt, paid.typed_receipt) == ("paid", prompt.receipt, prompt.receipt)
    [check] = await rows(hotspot.portal.services.store, "SELECT * FROM receipt_checks")
    assert (check["state"], check["result_code"], check["amount"], check["asked_by"]) == (
        "answered", "0", 10, "customer",
    )  # fmt: skip


async def test_a_receipt_m_pesa_does_not_know_pays_nothing_and_the_customer_is_told(http, hotspot, clock):
    payment = await without_its_callback(http, hotspot, clock)
    await http.post(
        f"{hotspot.portal.base_url}/pay/{payment.ref}/receipt",
        data=device_form(hotspot, receipt="TJ3MX6CLYC"),
    )
    await hotspot.daraja.sim.settle()  # 2032: no such receipt
    assert (await payment_of(hotspot, payment.ref)).state == "unknown"
    page = await http.get(page_of(hotspot, payment))
    assert "M-Pesa did not confirm receipt TJ3MX6CLYC for this payment" in page.text
    swahili = await http.get(page_of(hotspot, payment, "sw"))
    assert "Hatukupata jibu la M-Pesa" in swahili.text and "haikuthibitisha risiti TJ3MX6CLYC" in swahili.text


async def test_a_receipt_typed_on_enter_your_code_for_an_unknown_payment_is_being_checked_not_wrong(
    http, nat_hotspot, clock
):
    hotspot = nat_hotspot  # no public URL: M-Pesa can't be asked; the owner decides
    payment = await killed_in_the_push_window(http, hotspot, clock)
    packages = await http.get(hotspot.splash_url())
    assert "We could not confirm a payment from this device" in packages.text
    typed = await http.post(
        f"{hotspot.portal.base_url}/reconnect", data=device_form(hotspot, code="TJ3MX6CLYC")
    )
    assert typed.status_code == 202
    assert "We are checking it" in typed.text and "That code is not right" not in typed.text
    assert (await payment_of(hotspot, payment.ref)).typed_receipt == "TJ3MX6CLYC"
    again = await http.post(
        f"{hotspot.portal.base_url}/reconnect",
        data=device_form(hotspot, code="tj3m x6cl yc", mac="AA:BB:CC:00:00:09"),
    )
    assert again.status_code == 202  # the same receipt, typed anywhere: still being checked
    other = await http.post(
        f"{hotspot.portal.base_url}/reconnect", data=device_form(hotspot, code="QQ3MX6CLYC")
    )
    assert other.status_code == 400 and "That code is not right" in other.text  # one receipt per payment
    page = await http.get(page_of(hotspot, payment))
    assert "We have your receipt TJ3MX6CLYC. The attendant will check it" in page.text
    assert TRANSACTION_STATUS not in hotspot.daraja.sim.requests


async def test_not_paid_fails_the_payment_and_the_customer_may_pay_again(http, nat_hotspot, clock):
    hotspot = nat_hotspot
    payment = await killed_in_the_push_window(http, hotspot, clock)
    async with owner(hotspot) as admin:
        detail = await admin.get(f"{hotspot.portal.base_url}/admin/payments/{payment.id}")
        assert "Ask M-Pesa" not in detail.text  # no public URL: M-Pesa's answer could not come back
        refused = await admin.post(
            f"{hotspot.portal.base_url}/admin/payments/{payment.id}/not-paid",
            data={"csrf": csrf_of(detail.text)},
        )
        assert "marked not paid" in refused.text
        again = await admin.post(
            f"{hotspot.portal.base_url}/admin/payments/{payment.id}/confirm",
            data={"csrf": csrf_of(detail.text), "receipt": ""},
        )
        assert again.status_code == 409  # settled: nothing more to decide
    failed = await payment_of(hotspot, payment.ref)
    assert failed.state == "failed" and failed.result_code == "owner.not_paid"
    page = await http.get(page_of(hotspot, payment))
    assert (
        "The hotspot found no payment from you on M-Pesa" in page.text and "Try again</button>" in page.text
    )
    assert await rows(
        hotspot.portal.services.store, "SELECT id FROM audit_events WHERE action = 'payment_marked_not_paid'"
    )
    assert not hotspot.emulator.has_access(device_form(hotspot)["mac"])


async def test_ask_m_pesa_from_the_payment_page_pays_a_receipt_m_pesa_confirms(http, hotspot, clock):
    payment = await without_its_callback(http, hotspot, clock)
    [prompt] = hotspot.daraja.sim.prompts.values()
    async with owner(hotspot) as admin:
        detail = await admin.get(f"{hotspot.portal.base_url}/admin/payments/{payment.id}")
        assert 'id="ask-mpesa"' in detail.text
        asked = await admin.post(
            f"{hotspot.portal.base_url}/admin/payments/{payment.id}/ask",
            data={"csrf": csrf_of(detail.text), "receipt": prompt.receipt},
        )
        assert "M-Pesa was asked about the receipt" in asked.text
        await hotspot.daraja.sim.settle()
        answered = await admin.get(f"{hotspot.portal.base_url}/admin/payments/{payment.id}")
    assert "Asked of M-Pesa" in answered.text and hotspot.demo.admin_email in answered.text
    await online(hotspot)
    assert (await payment_of(hotspot, payment.ref)).receipt == prompt.receipt
