"""`/reconnect`: an access code, a voucher or an M-Pesa receipt gives this device access.

A code moves the time it bought to the device that types it; a voucher or a receipt not used before
buys its package. Guessing is throttled per device and per address."""

from litestar import Request, post
from litestar.datastructures import State
from litestar.response import Redirect, Template

from ... import i18n
from ...billing.redemption import CodeRefused, redeem_code
from ...throttle import Throttle
from ..addresses import client_address
from ..forms import form_fields
from .pages import Device, Site, customer, device_context, not_a_customer, other, page, pay_by_hand, readable

# Code tries an address gets, in devices' worth: customers behind one NAT share it.
DEVICES_PER_ADDRESS = 10


@readable("/reconnect")
async def reconnect_form(request: Request, state: State) -> Template:
    lang, device, site = await customer(state, request.query_params)
    if site is None:
        return not_a_customer(lang)
    return await _reconnect_page(state, lang, site, device)


async def _reconnect_page(
    state: State, lang: str, site: Site, device: Device, *, code="", error="", status_code=200
):
    return page(
        "reconnect",
        lang,
        device_context(lang, site, device)
        | {"code": code, "error": error, "pay_by_hand": await pay_by_hand(state, site, lang)},
        status_code=status_code,
        switch_url=f"/reconnect?{device.query(other(lang))}",
    )


@post("/reconnect")
async def reconnect(request: Request, state: State) -> Template | Redirect:
    """An access code, a voucher or an M-Pesa receipt → access for this device."""
    form = form_fields(await request.form())
    lang, device, site = await customer(state, form)
    if site is None:
        return not_a_customer(lang)
    services = state.services
    throttle: Throttle = services.code_throttle
    address = client_address(request, services.settings.server.trusted_proxies)
    per_device = services.settings.limits.code_attempts_per_hour
    # Behind a router that masquerades, every customer comes from one address: it gets many devices'
    # worth of tries. A right code gives its try back.
    tries = {f"mac:{device.mac}": per_device, f"ip:{address}": per_device * DEVICES_PER_ADDRESS}
    typed = form.get("code", "")[:64]
    if not throttle.may_try(tries):
        return await _reconnect_page(
            state, lang, site, device, code=typed, error=i18n.say(lang, "too_many"), status_code=429
        )
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
        return await _reconnect_page(
            state, lang, site, device, code=typed, error=i18n.say(lang, refused.reason), status_code=400
        )
    for key in tries:  # a right code is no guess
        throttle.forgive(key)
    services.jobs.wake()
    # To the device's own page, which can be reloaded (and reloads itself until the device is online).
    return Redirect(f"/?{device.query(lang)}", status_code=303)
