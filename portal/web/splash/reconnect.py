"""`/reconnect`: an access code, a voucher or an M-Pesa receipt gives this device access.

A code moves the time it bought to the device that types it; a voucher or a receipt not used before
buys its package. The receipt of a payment whose outcome is unknown is no mistake either: it is being
checked. Guessing is slowed down per device and per address (portal/throttle.py)."""

import contextlib

from litestar import Request, post
from litestar.datastructures import State
from litestar.response import Redirect, Template

from ... import i18n
from ...access.presence import Asker
from ...billing import receipt_checks
from ...billing.checkout import DEVICES_PER_SHARED_ADDRESS
from ...billing.receipt_checks import ReceiptRefused
from ...billing.redemption import CodeRefused, redeem_code
from ...i18n import formats
from ..forms import form_fields
from .pages import (
    ARRIVED,
    Device,
    Site,
    customer,
    device_context,
    not_a_customer,
    other,
    page,
    pay_by_hand,
    readable,
    who_asks,
)


@readable("/reconnect")
async def reconnect_form(request: Request, state: State) -> Template:
    lang, device, site = await customer(request, state, request.query_params)
    if site is None:
        return not_a_customer(lang)
    return await _reconnect_page(state, lang, site, device)


async def _reconnect_page(
    state: State, lang: str, site: Site, device: Device, *, code="", error="", notice="", status_code=200
):
    return page(
        "reconnect",
        lang,
        device_context(lang, site, device)
        | {
            "code": code,
            "error": error,
            "notice": notice,
            "pay_by_hand": await pay_by_hand(state, site, lang),
        },
        status_code=status_code,
        switch_url=f"/reconnect?{device.query(other(lang))}",
    )


@post("/reconnect")
async def reconnect(request: Request, state: State) -> Template | Redirect:
    """An access code, a voucher or an M-Pesa receipt → access for this device."""
    form = form_fields(await request.form())
    lang, device, site = await customer(request, state, form)
    if site is None:
        return not_a_customer(lang)
    services = state.services
    typed = form.get("code", "")[:64]
    address, asker = await who_asks(request, state, site, device)
    if asker is Asker.STRANGER:
        # The router shows other devices at this address: the form names a device not the asker's.
        error = i18n.say(lang, "not_this_device")
        return await _reconnect_page(state, lang, site, device, code=typed, error=error, status_code=403)
    # A device the router vouches for has tries of its own that nobody else can spend, and a right
    # code from it is taken however slowed its address is by others' guesses. Otherwise the MAC is
    # only what the form says: tries per MAC at this address, and per address, which behind a router
    # that masquerades is every customer's, so it gets many devices' worth.
    per_device = services.settings.limits.code_attempts_per_hour
    if asker is Asker.DEVICE:
        tries = {f"mac:{device.mac}": per_device}
    else:
        tries = {f"mac:{device.mac}@{address}": per_device}
        tries[f"ip:{address}"] = per_device * DEVICES_PER_SHARED_ADDRESS
    if wait := services.code_tries.may_try(tries):
        error = i18n.say(lang, "too_many", wait=formats.wait(lang, wait))
        return await _reconnect_page(state, lang, site, device, code=typed, error=error, status_code=429)
    try:
        await services.store.write(
            redeem_code,
            services.clock,
            services.vault,
            tenant_id=site.tenant_id,
            router_id=site.router_id,
            mac=device.mac,
            ip=device.ip,
            typed=typed,
        )
    except CodeRefused as refused:
        if refused.reason == "code_unknown" and await _receipt_of_unknown_payment(state, site, device, typed):
            said = i18n.say(lang, "receipt_being_checked")
            return await _reconnect_page(state, lang, site, device, code=typed, status_code=202, notice=said)
        said = i18n.say(lang, refused.reason, account=site.wifi_word, **refused.values)
        # Too little money is kept, not lost: what to do next, rather than an error.
        words = {"notice": said} if refused.reason == "amount_too_small" else {"error": said}
        return await _reconnect_page(state, lang, site, device, code=typed, status_code=400, **words)
    for key in tries:  # a right code is no guess
        services.code_tries.forgive(key)
    services.jobs.wake()
    # To the device's own page, which can be reloaded (and reloads itself until the device is online).
    return Redirect(f"/?{device.query(lang, **{ARRIVED: '1'})}", status_code=303)


async def _receipt_of_unknown_payment(state: State, site: Site, device: Device, typed: str) -> bool:
    """Is the code the receipt of a payment whose outcome is unknown (billing/receipt_checks.py)? Then
    it is no mistake: it is kept, and asked of M-Pesa where the account can ask."""
    services = state.services
    payment, new = await services.store.write(
        receipt_checks.receipt_for_device,
        services.clock,
        tenant_id=site.tenant_id,
        router_id=site.router_id,
        mac=device.mac,
        typed=typed,
    )
    if payment is not None and new and await services.receipt_checks.can_ask(payment):
        with contextlib.suppress(ReceiptRefused):  # asked too often: the attendant decides
            await services.receipt_checks.ask(payment, payment.typed_receipt, "customer")
    return payment is not None
