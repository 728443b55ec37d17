"""Learning a payment's outcome against the Daraja simulator over real HTTP (billing/confirmation.py):
callbacks, STK queries on their schedule, both racing, duplicates, restarts, and Daraja misbehaving."""

import asyncio

import pytest

from portal.access import sessions
from portal.billing import checkout, confirmation, payments
from portal.clock import FixedClock, from_text, to_text
from portal.jobs import RECONCILE_ROUNDS_AT_ONCE
from portal.mpesa import result_codes
from portal.mpesa.daraja import OAUTH, STK_QUERY
from portal.sim.daraja import Options, create_simulator
from tests.billing.conftest import (
    DEVICE,
    Impatient,
    add_shop,
    answer,
    current,
    effects,
    reconcile,
    start,
    timeline,
)
from tests.conftest import eventually, free_port, running_portal, seed_shop, serving, value
from tests.seed import insert

OUTCOMES = [
    ("success", "paid", "0"),
    ("cancel", "failed", "1032"),
    ("wrong_pin", "failed", "2001"),
    ("no_funds", "failed", "1"),
    ("timeout", "failed", "1037"),
]


async def callback_url(portal, payment) -> str:
    token = await portal.services.store.read(payments.callback_token, payment.id)
    return f"{portal.base_url}/hooks/stk/{token}"


def callback(payment, code: int, desc: str, **metadata) -> dict:
    """An STK callback body for `payment`, as Daraja posts it."""
    body = {
        "MerchantRequestID": payment.merchant_request_id,
        "CheckoutRequestID": payment.checkout_request_id,
        "ResultCode": code,
        "ResultDesc": desc,
    }
    if metadata:
        body["CallbackMetadata"] = {"Item": [{"Name": name, "Value": v} for name, v in metadata.items()]}
    return {"Body": {"stkCallback": body}}


async def test_the_app_reconciles_due_payments_every_second(portal):
    [job] = [
        job
        for job in portal.services.jobs.scheduler.get_jobs()
        if job.func == portal.services.confirmation.reconcile_due
    ]
    assert job.args == ()
    # Rounds overlap while a slow Daraja answers; a payment is never asked about twice at once.
    assert job.trigger.interval.total_seconds() == 1 and job.max_instances == RECONCILE_ROUNDS_AT_ONCE


@pytest.mark.parametrize(("outcome", "state", "code"), OUTCOMES)
async def test_every_outcome_by_callback(portal, shop, daraja, http, outcome, state, code):
    payment = await start(portal, shop)
    await answer(daraja, http, payment, outcome)
    await daraja.sim.settle()
    settled = await current(portal, payment)
    assert (settled.state, settled.result_code) == (state, code)
    assert settled.outcome.category == result_codes.describe(code).category
    if state == "paid":
        assert settled.receipt == daraja.sim.prompts[payment.checkout_request_id].receipt
        assert settled.paid_at is not None


@pytest.mark.parametrize(("outcome", "state", "code"), OUTCOMES)
async def test_every_outcome_by_query(behind_nat, nat_shop, daraja, http, clock, outcome, state, code):
    payment = await start(behind_nat, nat_shop)
    await answer(daraja, http, payment, outcome)
    clock.advance(checkout.FIRST_QUERY.total_seconds())
    await reconcile(behind_nat)
    settled = await current(behind_nat, payment)
    assert (settled.state, settled.result_code) == (state, code)
    assert settled.receipt is None  # the query never carries one


async def test_the_prompt_timing_out_on_the_phone_fails_the_payment_by_query(
    behind_nat, nat_shop, daraja, clock
):
    payment = await start(behind_nat, nat_shop)
    for _ in range(12):
        clock.advance(seconds=5)
        await reconcile(behind_nat)
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
        due = from_text(
            await value(
                behind_nat.services.store, "SELECT next_query_at FROM payments WHERE id = ?", (payment.id,)
            )
        )
        gaps.append(((last - created).total_seconds(), (due - last).total_seconds()))
        clock.advance((due - clock.now()).total_seconds())
        last = due
        await reconcile(behind_nat)
    assert gaps[0] == (0, 10)
    assert all(gap == 5 for at, gap in gaps[1:] if at < 90)
    assert all(gap == 15 for at, gap in gaps if 90 <= at < 180)
    assert all(gap == 30 for at, gap in gaps if at >= 180)
    assert (last - created).total_seconds() == 300  # the last query, at the deadline
    expired = await current(behind_nat, payment)
    assert expired.state == "expired" and expired.outcome.category == result_codes.UNREACHABLE
    assert (await effects(behind_nat, payment, "query"))[-1] == "expired"


async def test_callback_and_query_racing_make_one_paid_transition(portal, shop, daraja, http, clock):
    payment = await start(portal, shop)
    await answer(daraja, http, payment, "success")
    clock.advance(checkout.FIRST_QUERY_WITH_CALLBACKS.total_seconds())
    await asyncio.gather(daraja.sim.settle(), reconcile(portal))
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
    clock.advance(checkout.FIRST_QUERY_WITH_CALLBACKS.total_seconds())
    await asyncio.gather(daraja.sim.settle(), *(reconcile(portal) for _ in range(3)))
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
    clock.advance(checkout.FIRST_QUERY_WITH_CALLBACKS.total_seconds())
    await reconcile(portal)
    failed = await current(portal, payment)
    assert failed.state == "failed"
    # A success for less than the price does not turn it paid,
    short = callback(failed, 0, "Processed successfully.", Amount=1, MpesaReceiptNumber="TJ3MX6CLYC")
    await http.post(await callback_url(portal, payment), json=short)
    assert (await current(portal, payment)).state == "failed"
    assert (await effects(portal, payment, "callback"))[-1] == "suspicious: amount 1 is not 20"
    # the genuine one does.
    clock.advance(30)
    await daraja.sim.settle()
    settled = await current(portal, payment)
    assert settled.state == "paid" and settled.result_code == "0" and settled.receipt
    assert settled.receipt == daraja.sim.prompts[payment.checkout_request_id].receipt


async def test_paid_is_never_undone_by_a_later_failure(portal, shop, daraja, http, clock):
    payment = await start(portal, shop)
    await answer(daraja, http, payment, "success")
    await daraja.sim.settle()
    cancelled = callback(payment, 1032, "Request cancelled by user")
    response = await http.post(await callback_url(portal, payment), json=cancelled)
    assert response.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
    assert (await current(portal, payment)).state == "paid"
    assert (await effects(portal, payment, "callback"))[-1] == "ignored: payment is paid"


async def test_a_process_killed_after_the_push_reconciles_after_restart(settings, clock, vault, daraja, http):
    async with running_portal(settings, clock, vault, callbacks=False) as first:
        shop = await add_shop(first, daraja, vault, clock)
        payment = await start(first, shop)
    # The process is gone; the payer pays meanwhile and its callback goes nowhere.
    await answer(daraja, http, payment, "success")
    await daraja.sim.settle()
    async with running_portal(settings, clock, vault, callbacks=False) as second:
        clock.advance(checkout.FIRST_QUERY.total_seconds())
        await reconcile(second)
        assert (await current(second, payment)).state == "paid"


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
    clock.advance(checkout.FIRST_QUERY.total_seconds())
    await reconcile(behind_nat)
    assert (await current(behind_nat, payment)).state == "paid"
    assert daraja.sim.requests[OAUTH] == 3


@pytest.mark.parametrize("fault", ["server_error", "garbage", "spike_arrest"])
async def test_daraja_misbehaving_during_queries_is_retried_later(
    behind_nat, nat_shop, daraja, http, clock, fault
):
    payment = await start(behind_nat, nat_shop)
    await answer(daraja, http, payment, "success")
    daraja.sim.fail_next(fault)
    clock.advance(checkout.FIRST_QUERY.total_seconds())
    await reconcile(behind_nat)
    assert (await current(behind_nat, payment)).state == "pending"
    assert (await effects(behind_nat, payment, "query")) == ["error"]
    clock.advance(confirmation.RETRY_AFTER_ERROR.total_seconds())
    await reconcile(behind_nat)
    assert (await current(behind_nat, payment)).state == "paid"


@pytest.mark.parametrize("fault", ["spike_arrest", "too_many_requests"])
async def test_spike_arrest_pauses_that_accounts_queries_for_a_while(
    behind_nat, nat_shop, daraja, clock, fault
):
    for number in range(3):
        await start(behind_nat, nat_shop, phone=f"070837415{number}")
    daraja.sim.fail_next(fault)
    clock.advance(checkout.FIRST_QUERY.total_seconds())
    assert await reconcile(behind_nat) == 3
    assert daraja.sim.requests[STK_QUERY] == 3  # asked together; one was turned away
    clock.advance(confirmation.SLOW_DOWN.total_seconds() - 1)  # the other two are due again by now
    assert await reconcile(behind_nat) == 2
    assert daraja.sim.requests[STK_QUERY] == 3
    clock.advance(1)
    await reconcile(behind_nat)
    assert daraja.sim.requests[STK_QUERY] == 5


async def test_ten_payers_who_approved_together_are_confirmed_together(behind_nat, nat_shop, daraja, clock):
    daraja.sim.options.query_latency = 8  # Daraja is slow today: each query takes 8 s
    started = [
        await start(behind_nat, nat_shop, phone=f"07083741{n:02d}", mac=f"AA:BB:CC:DD:EE:{n:02X}")
        for n in range(10)
    ]
    for payment in started:
        daraja.sim.answer(payment.checkout_request_id, "success")
    clock.advance(checkout.FIRST_QUERY.total_seconds())
    round_ = asyncio.create_task(reconcile(behind_nat))

    async def all_asked() -> bool:
        return daraja.sim.requests.get(STK_QUERY) == 10

    await eventually(all_asked)  # one at a time, the second would wait for the first's 8 s
    clock.advance(8)
    assert await round_ == 10
    confirmed = [await current(behind_nat, payment) for payment in started]
    assert {(payment.state, payment.paid_at) for payment in confirmed} == {("paid", clock.now())}


async def test_a_hung_account_never_delays_another_accounts_confirmations(
    behind_nat, nat_shop, daraja, http, vault, clock
):
    hung_clock = FixedClock()  # the hung Daraja's own: its answers wait until the test moves it
    hung = create_simulator(hung_clock, Options(query_latency=60))
    async with serving(hung) as hung_url:
        hung_shop = await behind_nat.services.store.write(seed_shop, vault, clock, hung_url, "hung")
        stuck = await start(behind_nat, hung_shop, phone="0708374150", mac="AA:BB:CC:DD:EE:01")
        clock.advance(1)  # asked first, in a round that asks one at a time
        payment = await start(behind_nat, nat_shop)
        hung.state.simulator.answer(stuck.checkout_request_id, "success")
        await answer(daraja, http, payment, "success")
        clock.advance(checkout.FIRST_QUERY.total_seconds())
        round_ = asyncio.create_task(reconcile(behind_nat))

        async def confirmed() -> bool:
            return (await current(behind_nat, payment)).state == "paid"

        await eventually(confirmed)
        assert (await current(behind_nat, stuck)).state == "pending"
        assert hung.state.simulator.requests[STK_QUERY] == 1
        hung_clock.advance(60)
        assert await round_ == 2
        assert (await current(behind_nat, stuck)).state == "paid"


async def test_a_payment_is_never_asked_about_twice_at_once(behind_nat, nat_shop, daraja, clock):
    daraja.sim.options.query_latency = 8
    payment = await start(behind_nat, nat_shop)
    clock.advance(checkout.FIRST_QUERY.total_seconds())
    first = asyncio.create_task(reconcile(behind_nat))

    async def asked() -> bool:
        return daraja.sim.requests.get(STK_QUERY) == 1

    await eventually(asked)
    clock.advance(5)  # its next query is due by the schedule, but the first is still out
    assert await reconcile(behind_nat) == 0
    clock.advance(3)
    assert await first == 1
    assert daraja.sim.requests[STK_QUERY] == 1
    # Sent 10 s after the push and answered 8 s later: the next one, due 5 s after it was sent, goes
    # out on the next round.
    second = asyncio.create_task(reconcile(behind_nat))

    async def asked_again() -> bool:
        return daraja.sim.requests.get(STK_QUERY) == 2

    await eventually(asked_again)
    clock.advance(8)
    assert await second == 1
    assert (await effects(behind_nat, payment, "query")) == ["pending", "pending"]


async def test_queries_that_never_get_an_answer_expire_the_payment_in_the_end(
    behind_nat, nat_shop, daraja, clock
):
    payment = await start(behind_nat, nat_shop)
    daraja.sim.fail_next("server_error", times=1000)
    clock.advance(300)
    await reconcile(behind_nat)
    assert (await current(behind_nat, payment)).state == "pending"  # only Daraja knows; keep asking
    clock.advance(confirmation.GIVE_UP_AFTER.total_seconds())
    await reconcile(behind_nat)
    assert (await current(behind_nat, payment)).state == "expired"


async def test_a_callback_naming_another_payments_push_is_suspicious_and_names_nothing(
    settings, clock, vault, daraja, http
):
    daraja.sim.options.slow_answer = 0.5
    async with running_portal(settings, clock, vault, http_transport=Impatient()) as portal:
        shop = await add_shop(portal, daraja, vault, clock)
        other = await start(portal, shop, phone="0708374150", mac="AA:BB:CC:DD:EE:01")
        daraja.sim.fail_next("slow")
        payment = await start(portal, shop)  # its answer never came: no CheckoutRequestID to check against
        assert payment.state == "unknown" and payment.checkout_request_id is None
        forged = callback(other, 0, "Processed successfully.", Amount=20, MpesaReceiptNumber="TJ3MX6CLYC")
        await http.post(await callback_url(portal, payment), json=forged)
        unnamed = await current(portal, payment)
        assert unnamed.state == "unknown" and unnamed.checkout_request_id is None
        assert (await effects(portal, payment, "callback")) == [
            "suspicious: CheckoutRequestID belongs to another payment"
        ]
        # Its own callback still names it, and pays it.
        [prompt] = [prompt for prompt in daraja.sim.pending_prompts() if prompt.phone.endswith("149")]
        daraja.sim.answer(prompt.checkout_request_id, "success")
        await daraja.sim.settle()
        settled = await current(portal, payment)
        assert settled.state == "paid" and settled.checkout_request_id == prompt.checkout_request_id
        assert (await current(portal, other)).state == "pending"


async def test_a_payment_paid_by_query_gets_its_receipt_from_the_later_callback(
    portal, shop, daraja, http, clock
):
    daraja.sim.options.callback_delay = 60
    payment = await start(portal, shop)
    await answer(daraja, http, payment, "success")
    clock.advance(checkout.FIRST_QUERY_WITH_CALLBACKS.total_seconds())
    await reconcile(portal)
    by_query = await current(portal, payment)
    assert by_query.state == "paid" and by_query.receipt is None and by_query.paid_at == clock.now()
    clock.advance(30)
    await daraja.sim.settle()
    settled = await current(portal, payment)
    assert settled.receipt == daraja.sim.prompts[payment.checkout_request_id].receipt
    assert settled.paid_at == by_query.paid_at
    assert (await effects(portal, payment, "callback")) == ["receipt stored"]


async def kiosk_router(portal, shop, vault, clock) -> int:
    """A router of the shop (nothing listens at its address: the router tasks just wait)."""
    return await portal.services.store.write(
        lambda db: insert(
            db,
            "routers",
            tenant_id=shop.tenant_id,
            name="kiosk",
            host="127.0.0.1",
            port=free_port(),
            username="api",
            password_enc=vault.encrypt("x"),
            created_at=to_text(clock.now()),
        )
    )


async def test_paid_opens_the_devices_access_in_the_same_step(portal, shop, daraja, http, vault, clock):
    router_id = await kiosk_router(portal, shop, vault, clock)
    payment = await start(portal, shop, router_id=router_id)
    await answer(daraja, http, payment, "success")
    await daraja.sim.settle()
    settled = await current(portal, payment)
    assert settled.state == "paid" and settled.access_session_id is not None
    session = await portal.services.store.read(sessions.get, settled.access_session_id)
    assert (session.router_id, session.mac, session.package_id) == (router_id, DEVICE["mac"], shop.package_id)
    assert session.paid_seconds == 10800


async def test_the_money_stays_in_when_no_access_can_be_opened(portal, shop, daraja, http, vault, clock):
    router_id = await kiosk_router(portal, shop, vault, clock)
    payment = await start(portal, shop, router_id=router_id, mac="not a mac")
    await answer(daraja, http, payment, "success")
    await daraja.sim.settle()
    settled = await current(portal, payment)
    assert settled.state == "paid" and settled.access_session_id is None
    [error] = [event for event in await timeline(portal, payment) if event.kind == "error"]
    assert error.detail["error"].startswith("no access session")
