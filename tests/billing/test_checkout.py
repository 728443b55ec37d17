"""Starting a payment against the Daraja simulator over real HTTP: the limits, the row, the STK push and
Daraja's answer to it (billing/checkout.py); a push whose answer never came is never sent again."""

import asyncio

import pytest

from portal.billing import checkout
from portal.billing.checkout import PaymentError
from portal.catalog import packages
from portal.catalog.packages import PackageSpec
from portal.clock import to_text
from portal.mpesa import result_codes
from portal.mpesa.accounts import create_account
from portal.mpesa.daraja import STK_PUSH, STK_QUERY
from portal.phones import PhoneError
from portal.sim.daraja import SANDBOX_PASSKEY
from portal.tenancy import tenants
from tests.billing.conftest import (
    MSISDN,
    Impatient,
    add_shop,
    current,
    effects,
    reconcile,
    start,
    timeline,
)
from tests.conftest import Shop, execute, free_port, running_portal, value
from tests.seed import insert


async def test_push_stores_darajas_ids_before_the_payer_sees_the_waiting_page(portal, shop, daraja):
    payment = await start(portal, shop)
    assert payment.state == "pending" and payment.amount == 20 and payment.phone == MSISDN
    [prompt] = daraja.sim.pending_prompts()
    assert payment.checkout_request_id == prompt.checkout_request_id
    assert payment.merchant_request_id == prompt.merchant_request_id
    assert prompt.account_reference == "WiFi" + payment.ref[:8]
    assert len(payment.ref) == 16 and int(payment.ref, 16) >= 0 and MSISDN not in payment.ref
    assert [(event.kind, event.detail.get("effect")) for event in await timeline(portal, payment)] == [
        ("created", None),
        ("push", "pending"),
    ]


async def test_a_routers_own_m_pesa_account_is_used_for_its_payments(portal, shop, daraja, vault, clock):
    def add_kiosk(db) -> tuple[int, int]:
        till = create_account(
            db,
            vault,
            clock,
            tenant_id=shop.tenant_id,
            name="Demo Kiosk",
            shortcode="300100",
            kind="till",
            till_number="300101",
            environment=daraja.base_url,
            consumer_key="sim-consumer-key",
            consumer_secret="sim-consumer-secret",
            passkey=SANDBOX_PASSKEY,
        )
        router = insert(
            db,
            "routers",
            tenant_id=shop.tenant_id,
            name="kiosk",
            host="10.0.0.1",
            port=8728,
            username="api",
            password_enc=vault.encrypt("x"),
            mpesa_account_id=till,
            created_at=to_text(clock.now()),
        )
        return till, router

    till, router_id = await portal.services.store.write(add_kiosk)
    payment = await start(portal, shop, router_id=router_id)
    assert payment.mpesa_account_id == till and payment.router_id == router_id
    [prompt] = daraja.sim.pending_prompts()
    assert prompt.merchant == "Demo Kiosk" and prompt.outcome is None  # a Till push, not a 2028
    with pytest.raises(PaymentError) as refused:
        await start(portal, shop, phone="0708374150", router_id=999)
    assert refused.value.reason == "no_router"


async def test_callback_url_is_the_public_url_with_a_per_payment_secret(portal, shop, daraja):
    first = await start(portal, shop)
    second = await start(portal, shop, phone="0708374150")
    urls = [prompt.callback_url for prompt in daraja.sim.pending_prompts()]
    assert all(url.startswith(portal.base_url + "/hooks/stk/") for url in urls)
    assert len(set(urls)) == 2 and first.ref not in urls[0] and second.ref not in urls[1]


async def test_without_a_public_url_the_push_names_a_host_that_can_never_exist(behind_nat, nat_shop, daraja):
    payment = await start(behind_nat, nat_shop)
    assert payment.state == "pending"
    [prompt] = daraja.sim.pending_prompts()
    assert prompt.callback_url.startswith("https://no-public-url.invalid/hooks/stk/")


async def test_double_tapped_pay_button_gets_the_same_payment(portal, shop, daraja):
    first, second = await asyncio.gather(start(portal, shop), start(portal, shop))
    assert first.ref == second.ref
    assert daraja.sim.requests[STK_PUSH] == 1
    assert (await start(portal, shop, phone="+254 708 374 149")).ref == first.ref


async def test_phone_with_a_payment_open_elsewhere_is_busy(portal, shop, daraja, vault, clock):
    first = await start(portal, shop)
    other = await add_shop(portal, daraja, vault, clock, slug="other")

    async def refused(*args, **kwargs) -> str:
        with pytest.raises(PaymentError) as error:
            await start(*args, **kwargs)
        return error.value.reason

    assert await refused(portal, other) == "phone_busy"
    # Another device must not be handed this device's payment,
    assert await refused(portal, shop, mac="AA:BB:CC:DD:EE:01") == "phone_busy"
    clock.advance(seconds=31)
    # nor anyone naming this one later: only a double tap gets it back.
    assert await refused(portal, shop) == "phone_busy"
    assert (await current(portal, first)).state == "pending"
    assert daraja.sim.requests[STK_PUSH] == 1


async def refusal(*args, **kwargs) -> str:
    with pytest.raises(PaymentError) as error:
        await start(*args, **kwargs)
    return error.value.reason


async def unpaid(portal, daraja, payment) -> None:
    """The payer cancels the prompt: the phone is free, and the prompt counts as not paid."""
    daraja.sim.answer(payment.checkout_request_id, "cancel")
    await daraja.sim.settle()
    assert (await current(portal, payment)).state == "failed"


async def test_a_strangers_prompts_to_a_phone_leave_its_owner_their_own(portal, shop, daraja):
    for _ in range(portal.services.settings.limits.pushes_per_phone_per_hour):
        await unpaid(portal, daraja, await start(portal, shop, client_address="10.5.50.66"))
    assert await refusal(portal, shop, client_address="10.5.50.66") == "too_many_pushes"
    assert (await start(portal, shop, client_address="10.5.50.7", own_address=True)).state == "pending"


@pytest.mark.parametrize(
    ("own_address", "devices"), [(True, 1), (False, checkout.DEVICES_PER_SHARED_ADDRESS)]
)
async def test_an_address_the_router_vouches_for_is_one_devices_and_another_a_nats(
    portal, shop, daraja, own_address, devices
):
    per_device = portal.services.settings.limits.pushes_per_device_per_hour
    for n in range(per_device * devices):
        device = {"mac": f"AA:BB:CC:DD:{n // 256:02X}:{n % 256:02X}", "client_address": "10.5.50.7"}
        await unpaid(
            portal, daraja, await start(portal, shop, f"0708 {n:06d}", own_address=own_address, **device)
        )
    again = {"client_address": "10.5.50.7", "own_address": own_address}
    assert await refusal(portal, shop, "0708 999 999", **again) == "too_many_pushes"


async def test_idempotency_key_returns_the_same_payment_and_refuses_another_body(portal, shop, daraja, clock):
    first = await start(portal, shop, idempotency_key="order-1")
    daraja.sim.answer(first.checkout_request_id, "cancel")
    await daraja.sim.settle()
    assert (await start(portal, shop, idempotency_key="order-1")).ref == first.ref
    with pytest.raises(PaymentError) as conflict:
        await start(portal, shop, phone="0708374150", idempotency_key="order-1")
    assert conflict.value.reason == "idempotency_conflict"
    clock.advance(hours=24, seconds=1)
    assert (await start(portal, shop, idempotency_key="order-1")).ref != first.ref


async def test_bad_requests_lose_nothing_and_say_why(portal, shop, clock):
    with pytest.raises(PhoneError):
        await start(portal, shop, phone="0808 374 149")
    with pytest.raises(PaymentError) as no_package:
        await portal.services.checkout.start(tenant_id=shop.tenant_id, package_id=999, phone="0708374149")
    assert no_package.value.reason == "no_package"

    def shop_without_an_account(db) -> Shop:
        tenant_id = tenants.create(db, clock, "kiosk", "Kiosk")
        package_id = packages.create(db, clock, tenant_id, PackageSpec("1 hour", 10, 3600, "", None))
        return Shop(tenant_id, package_id, account_id=0)

    with pytest.raises(PaymentError) as no_account:
        await start(portal, await portal.services.store.write(shop_without_an_account))
    assert no_account.value.reason == "no_account"
    assert await value(portal.services.store, "SELECT count(*) FROM payments") == 0


async def test_push_refusals_fail_the_payment_with_words_for_the_payer(portal, shop, vault):
    wrong_passkey = vault.encrypt("0" * 64)
    await execute(portal.services.store, "UPDATE mpesa_accounts SET passkey_enc = ?", (wrong_passkey,))
    refused = await start(portal, shop)
    assert refused.state == "failed" and refused.result_code == result_codes.PUSH_REFUSED
    assert refused.result_desc == "[MerchantValidate] - Wrong credentials"
    assert not refused.outcome.retry


async def test_a_phone_locked_by_another_prompt_fails_and_may_retry(portal, shop):
    first = await start(portal, shop)
    # Our record of it lost; Daraja still holds the lock.
    await execute(portal.services.store, "UPDATE payments SET state = 'expired' WHERE id = ?", (first.id,))
    locked = await start(portal, shop)
    assert locked.ref != first.ref
    assert (
        locked.state == "failed" and locked.result_code == result_codes.PUSH_LOCKED and locked.outcome.retry
    )


@pytest.mark.parametrize(
    "fault", ["too_many_requests", "spike_arrest", "server_error", "unavailable", "garbage"]
)
async def test_429_and_gateway_faults_fail_the_push_at_once_and_free_the_phone(portal, shop, daraja, fault):
    daraja.sim.fail_next(fault)
    refused = await start(portal, shop)
    assert refused.state == "failed" and refused.result_code == result_codes.PUSH_BUSY
    assert refused.outcome.retry and refused.outcome.message == "result.mpesa_busy"
    assert daraja.sim.prompts == {}  # nothing rang
    again = await start(portal, shop)  # the phone is free at once
    assert again.ref != refused.ref and again.state == "pending"


async def test_a_number_m_pesa_refuses_fails_with_another_number_to_try(portal, shop, daraja):
    daraja.sim.options.not_on_mpesa = {MSISDN}
    refused = await start(portal, shop)
    assert refused.state == "failed" and refused.result_code == result_codes.PUSH_BAD_NUMBER
    assert refused.outcome.category == result_codes.DECLINED
    assert refused.result_desc == "Bad Request - Invalid PhoneNumber"


async def test_daraja_unreachable_fails_the_payment_and_frees_the_phone(portal, shop):
    unreachable_url = f"http://127.0.0.1:{free_port()}"
    await execute(portal.services.store, "UPDATE mpesa_accounts SET environment = ?", (unreachable_url,))
    unreachable = await start(portal, shop)
    assert unreachable.state == "failed" and unreachable.result_code == result_codes.PUSH_UNREACHABLE
    assert (await start(portal, shop)).ref != unreachable.ref


# -- a push whose answer never came: it may ring all the same, so it is `unknown`, never sent again --


@pytest.mark.parametrize("callbacks", [True, False])
async def test_a_push_that_timed_out_is_unknown_never_resent_and_never_expires(
    settings, clock, vault, daraja, http, callbacks
):
    daraja.sim.options.slow_answer = 0.5
    daraja.sim.options.callback_delay = 400  # after the payment window
    async with running_portal(
        settings, clock, vault, callbacks=callbacks, http_transport=Impatient()
    ) as portal:
        shop = await add_shop(portal, daraja, vault, clock)
        daraja.sim.fail_next("slow")
        payment = await start(portal, shop)
        assert payment.state == "unknown" and payment.checkout_request_id is None
        assert payment.outcome is None  # no final answer: the payer is told nothing false
        assert (await effects(portal, payment, "push")) == ["unknown"]
        # The prompt did ring; the payer pays.
        [prompt] = daraja.sim.pending_prompts()
        daraja.sim.answer(prompt.checkout_request_id, "success")
        clock.advance(300)
        await reconcile(portal)
        assert (await current(portal, payment)).state == "unknown"  # never silently expired
        clock.advance(100)
        await daraja.sim.settle()
        settled = await current(portal, payment)
        if callbacks:  # the late callback names the push, and pays it
            assert settled.state == "paid" and settled.checkout_request_id == prompt.checkout_request_id
            assert settled.receipt == prompt.receipt
        else:  # nothing can be asked without a CheckoutRequestID: it waits for the payer's receipt
            assert settled.state == "unknown"
    assert daraja.sim.requests[STK_PUSH] == 1 and STK_QUERY not in daraja.sim.requests


async def test_a_push_cut_off_before_its_answer_was_stored_becomes_unknown_once_its_grace_is_over(
    settings, clock, vault, daraja
):
    async with running_portal(settings, clock, vault, callbacks=False) as first:
        shop = await add_shop(first, daraja, vault, clock)
        payment = await start(first, shop)
        # As if killed before Daraja's answer was stored.
        await execute(
            first.services.store,
            "UPDATE payments SET state = 'created', next_query_at = ?,"
            " checkout_request_id = NULL, merchant_request_id = NULL WHERE id = ?",
            (to_text(payment.created_at + checkout.ANSWER_GRACE), payment.id),
        )
    async with running_portal(settings, clock, vault, callbacks=False) as second:
        assert (await start(second, shop)).ref == payment.ref  # never pushed again
        clock.advance(checkout.ANSWER_GRACE.total_seconds() - 1)
        await reconcile(second)
        assert (await current(second, payment)).state == "created"  # its push may still be answered
        clock.advance(1)
        await reconcile(second)
        unknown = await current(second, payment)
        assert unknown.state == "unknown" and unknown.result_code is None
        assert (await effects(second, payment))[-1] is None  # the "unknown" event: why, not an effect
        assert [event.kind for event in await timeline(second, payment)][-1] == "unknown"
    assert daraja.sim.requests[STK_PUSH] == 1
