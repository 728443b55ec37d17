"""The payment lifecycle against the Daraja simulator over real HTTP: callbacks, queries, both racing,
duplicates, restarts, and Daraja misbehaving."""

import asyncio

import httpx
import pytest

from portal import payments
from portal.clock import from_text, to_text
from portal.mpesa import codes
from portal.mpesa.accounts import create_account
from portal.mpesa.daraja import OAUTH, STK_PUSH, STK_QUERY
from portal.payments import (
    IdempotencyConflict,
    PaymentError,
    PhoneBusy,
    reconcile_due,
    start_payment,
    timeline,
)
from portal.phones import PhoneError
from portal.sim.daraja import SANDBOX_PASSKEY
from tests.conftest import free_port, running_portal, seed_shop

PHONE = "0708 374 149"
MSISDN = "254708374149"


async def start(portal, shop, phone=PHONE, **options):
    return await start_payment(
        portal.services,
        tenant_id=shop.tenant_id,
        package_id=shop.package_id,
        phone=phone,
        **{"mac": "AA:BB:CC:DD:EE:FF", "ip": "10.5.50.7"} | options,
    )


async def answer(daraja, http, payment, outcome):
    url = f"{daraja.base_url}/phone/api/prompts/{payment.checkout_request_id}"
    response = await http.post(url, json={"outcome": outcome})
    assert response.status_code == 200


async def current(portal, payment):
    return await payments.payment_by_ref(portal.services.db, payment.ref)


async def effects(portal, payment, kind=None):
    return [
        event.detail.get("effect")
        for event in await timeline(portal.services.db, payment.id)
        if kind is None or event.kind == kind
    ]


@pytest.fixture
async def behind_nat(settings, clock, vault):
    async with running_portal(settings, clock, vault, callbacks=False) as running:
        yield running


@pytest.fixture
async def nat_shop(behind_nat, daraja, vault, clock):
    return await seed_shop(behind_nat.services.db, vault, clock, daraja.base_url)


async def test_push_stores_darajas_ids_before_the_payer_sees_the_waiting_page(portal, shop, daraja):
    payment = await start(portal, shop)
    assert payment.state == "pending" and payment.amount == 20 and payment.phone == MSISDN
    [prompt] = daraja.sim.pending_prompts()
    assert payment.checkout_request_id == prompt.checkout_request_id
    assert payment.merchant_request_id == prompt.merchant_request_id
    assert prompt.account_reference == "WiFi" + payment.ref[:8]
    assert len(payment.ref) == 16 and int(payment.ref, 16) >= 0 and MSISDN not in payment.ref
    assert [
        (event.kind, event.detail.get("effect")) for event in await timeline(portal.services.db, payment.id)
    ] == [
        ("created", None),
        ("push", "pending"),
    ]


async def test_the_app_reconciles_due_payments_every_two_seconds(portal):
    [job] = [job for job in portal.services.scheduler.get_jobs() if job.func is reconcile_due]
    assert job.func is reconcile_due and job.args == (portal.services,)
    assert job.trigger.interval.total_seconds() == 2 and job.max_instances == 1


async def test_a_routers_own_m_pesa_account_is_used_for_its_payments(portal, shop, daraja, vault, clock):
    async with portal.services.db.transaction() as tx:
        till = await create_account(
            tx,
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
        router = await tx.execute(
            "INSERT INTO routers (tenant_id, name, host, port, username, password_enc, mpesa_account_id,"
            " created_at) VALUES (?, 'kiosk', '10.0.0.1', 8728, 'api', ?, ?, ?)",
            (shop.tenant_id, vault.encrypt("x"), till, to_text(clock.now())),
        )
    payment = await start(portal, shop, router_id=router.lastrowid)
    assert payment.mpesa_account_id == till and payment.router_id == router.lastrowid
    [prompt] = daraja.sim.pending_prompts()
    assert prompt.merchant == "Demo Kiosk" and prompt.outcome is None  # a Till push, not a 2028
    with pytest.raises(PaymentError, match="no router"):
        await start(portal, shop, phone="0708374150", router_id=999)


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
    other = await seed_shop(portal.services.db, vault, clock, daraja.base_url, slug="other")
    with pytest.raises(PhoneBusy):
        await start(portal, other)
    with pytest.raises(PhoneBusy):  # another device must not be handed this device's payment
        await start(portal, shop, mac="AA:BB:CC:DD:EE:01")
    clock.advance(seconds=31)
    with pytest.raises(PhoneBusy):  # nor anyone naming this one later: only a double tap gets it back
        await start(portal, shop)
    assert (await current(portal, first)).state == "pending"
    assert daraja.sim.requests[STK_PUSH] == 1


async def test_idempotency_key_returns_the_same_payment_and_refuses_another_body(portal, shop, daraja, clock):
    first = await start(portal, shop, idempotency_key="order-1")
    daraja.sim.answer(first.checkout_request_id, "cancel")
    await daraja.sim.settle()
    assert (await start(portal, shop, idempotency_key="order-1")).ref == first.ref
    with pytest.raises(IdempotencyConflict):
        await start(portal, shop, phone="0708374150", idempotency_key="order-1")
    clock.advance(hours=24, seconds=1)
    assert (await start(portal, shop, idempotency_key="order-1")).ref != first.ref


async def test_bad_requests_lose_nothing_and_say_why(portal, shop):
    with pytest.raises(PhoneError):
        await start(portal, shop, phone="0808 374 149")
    with pytest.raises(PaymentError, match="no package"):
        await start_payment(portal.services, tenant_id=shop.tenant_id, package_id=999, phone=PHONE)
    assert await portal.services.db.fetchval("SELECT count(*) FROM payments") == 0


OUTCOMES = [
    ("success", "paid", "0"),
    ("cancel", "failed", "1032"),
    ("wrong_pin", "failed", "2001"),
    ("no_funds", "failed", "1"),
    ("timeout", "failed", "1037"),
]


@pytest.mark.parametrize(("outcome", "state", "code"), OUTCOMES)
async def test_every_outcome_by_callback(portal, shop, daraja, http, outcome, state, code):
    payment = await start(portal, shop)
    await answer(daraja, http, payment, outcome)
    await daraja.sim.settle()
    settled = await current(portal, payment)
    assert (settled.state, settled.result_code) == (state, code)
    assert settled.outcome.category == codes.describe(code).category
    if state == "paid":
        assert settled.receipt == daraja.sim.prompts[payment.checkout_request_id].receipt
        assert settled.paid_at is not None


@pytest.mark.parametrize(("outcome", "state", "code"), OUTCOMES)
async def test_every_outcome_by_query(behind_nat, nat_shop, daraja, http, clock, outcome, state, code):
    payment = await start(behind_nat, nat_shop)
    await answer(daraja, http, payment, outcome)
    clock.advance(payments.FIRST_QUERY.total_seconds())
    await reconcile_due(behind_nat.services)
    settled = await current(behind_nat, payment)
    assert (settled.state, settled.result_code) == (state, code)
    assert settled.receipt is None  # the query never carries one


async def test_the_prompt_timing_out_on_the_phone_fails_the_payment_by_query(
    behind_nat, nat_shop, daraja, clock
):
    payment = await start(behind_nat, nat_shop)
    for _ in range(12):
        clock.advance(seconds=5)
        await reconcile_due(behind_nat.services)
    assert (await current(behind_nat, payment)).result_code == "1037"


async def test_query_schedule_is_brisk_while_the_payer_is_on_the_prompt_then_backs_off(
    behind_nat, nat_shop, daraja, clock
):
    daraja.sim.options.prompt_timeout = 3600  # the phone never gives up; only our window ends it
    payment = await start(behind_nat, nat_shop)
    created = payment.created_at
    gaps = []
    last = created
    while (await current(behind_nat, payment)).state == "pending":
        due = await behind_nat.services.db.fetchval(
            "SELECT next_query_at FROM payments WHERE id = ?", (payment.id,)
        )
        due = from_text(due)
        gaps.append(((last - created).total_seconds(), (due - last).total_seconds()))
        clock.advance((due - clock.now()).total_seconds())
        last = due
        await reconcile_due(behind_nat.services)
    assert gaps[0] == (0, 10)
    assert all(gap == 5 for at, gap in gaps[1:] if at < 90)
    assert all(gap == 15 for at, gap in gaps if 90 <= at < 180)
    assert all(gap == 30 for at, gap in gaps if at >= 180)
    assert (last - created).total_seconds() == 300  # the last query, at the deadline
    expired = await current(behind_nat, payment)
    assert expired.state == "expired" and expired.outcome.category == codes.UNREACHABLE
    assert (await effects(behind_nat, payment, "query"))[-1] == "expired"


async def test_callback_and_query_racing_make_one_paid_transition(portal, shop, daraja, http, clock):
    payment = await start(portal, shop)
    await answer(daraja, http, payment, "success")
    clock.advance(payments.FIRST_QUERY_WITH_CALLBACKS.total_seconds())
    await asyncio.gather(daraja.sim.settle(), reconcile_due(portal.services))
    settled = await current(portal, payment)
    assert settled.state == "paid"
    assert settled.receipt == daraja.sim.prompts[payment.checkout_request_id].receipt
    assert (await effects(portal, payment)).count("paid") == 1


async def test_fifty_duplicate_callbacks_and_the_poller_make_one_paid_transition(
    portal, shop, daraja, http, clock
):
    daraja.sim.options.duplicate_callbacks = 49
    payment = await start(portal, shop)
    await answer(daraja, http, payment, "success")
    clock.advance(payments.FIRST_QUERY_WITH_CALLBACKS.total_seconds())
    await asyncio.gather(daraja.sim.settle(), *(reconcile_due(portal.services) for _ in range(3)))
    assert [delivery.status for delivery in daraja.sim.deliveries] == [200] * 50
    assert (await current(portal, payment)).state == "paid"
    assert len(await effects(portal, payment, "callback")) == 50
    assert (await effects(portal, payment)).count("paid") == 1


async def test_a_failure_reported_by_the_query_yields_to_a_genuine_success_callback(
    portal, shop, daraja, http, clock
):
    # The sandbox has been seen to call a paid push failed in the query (§5.2).
    daraja.sim.options.query_disagrees = True
    daraja.sim.options.callback_delay = 60
    payment = await start(portal, shop)
    await answer(daraja, http, payment, "success")
    clock.advance(payments.FIRST_QUERY_WITH_CALLBACKS.total_seconds())
    await reconcile_due(portal.services)
    assert (await current(portal, payment)).state == "failed"
    clock.advance(30)
    await daraja.sim.settle()
    settled = await current(portal, payment)
    assert settled.state == "paid" and settled.result_code == "0" and settled.receipt


async def test_paid_is_never_undone_by_a_later_failure(portal, shop, daraja, http, clock):
    payment = await start(portal, shop)
    await answer(daraja, http, payment, "success")
    await daraja.sim.settle()
    token = await portal.services.db.fetchval(
        "SELECT callback_token FROM payments WHERE id = ?", (payment.id,)
    )
    cancelled = {
        "Body": {
            "stkCallback": {
                "MerchantRequestID": payment.merchant_request_id,
                "CheckoutRequestID": payment.checkout_request_id,
                "ResultCode": 1032,
                "ResultDesc": "Request cancelled by user",
            }
        }
    }
    response = await http.post(f"{portal.base_url}/hooks/stk/{token}", json=cancelled)
    assert response.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
    assert (await current(portal, payment)).state == "paid"
    assert (await effects(portal, payment, "callback"))[-1] == "ignored: payment is paid"


async def test_a_process_killed_after_the_push_reconciles_after_restart(settings, clock, vault, daraja, http):
    async with running_portal(settings, clock, vault, callbacks=False) as first:
        shop = await seed_shop(first.services.db, vault, clock, daraja.base_url)
        payment = await start(first, shop)
    # The process is gone; the payer pays meanwhile and its callback goes nowhere.
    await answer(daraja, http, payment, "success")
    await daraja.sim.settle()
    async with running_portal(settings, clock, vault, callbacks=False) as second:
        clock.advance(payments.FIRST_QUERY.total_seconds())
        await reconcile_due(second.services)
        assert (await current(second, payment)).state == "paid"


async def test_a_push_cut_off_before_its_answer_was_stored_expires_unless_a_callback_names_it(
    settings, clock, vault, daraja, http
):
    async with running_portal(settings, clock, vault, callbacks=False) as first:
        shop = await seed_shop(first.services.db, vault, clock, daraja.base_url)
        payment = await start(first, shop)
        async with first.services.db.transaction() as tx:  # as if killed before Daraja's answer was stored
            await tx.execute(
                "UPDATE payments SET state = 'created', next_query_at = created_at,"
                " checkout_request_id = NULL, merchant_request_id = NULL WHERE id = ?",
                (payment.id,),
            )
    async with running_portal(settings, clock, vault, callbacks=False) as second:
        assert (await start(second, shop)).ref == payment.ref  # never pushed again
        clock.advance(299)
        await reconcile_due(second.services)
        assert (await current(second, payment)).state == "created"
        clock.advance(1)
        await reconcile_due(second.services)
        expired = await current(second, payment)
        assert expired.state == "expired" and expired.result_code == codes.EXPIRED
    assert daraja.sim.requests[STK_PUSH] == 1


async def test_a_token_superseded_mid_flight_is_reminted_and_the_payment_still_settles(
    behind_nat, nat_shop, daraja, http, clock
):
    payment = await start(behind_nat, nat_shop)
    # Another installation with the same keys mints a token: ours is refused from now on.
    minted = await http.get(
        daraja.base_url + OAUTH,
        params={"grant_type": "client_credentials"},
        auth=("sim-consumer-key", "sim-consumer-secret"),
    )
    assert minted.status_code == 200
    await answer(daraja, http, payment, "success")
    clock.advance(payments.FIRST_QUERY.total_seconds())
    await reconcile_due(behind_nat.services)
    assert (await current(behind_nat, payment)).state == "paid"
    assert daraja.sim.requests[OAUTH] == 3


@pytest.mark.parametrize("fault", ["server_error", "garbage", "spike_arrest"])
async def test_daraja_misbehaving_during_queries_is_retried_later(
    behind_nat, nat_shop, daraja, http, clock, fault
):
    payment = await start(behind_nat, nat_shop)
    await answer(daraja, http, payment, "success")
    daraja.sim.fail_next(fault)
    clock.advance(payments.FIRST_QUERY.total_seconds())
    await reconcile_due(behind_nat.services)
    assert (await current(behind_nat, payment)).state == "pending"
    assert (await effects(behind_nat, payment, "query")) == ["error"]
    clock.advance(payments.RETRY_AFTER_ERROR.total_seconds())
    await reconcile_due(behind_nat.services)
    assert (await current(behind_nat, payment)).state == "paid"


async def test_spike_arrest_stops_the_rounds_other_queries_for_that_account(
    behind_nat, nat_shop, daraja, clock
):
    for number in range(3):
        await start(behind_nat, nat_shop, phone=f"070837415{number}")
    daraja.sim.fail_next("spike_arrest")
    clock.advance(payments.FIRST_QUERY.total_seconds())
    assert await reconcile_due(behind_nat.services) == 3
    assert daraja.sim.requests[STK_QUERY] == 1


async def test_queries_that_never_get_an_answer_expire_the_payment_in_the_end(
    behind_nat, nat_shop, daraja, clock
):
    payment = await start(behind_nat, nat_shop)
    daraja.sim.fail_next("server_error", times=1000)
    clock.advance(300)
    await reconcile_due(behind_nat.services)
    assert (await current(behind_nat, payment)).state == "pending"  # only Daraja knows; keep asking
    clock.advance(payments.GIVE_UP_AFTER.total_seconds())
    await reconcile_due(behind_nat.services)
    assert (await current(behind_nat, payment)).state == "expired"


class Impatient(httpx.AsyncHTTPTransport):
    """A client that gives up after 0.2 s, so that a slow Daraja answer times out within a test."""

    async def handle_async_request(self, request):
        request.extensions["timeout"] = httpx.Timeout(0.2).as_dict()
        return await super().handle_async_request(request)


@pytest.mark.parametrize("callbacks", [True, False])
async def test_a_push_that_timed_out_is_never_resent(settings, clock, vault, daraja, http, callbacks):
    daraja.sim.options.slow_answer = 0.5
    async with running_portal(
        settings, clock, vault, callbacks=callbacks, http_transport=Impatient()
    ) as portal:
        shop = await seed_shop(portal.services.db, vault, clock, daraja.base_url)
        daraja.sim.fail_next("slow")
        payment = await start(portal, shop)
        assert payment.state == "created" and payment.checkout_request_id is None
        assert (await effects(portal, payment, "push")) == ["outcome unknown"]
        assert (await start(portal, shop)).ref == payment.ref
        # The prompt did ring; the payer pays.
        [prompt] = daraja.sim.pending_prompts()
        daraja.sim.answer(prompt.checkout_request_id, "success")
        await daraja.sim.settle()
        if callbacks:  # the callback names the push, and pays it
            settled = await current(portal, payment)
            assert settled.state == "paid" and settled.checkout_request_id == prompt.checkout_request_id
        else:  # nothing can be asked without a CheckoutRequestID: it expires, with its words for the payer
            clock.advance(300)
            await reconcile_due(portal.services)
            assert (await current(portal, payment)).state == "expired"
    assert daraja.sim.requests[STK_PUSH] == 1


async def test_a_late_callback_still_pays_an_expired_payment(settings, clock, vault, daraja):
    daraja.sim.options.slow_answer = 0.5
    daraja.sim.options.callback_delay = 400
    async with running_portal(settings, clock, vault, http_transport=Impatient()) as portal:
        shop = await seed_shop(portal.services.db, vault, clock, daraja.base_url)
        daraja.sim.fail_next("slow")
        payment = await start(portal, shop)
        [prompt] = daraja.sim.pending_prompts()
        daraja.sim.answer(prompt.checkout_request_id, "success")
        clock.advance(300)
        await reconcile_due(portal.services)
        assert (await current(portal, payment)).state == "expired"
        clock.advance(100)
        await daraja.sim.settle()
        assert (await current(portal, payment)).state == "paid"


async def test_push_refusals_fail_the_payment_with_words_for_the_payer(portal, shop, daraja, vault, clock):
    async with portal.services.db.transaction() as tx:
        await tx.execute("UPDATE mpesa_accounts SET passkey_enc = ?", (vault.encrypt("0" * 64),))
    refused = await start(portal, shop)
    assert refused.state == "failed" and refused.result_code == codes.PUSH_REFUSED
    assert refused.result_desc == "[MerchantValidate] - Wrong credentials"
    assert not refused.outcome.retry


async def test_a_phone_locked_by_another_prompt_fails_and_may_retry(portal, shop, daraja):
    first = await start(portal, shop)
    async with portal.services.db.transaction() as tx:  # our record of it lost; Daraja still holds the lock
        await tx.execute("UPDATE payments SET state = 'expired' WHERE id = ?", (first.id,))
    locked = await start(portal, shop)
    assert locked.ref != first.ref
    assert locked.state == "failed" and locked.result_code == codes.PUSH_LOCKED and locked.outcome.retry


async def test_daraja_unreachable_fails_the_payment_and_frees_the_phone(portal, shop):
    async with portal.services.db.transaction() as tx:
        await tx.execute("UPDATE mpesa_accounts SET environment = ?", (f"http://127.0.0.1:{free_port()}",))
    unreachable = await start(portal, shop)
    assert unreachable.state == "failed" and unreachable.result_code == codes.PUSH_UNREACHABLE
    assert (await start(portal, shop)).ref != unreachable.ref


async def test_owner_reverses_a_paid_payment_with_a_reason(portal, shop, daraja, http, clock):
    payment = await start(portal, shop)
    db = portal.services.db

    async def reverse(reason: str, tenant_id: int = shop.tenant_id) -> bool:
        async with db.transaction() as tx:
            return await payments.reverse_payment(
                tx,
                clock,
                payment_id=payment.id,
                tenant_id=tenant_id,
                reason=reason,
                actor="owner@cafe",
                source_ip="127.0.0.1",
            )

    with pytest.raises(PaymentError, match="Say why"):
        await reverse(" ")
    assert not await reverse("refunded")  # not paid yet
    await answer(daraja, http, payment, "success")
    await daraja.sim.settle()
    assert not await reverse("refunded", tenant_id=shop.tenant_id + 1)
    assert await reverse("refunded:   no signal")
    assert not await reverse("refunded twice")
    reversed_ = await current(portal, payment)
    assert reversed_.state == "reversed" and reversed_.reversed_reason == "refunded: no signal"
    [event] = [event for event in await timeline(db, payment.id) if event.kind == "reversed"]
    assert event.source == "admin" and event.detail == {"reason": "refunded: no signal", "by": "owner@cafe"}
