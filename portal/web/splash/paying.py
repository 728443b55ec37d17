"""Paying for a package: the packages (`/`, which also sends a device with time to its own page), the
M-Pesa prompt, the payment's page and its status while the payer answers, trying again, and the
receipt its payer types when M-Pesa's answer never came (the payment is `unknown`)."""

import asyncio
import contextlib
from datetime import timedelta
from typing import Annotated, Any

from litestar import Request, post
from litestar.datastructures import State
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Redirect, Template

from ... import i18n, phones
from ...access import routers, sessions
from ...access.presence import Asker
from ...billing import payments, receipt_checks
from ...billing.checkout import PaymentError, prompt_reference
from ...billing.receipt_checks import ReceiptRefused
from ...catalog import packages
from ...clock import Clock, to_text
from ...i18n import formats
from ...mpesa import accounts, result_codes
from ...store import Connection
from ...typed_numbers import whole
from ..forms import form_fields
from .online import connecting_view, session_page
from .pages import (
    ARRIVED,
    MY_PAYMENT_COOKIE,
    MY_TIME,
    NOBODY,
    Device,
    Site,
    customer,
    device_context,
    http_only,
    language_of,
    not_a_customer,
    other,
    page,
    pay_by_hand,
    payment_url,
    readable,
    site_for,
    who_asks,
)

STILL_WAITING, PAID = "4999", "0"  # Daraja's codes, for what the payer is told meanwhile
PROMPT_SECONDS = 60  # how long the M-Pesa prompt stays on the phone (reference/daraja.md §9)
# The waiting page asks for its status and is answered when it changes (a write in this process wakes
# it), or after this long with the same: below the 60 s proxies and phones give a quiet request.
LONG_POLL_SECONDS = 25.0
RECHECK_GAP = 0.05  # seconds between two looks at one payment while writes come in bursts
# A device with time back at `/` this long after its time started is a customer coming back (the router
# lost its login); sooner, it is a second tab or a reload just after paying.
RETURNING_AFTER = timedelta(minutes=10)


# -- choosing a package ----------------------------------------------------------------------------------


@readable("/")
async def splash(request: Request, state: State) -> Template:
    lang, device, site = await customer(request, state, request.query_params)
    if site is None:
        return not_a_customer(lang)
    services = state.services
    if request.query_params.get("more"):  # the packages asked for: to buy more time, or instead
        # One may come chosen: another number for the package a failed payment was for.
        running = await services.store.read(payments.open_of_device, site.router_id, device.mac)
        return await _choose(
            state,
            lang,
            site,
            device,
            chosen=_package_id(request.query_params.get("package")),
            notice=i18n.say(lang, "payment_running") if running else "",
        )
    live = await services.store.read(sessions.live_on_device, site.router_id, device.mac)
    if live is not None:
        if (await who_asks(request, state, site, device))[1] is Asker.STRANGER:
            # A device the router shows elsewhere, named from here: the packages, and nothing of its
            # time, its code or its router.
            return await _choose(state, lang, site, device)
        # Sent here by the router, so it has lost this device's login (a reboot, a roam): log it in.
        if live.state == "active" and await services.store.write(
            sessions.log_in_again, services.clock, live.id
        ):
            services.jobs.wake()
        # Welcomed back only when back: not in a second tab just after paying, nor just arrived by a code.
        welcome = (
            live.started_at is not None
            and services.clock.now() - live.started_at >= RETURNING_AFTER
            and not request.query_params.get(ARRIVED)
        )
        return await session_page(state, lang, site, device, live.id, welcome=welcome)
    if await services.store.read(payments.open_of_device, site.router_id, device.mac):
        # Its prompt is still open (the captive window may have closed on it): say so, and follow it.
        # Not by sending the device to the payment's own page: a MAC in a URL proves nothing, and that
        # page's reference is what shows the access code.
        waiting = {"view": "device_waiting", "live": True, "poll_url": ""}
        context = device_context(lang, site, device) | waiting
        return page("payment", lang, context, switch_url=f"/?{device.query(other(lang))}")
    since = services.clock.now() - receipt_checks.DEVICE_LOOKBACK
    if await services.store.read(payments.unknown_of_device, site.router_id, device.mac, since):
        # The payer may have paid: the receipt in their SMS, typed on "Enter your code", says so.
        return await _choose(state, lang, site, device, notice=i18n.say(lang, "payment_unknown_here"))
    if await services.store.read(_moved_away, site.router_id, device.mac):
        return await _choose(state, lang, site, device, notice=i18n.say(lang, "moved_away"))
    ended = await services.store.read(sessions.ended_lately, services.clock, site.router_id, device.mac)
    return await _choose(state, lang, site, device, notice=i18n.say(lang, "time_over") if ended else "")


def _moved_away(db: Connection, router_id: int, mac: str) -> bool:
    """Is the time this device last paid for running on another device now (moved there by a code)?"""
    payment = payments.latest_with_access_of_device(db, router_id, mac)
    if payment is None:
        return False
    session = sessions.get(db, payment.access_session_id)
    return session.live and (session.router_id, session.mac) != (router_id, mac)


async def _choose(
    state: State,
    lang: str,
    site: Site,
    device: Device,
    *,
    chosen=None,
    phone="",
    error="",
    notice="",
    status_code=200,
) -> Template:
    # Read afresh even on Back (from the waiting page, say): it tells of a payment running meanwhile.
    return page(
        "index",
        lang,
        {
            "tenant": site,
            "device": device,
            "packages": await state.services.store.read(packages.for_sale, site.tenant_id),
            "can_pay": site.mpesa_account_id is not None,
            "chosen": chosen,
            "phone": phone,
            "error": error,
            "notice": notice,
            "reconnect_url": f"/reconnect?{device.query(lang)}",
        },
        status_code=status_code,
        switch_url=f"/?{device.query(other(lang), more='1')}",  # still the packages, in the other language
        no_store=True,
    )


@post("/pay")
async def pay(request: Request, state: State) -> Template | Redirect:
    form = form_fields(await request.form())
    lang, device, site = await customer(request, state, form)
    if site is None:
        return not_a_customer(lang)
    typed_phone = form.get("phone", "")[:64]  # kept to be corrected; far beyond any number all the same
    package_id = _package_id(form.get("package"))
    offered = {package.id for package in await state.services.store.read(packages.for_sale, site.tenant_id)}

    def again(error: str) -> Any:
        return _choose(
            state, lang, site, device, chosen=package_id, phone=typed_phone, error=error, status_code=400
        )

    if package_id not in offered:
        return await again(i18n.say(lang, "pick_package"))
    address, asker = await who_asks(request, state, site, device)
    if asker is Asker.STRANGER:
        # The router shows other devices at this address: the form names a device not the payer's.
        error = i18n.say(lang, "not_this_device")
        return await _choose(
            state, lang, site, device, chosen=package_id, phone=typed_phone, error=error, status_code=403
        )
    try:
        payment = await state.services.checkout.start(
            tenant_id=site.tenant_id,
            package_id=package_id,
            phone=typed_phone,
            router_id=site.router_id,
            mac=device.mac,
            ip=device.ip,
            client_address=address,
            own_address=asker is Asker.DEVICE,
        )
    except phones.PhoneError as error:
        return await again(i18n.say(lang, error.reason, **error.values))
    except PaymentError as error:
        return await again(_why_not(lang, error))
    return Redirect(payment_url(payment.ref, lang, device), status_code=303)


def _why_not(lang: str, error: PaymentError) -> str:
    """The words for a payment that could not be started."""
    if error.reason == "too_many_pushes":
        return i18n.say(lang, "too_many_pushes", count=error.wait_minutes)
    return i18n.say(lang, error.reason if error.reason == "phone_busy" else "cannot_pay")


def _package_id(text: str | None) -> int | None:
    return whole(text or "")


# -- following a payment ---------------------------------------------------------------------------------


def _payment_and_router(db: Connection, ref: str) -> tuple[payments.Payment | None, str]:
    payment = payments.by_ref(db, ref)
    if payment is None or payment.router_id is None or payment.mac is None:
        return None, ""
    return payment, routers.names(db, [payment.router_id])[payment.router_id]


async def _payment_and_device(state: State, ref: str, link_orig: str | None):
    """The payment behind a reference, and the device it is for; (None, None) if there is no such payment."""
    payment, router = await state.services.store.read(_payment_and_router, ref)
    if payment is None:
        return None, None
    return payment, Device(router, payment.mac, payment.ip or "", http_only(link_orig))


async def _posted_about(request: Request, state: State, ref: str):
    """The language of a form posted about a payment, the payment and its device (None, None if there is
    no such payment)."""
    form = form_fields(await request.form())
    payment, device = await _payment_and_device(state, ref, form.get("link-orig"))
    return language_of(request, form.get("lang")), payment, device


@readable("/pay/{ref:str}")
async def payment_page(
    request: Request,
    state: State,
    ref: FromPath[str],
    link_orig: Annotated[str | None, QueryParameter(name="link-orig")] = None,
    lang: FromQuery[str | None] = None,
    notice: FromQuery[str | None] = None,
) -> Template:
    lang = language_of(request, lang)
    payment, device = await _payment_and_device(state, ref, link_orig)
    if payment is None:
        return not_a_customer(lang)
    return await _payment_page(state, lang, payment, device, notice=notice)


@readable(MY_TIME)
async def my_time(request: Request, state: State, lang: FromQuery[str | None] = None) -> Template:
    """ "My time": the page of the payment this browser was last shown, at an address short enough to
    type. A browser that was shown none (another, or the phone's captive window kept no cookie) is told
    where its time is shown."""
    lang = language_of(request, lang)
    payment, device = await _payment_and_device(state, request.cookies.get(MY_PAYMENT_COOKIE, ""), None)
    if payment is None:
        return page("no_time", lang, {"tenant": NOBODY}, status_code=404)
    return await _payment_page(state, lang, payment, device, mine=True)


async def _payment_page(
    state: State,
    lang: str,
    payment: payments.Payment,
    device: Device,
    *,
    mine: bool = False,
    notice: str | None = None,
    receipt_error: str = "",
    typed: str = "",
    status_code: int = 200,
) -> Template:
    ref = payment.ref
    site = await site_for(state, device.router)
    status = await _status(state, payment, lang)
    if status["view"] in ("online", "connecting", "stuck") and payment.access_session_id:
        return await session_page(
            state, lang, site, device, payment.access_session_id, payment=payment, mine=mine
        )
    waiting = status["view"] == "waiting"
    return page(
        "payment",
        lang,
        device_context(lang, site, device)
        | status
        | {
            # An unknown payment is followed too: the owner or M-Pesa may settle it any moment; and one
            # cancelled here while its prompt may still be paid.
            "live": status["view"] in ("waiting", "unknown")
            or (payment.cancelled_on_page and _prompt_seconds_left(state, payment) > 0),
            "poll_url": f"/pay/{ref}/status",
            "retry_url": f"/pay/{ref}/retry",
            "cancel_url": f"/pay/{ref}/cancel",
            "receipt_url": f"/pay/{ref}/receipt",
            "typed_receipt": typed or payment.typed_receipt or "",
            "receipt_error": receipt_error,
            "masked_phone": formats.masked_phone(payment.phone),
            "amount": payment.amount,
            # Who the prompt says is paid: the M-Pesa account's name, never the business's own (a
            # mismatch reads as fraud), and the account it names.
            "payee": await state.services.store.read(_payee, payment),
            "prompt_account": prompt_reference(ref),
            "prompt_seconds_left": _prompt_seconds_left(state, payment),
            # Only while the prompt it is about is open: the page refreshes to its address without it.
            "notice": i18n.say(lang, "resend_wait") if notice == "resend_wait" and waiting else "",
            "here_url": payment_url(ref, lang, device),
            # The same package, the number to be typed again: a mistyped one, or a phone with no funds.
            "other_number_url": f"/?{device.query(lang, more='1', package=str(payment.package_id))}#phone",
            "pay_by_hand": await pay_by_hand(state, site, lang),
        },
        status_code=status_code,
        switch_url=payment_url(ref, other(lang), device),
    )


def _payee(db: Connection, payment: payments.Payment) -> str:
    return accounts.get(db, payment.mpesa_account_id).name


def _prompt_seconds_left(state: State, payment: payments.Payment) -> int:
    age = (state.services.clock.now() - payment.created_at).total_seconds()
    return max(0, int(PROMPT_SECONDS - age))


async def _status(state: State, payment: payments.Payment, lang: str) -> dict:
    """Where the payment stands, for the page and for /status: `view` is what the page shows."""
    if payment.state in payments.OPEN:
        return {"view": "waiting", "message": _say_result(lang, STILL_WAITING)}
    if payment.state == "unknown":
        return await _unknown(state, payment, lang)
    if payment.state == "paid" and payment.access_session_id is None:
        return {"view": "connecting", "message": _say_result(lang, PAID)}
    # A refund leaves the access it bought alone (ending it is the owner's separate act): while the
    # access lasts, the page says what the access is, not what happened to the money.
    if payment.state in ("paid", "reversed") and payment.access_session_id is not None:
        status = await state.services.store.read(
            sessions.session_status, state.services.clock, payment.access_session_id
        )
        if (status.router_id, status.mac) != (payment.router_id, payment.mac):
            return _ended(lang, "moved")
        if status.state == "active":
            return {"view": "online", "message": i18n.say(lang, "online"), "session": status}
        if status.state == "pending":
            view = connecting_view(state.services.clock, payment)
            return {"view": view, "message": _say_result(lang, PAID), "session": status}
    if payment.state == "reversed":
        return _ended(lang, "refunded")
    if payment.state == "paid":
        return _ended(lang, "time_over")
    outcome = payment.outcome or result_codes.describe(result_codes.EXPIRED)
    return {
        "view": "failed",
        "message": i18n.say(lang, outcome.message),
        "headline": i18n.say(lang, "failed"),
        "reason": i18n.say(lang, outcome.message),
        "can_retry": outcome.retry,  # else the same prompt fails the same way: another number, or by hand
        "other_number": outcome.category == result_codes.DECLINED,  # a rule on the payer's M-Pesa account
    }


async def _unknown(state: State, payment: payments.Payment, lang: str) -> dict:
    """M-Pesa's answer never came: say so honestly, and where the receipt the payer typed stands."""
    receipt = payment.typed_receipt
    checks = await state.services.store.read(receipt_checks.of_payment, payment.id) if receipt else []
    latest = next((check for check in checks if check.receipt == receipt), None)
    if receipt is None:
        message = i18n.say(lang, "payment_unknown_detail")
    elif latest is not None and latest.state == "answered":
        message = i18n.say(lang, "receipt_not_confirmed", receipt=receipt)  # else it would be paid
    elif latest is not None and latest.state == "asked":
        message = i18n.say(lang, "receipt_checking", receipt=receipt)
    else:
        message = i18n.say(lang, "receipt_with_attendant", receipt=receipt)
    return {"view": "unknown", "message": message, "headline": i18n.say(lang, "payment_unknown")}


def _say_result(lang: str, code: str) -> str:
    return i18n.say(lang, result_codes.describe(code).message)


def _ended(lang: str, why: str) -> dict:
    """Nothing more this payment can do for this device: its time is over, moved away, or refunded."""
    headline = i18n.say(lang, why)
    reason = i18n.say(lang, f"{why}_detail")
    return {"view": "over", "message": headline, "headline": headline, "reason": reason}


@readable("/pay/{ref:str}/status")
async def payment_status(
    request: Request,
    state: State,
    ref: FromPath[str],
    lang: FromQuery[str | None] = None,
    view: FromQuery[str | None] = None,
    message: FromQuery[str | None] = None,
) -> dict:
    """For the waiting page's script and for anyone polling: no personal data beyond the masked phone.
    With `view` (and `message`), what the asker shows now: a long poll, answered as soon as that
    changes, or after LONG_POLL_SECONDS with the same."""
    lang = language_of(request, lang)
    store = state.services.store
    until = asyncio.get_running_loop().time() + LONG_POLL_SECONDS
    while True:
        seen = store.changes.count
        payment = await store.read(payments.by_ref, ref)
        if payment is None:
            raise NotFoundException("no such payment")
        status = await _status(state, payment, lang)
        left = until - asyncio.get_running_loop().time()
        if (
            view is None
            or (status["view"], status["message"]) != (view, message or status["message"])
            or left <= 0
        ):
            break
        await asyncio.sleep(RECHECK_GAP)  # a burst of writes costs one read
        await store.changes.after(seen, left)
    answer = {
        "state": "failed" if payment.state == "reversed" else payment.state,
        "view": status["view"],
        "message": status["message"],
        "phone": formats.masked_phone(payment.phone),
    }
    if status["view"] == "online":
        session = status["session"]
        expires_at = to_text(session.expires_at) if session.expires_at else None
        answer["session"] = {"expires_at": expires_at, "seconds_left": session.seconds_left}
    return answer


@post("/pay/{ref:str}/retry")
async def retry(request: Request, state: State, ref: FromPath[str]) -> Template | Redirect:
    """Try again (after a failure) or send the prompt again (the phone never showed it)."""
    lang, payment, device = await _posted_about(request, state, ref)
    if payment is None:
        return not_a_customer(lang)
    if payment.state in payments.OPEN:
        # M-Pesa takes one prompt at a time per phone: this one must end first (its countdown says when).
        return Redirect(payment_url(ref, lang, device, notice="resend_wait"), status_code=303)
    if payment.state not in ("failed", "expired"):  # paid: a late tap must not charge the payer twice
        return Redirect(payment_url(ref, lang, device), status_code=303)
    site = await site_for(state, device.router)
    # Whoever was shown the payment's page may try again; the router's word sets only the limits.
    address, asker = await who_asks(request, state, site, device)
    try:
        again = await state.services.checkout.start(
            tenant_id=payment.tenant_id,
            package_id=payment.package_id,
            phone=payment.phone,
            router_id=payment.router_id,
            mac=payment.mac,
            ip=payment.ip,
            client_address=address,
            own_address=asker is Asker.DEVICE,
        )
    except PaymentError as error:
        why = _why_not(lang, error)
        return await _choose(state, lang, site, device, chosen=payment.package_id, error=why, status_code=400)
    return Redirect(payment_url(again.ref, lang, device), status_code=303)


@post("/pay/{ref:str}/cancel")
async def cancel(request: Request, state: State, ref: FromPath[str]) -> Template | Redirect:
    """The payer gives up on the prompt: the phone is free to pay again at once, and the page says the
    prompt may still show (M-Pesa can't take it back). Paid all the same, it still goes online."""
    lang, payment, device = await _posted_about(request, state, ref)
    if payment is None:
        return not_a_customer(lang)
    services = state.services
    await services.store.write(_cancel, services.clock, payment.id)
    return Redirect(payment_url(ref, lang, device), status_code=303)


def _cancel(db: Connection, clock: Clock, payment_id: int) -> None:
    if payments.cancel(db, clock, payment_id):  # else settled meanwhile: the page says how
        payments.record(db, clock, payment_id, "cancelled", "payer")


@post("/pay/{ref:str}/receipt")
async def payment_receipt(request: Request, state: State, ref: FromPath[str]) -> Template | Redirect:
    """The receipt from the payer's M-Pesa SMS, for a payment whose outcome is unknown: kept, and asked
    of M-Pesa where the account can ask. It pays nothing by itself."""
    lang, payment, device = await _posted_about(request, state, ref)
    if payment is None:
        return not_a_customer(lang)
    services = state.services
    typed = form_fields(await request.form()).get("receipt", "")[:64]
    try:
        payment, receipt = await services.store.write(receipt_checks.type_receipt, services.clock, ref, typed)
    except ReceiptRefused as refused:
        if refused.reason != "not_a_receipt":  # settled meanwhile: the page says how
            return Redirect(payment_url(ref, lang, device), status_code=303)
        error = i18n.say(lang, "receipt_format")
        return await _payment_page(
            state, lang, payment, device, receipt_error=error, typed=typed, status_code=400
        )
    if await services.receipt_checks.can_ask(payment):
        with contextlib.suppress(ReceiptRefused):  # asked too often, or settled: the attendant decides
            await services.receipt_checks.ask(payment, receipt, "customer")
    return Redirect(payment_url(ref, lang, device), status_code=303)
