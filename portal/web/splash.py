"""The customer's pages: from the router's redirect to online.

Every page carries the device (router, MAC, IP, where it was going) in its links and forms, never in a
cookie: the phone's captive-portal window may not keep one. A payment's page is found by its public
reference, which is unguessable; it shows no personal data beyond the masked phone number.
"""

import ipaddress
import re
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Request, post, route
from litestar.datastructures import State
from litestar.enums import HttpMethod
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Redirect, Template

from .. import packages, payments, phones, sessions
from ..claims import CodeRefused, use_code
from ..clock import from_text
from ..mpesa import codes
from ..numbers import whole
from ..routers import LOGIN_PAGE_PATH
from ..throttle import Throttle
from . import words
from .addresses import client_address
from .forms import form_fields

MAC = re.compile(r"^[0-9A-F]{2}([:-]?[0-9A-F]{2}){5}$")
STILL_WAITING, PAID = "4999", "0"  # Daraja's codes, for what the payer is told meanwhile
PROMPT_SECONDS = 60  # how long the M-Pesa prompt stays on the phone (reference/daraja.md §9)


def readable(path: str, **options: Any):
    """A customer page, answering HEAD as well as GET: phones and link previews ask with HEAD."""
    return route(path, http_method=[HttpMethod.GET, HttpMethod.HEAD], **options)


# Code tries an address gets, in devices' worth: customers behind one NAT share it.
DEVICES_PER_ADDRESS = 10


@dataclass(frozen=True)
class Device:
    """What the router told us about the customer's device, checked."""

    router: str
    mac: str
    ip: str
    link_orig: str = ""

    @classmethod
    def parse(
        cls, router: str | None, mac: str | None, ip: str | None, link_orig: str | None
    ) -> "Device | None":
        mac = (mac or "").strip().upper()
        if not router or not mac or not MAC.match(mac):
            return None
        try:
            ipaddress.ip_address((ip or "").strip())
        except ValueError:
            return None
        plain = mac.replace(":", "").replace("-", "")
        return cls(
            router=router.strip(),
            mac=":".join(plain[i : i + 2] for i in range(0, 12, 2)),
            ip=ip.strip(),
            link_orig=_http_only(link_orig),
        )

    @classmethod
    def read(cls, fields: Any) -> "Device | None":
        """The device named by a query string or a form: the router's redirect, passed along."""
        return cls.parse(fields.get("router"), fields.get("mac"), fields.get("ip"), fields.get("link-orig"))

    def query(self, lang: str, **extra: str) -> str:
        return urlencode(
            {"router": self.router, "mac": self.mac, "ip": self.ip, "link-orig": self.link_orig, "lang": lang}
            | extra
        )


def _http_only(url: str | None) -> str:
    """Links we send the customer on to must be plain web addresses (never javascript: and the like)."""
    url = (url or "").strip()
    return url if url.startswith(("http://", "https://")) else ""


async def site_for(state: State, router_name: str):
    """The router the device is behind, with its tenant and the M-Pesa account that takes payments there."""
    return await state.services.db.fetchone(
        "SELECT routers.id AS router_id, routers.tenant_id, tenants.name, tenants.support_phone,"
        " coalesce(routers.mpesa_account_id,"
        "  (SELECT min(id) FROM mpesa_accounts WHERE tenant_id = routers.tenant_id)) AS mpesa_account_id"
        " FROM routers JOIN tenants ON tenants.id = routers.tenant_id WHERE routers.name = ?",
        (router_name,),
    )


def page(name: str, lang: str, context: dict, *, status_code: int = 200, switch_url: str = "") -> Template:
    return Template(
        template_name=f"splash/{name}.html",
        context={
            "lang": lang,
            "t": lambda key, **values: words.say(lang, key, **values),
            "duration": lambda seconds: words.duration(lang, seconds),
            "speed": lambda rate: words.speed(lang, rate),
            "data_size": words.data_size,
            "money": words.money,
            "other_language_url": switch_url,
        }
        | context,
        status_code=status_code,
    )


NOBODY = {"name": "Wi-Fi", "support_phone": ""}


def not_a_customer(lang: str) -> Template:
    return page("not_a_customer", lang, {"tenant": NOBODY}, status_code=404)


def other(lang: str) -> str:
    return "sw" if lang == "en" else "en"


# -- choosing a package ----------------------------------------------------------------------------------


async def _customer(state: State, fields: Any) -> tuple[str, Device | None, Any]:
    """The language, device and site (tenant and router) a customer's request names; no site, no customer."""
    lang = words.language(fields.get("lang"))
    device = Device.read(fields)
    return lang, device, await site_for(state, device.router) if device else None


@readable("/")
async def splash(request: Request, state: State) -> Template:
    lang, device, site = await _customer(state, request.query_params)
    if site is None:
        return not_a_customer(lang)
    if request.query_params.get("more"):  # the packages asked for: to buy more time, or instead
        return await _choose(state, lang, site, device)
    live = await _live_session(state, site["router_id"], device.mac)
    if live is not None:
        if live["state"] == "active":
            # Sent here by the router, so it has lost this device's login (a reboot, a roam): log it in.
            async with state.services.db.transaction() as tx:
                if await sessions.log_in_again(tx, state.services.clock, live["id"]):
                    state.services.sessions.wake()
        return await _session_page(state, lang, site, device, live["id"], welcome=True)
    if await payments.open_payment_of_device(state.services.db, site["router_id"], device.mac):
        # Its prompt is still open (the captive window may have closed on it): say so, and follow it.
        # Not by sending the device to the payment's own page: a MAC in a URL proves nothing, and that
        # page's reference is what shows the access code.
        context = _common(lang, site, device) | {"view": "device_waiting", "live": True, "poll_url": ""}
        return page("payment", lang, context, switch_url=f"/?{device.query(other(lang))}")
    ended = await sessions.ended_lately(
        state.services.db, state.services.clock, site["router_id"], device.mac
    )
    return await _choose(state, lang, site, device, notice=words.say(lang, "time_over") if ended else "")


async def _live_session(state: State, router_id: int, mac: str):
    return await state.services.db.fetchone(
        "SELECT id, state FROM access_sessions"
        " WHERE router_id = ? AND mac = ? AND state IN ('pending', 'active')",
        (router_id, mac),
    )


async def _choose(
    state: State,
    lang: str,
    site,
    device: Device,
    *,
    chosen=None,
    phone="",
    error="",
    notice="",
    status_code=200,
) -> Template:
    return page(
        "index",
        lang,
        {
            "tenant": site,
            "device": device,
            "packages": await packages.for_sale(state.services.db, site["tenant_id"]),
            "can_pay": site["mpesa_account_id"] is not None,
            "chosen": chosen,
            "phone": phone,
            "error": error,
            "notice": notice,
            "reconnect_url": f"/reconnect?{device.query(lang)}",
        },
        status_code=status_code,
        switch_url=f"/?{device.query(other(lang), more='1')}",  # still the packages, in the other language
    )


@post("/pay")
async def pay(request: Request, state: State) -> Template | Redirect:
    form = form_fields(await request.form())
    lang, device, site = await _customer(state, form)
    if site is None:
        return not_a_customer(lang)
    typed_phone = form.get("phone", "")
    package_id = _package_id(form.get("package"))
    offered = {row["id"] for row in await packages.for_sale(state.services.db, site["tenant_id"])}

    def again(error: str) -> Any:
        return _choose(
            state, lang, site, device, chosen=package_id, phone=typed_phone, error=error, status_code=400
        )

    if package_id not in offered:
        return await again(words.say(lang, "pick_package"))
    try:
        payment = await payments.start_payment(
            state.services,
            tenant_id=site["tenant_id"],
            package_id=package_id,
            phone=typed_phone,
            router_id=site["router_id"],
            mac=device.mac,
            ip=device.ip,
        )
    except phones.PhoneError as error:
        return await again(error.english if lang == "en" else error.swahili)
    except payments.PaymentError as error:
        return await again(words.say(lang, _why_not(error)))
    return Redirect(_payment_url(payment.ref, lang, device), status_code=303)


def _why_not(error: payments.PaymentError) -> str:
    """The words for a payment that could not be started."""
    if isinstance(error, payments.TooManyPushes):
        return "too_many_pushes"
    if isinstance(error, payments.PhoneBusy):
        return "phone_busy"
    return "cannot_pay"


def _package_id(text: str | None) -> int | None:
    return whole(text or "")


def _payment_url(ref: str, lang: str, device: Device, **extra: str) -> str:
    return f"/pay/{ref}?" + urlencode({"lang": lang, "link-orig": device.link_orig} | extra)


# -- following a payment ---------------------------------------------------------------------------------


async def _payment_and_device(state: State, ref: str, link_orig: str | None):
    """The payment behind a reference, and the device it is for; (None, None) if there is no such payment."""
    payment = await payments.payment_by_ref(state.services.db, ref)
    if payment is None or payment.router_id is None or payment.mac is None:
        return None, None
    router = await state.services.db.fetchval("SELECT name FROM routers WHERE id = ?", (payment.router_id,))
    return payment, Device(router, payment.mac, payment.ip or "", _http_only(link_orig))


@readable("/pay/{ref:str}")
async def payment_page(
    state: State,
    ref: FromPath[str],
    link_orig: Annotated[str | None, QueryParameter(name="link-orig")] = None,
    lang: FromQuery[str | None] = None,
    notice: FromQuery[str | None] = None,
) -> Template:
    lang = words.language(lang)
    payment, device = await _payment_and_device(state, ref, link_orig)
    if payment is None:
        return not_a_customer(lang)
    site = await site_for(state, device.router)
    status = await _status(state, payment, lang)
    if status["view"] in ("online", "connecting") and payment.access_session_id:
        return await _session_page(state, lang, site, device, payment.access_session_id, payment=payment)
    return page(
        "payment",
        lang,
        _common(lang, site, device)
        | status
        | {
            "live": status["view"] == "waiting",
            "poll_url": f"/pay/{ref}/status",
            "retry_url": f"/pay/{ref}/retry",
            "masked_phone": phones.mask(payment.phone),
            "amount": payment.amount,
            "payee": site["name"],
            "prompt_seconds_left": _prompt_seconds_left(state, payment),
            "notice": words.say(lang, "resend_wait") if notice == "resend_wait" else "",
            "pay_by_hand": await _pay_by_hand(state, site, lang),
        },
        switch_url=_payment_url(ref, other(lang), device),
    )


def _common(lang: str, site, device: Device) -> dict:
    return {
        "tenant": site,
        "device": device,
        "link_orig": device.link_orig,
        "packages_url": f"/?{device.query(lang, more='1')}",  # the packages, whatever is open or online
        "reconnect_url": f"/reconnect?{device.query(lang)}",
    }


def _prompt_seconds_left(state: State, payment: payments.Payment) -> int:
    age = (state.services.clock.now() - payment.created_at).total_seconds()
    return max(0, int(PROMPT_SECONDS - age))


async def _status(state: State, payment: payments.Payment, lang: str) -> dict:
    """Where the payment stands, for the page and for /status: `view` is what the page shows."""
    if payment.state in payments.OPEN:
        return {"view": "waiting", "message": codes.describe(STILL_WAITING).say(lang)}
    if payment.state == "paid" and payment.access_session_id is None:
        return {"view": "connecting", "message": codes.describe(PAID).say(lang)}
    # A refund leaves the access it bought alone (ending it is the owner's separate act): while the
    # access lasts, the page says what the access is, not what happened to the money.
    if payment.state in ("paid", "reversed") and payment.access_session_id is not None:
        status = await sessions.session_status(
            state.services.db, state.services.clock, payment.access_session_id
        )
        if (status.router_id, status.mac) != (payment.router_id, payment.mac):
            return _ended(lang, "moved")
        if status.state == "active":
            return {"view": "online", "message": words.say(lang, "online"), "session": status}
        if status.state == "pending":
            return {"view": "connecting", "message": codes.describe(PAID).say(lang), "session": status}
    if payment.state == "reversed":
        return _ended(lang, "refunded")
    if payment.state == "paid":
        return _ended(lang, "time_over")
    outcome = payment.outcome or codes.describe(codes.EXPIRED)
    return {
        "view": "failed",
        "message": outcome.say(lang),
        "headline": words.say(lang, "failed"),
        "reason": outcome.say(lang),
        "can_retry": outcome.retry,  # else the same prompt fails the same way: another number, or by hand
        "other_number": outcome.category == codes.DECLINED,  # a rule on the payer's M-Pesa account
    }


def _ended(lang: str, why: str) -> dict:
    """Nothing more this payment can do for this device: its time is over, moved away, or refunded."""
    headline = words.say(lang, why)
    reason = words.say(lang, f"{why}_detail")
    return {"view": "over", "message": headline, "headline": headline, "reason": reason}


@readable("/pay/{ref:str}/status")
async def payment_status(state: State, ref: FromPath[str], lang: FromQuery[str | None] = None) -> dict:
    """For the waiting page's script and for anyone polling: no personal data beyond the masked phone."""
    lang = words.language(lang)
    payment = await payments.payment_by_ref(state.services.db, ref)
    if payment is None:
        raise NotFoundException("no such payment")
    status = await _status(state, payment, lang)
    answer = {
        "state": "failed" if payment.state == "reversed" else payment.state,
        "view": status["view"],
        "message": status["message"],
        "phone": phones.mask(payment.phone),
    }
    if status["view"] == "online":
        session = status["session"]
        answer["session"] = {"expires_at": session.expires_at, "seconds_left": session.seconds_left}
    return answer


@post("/pay/{ref:str}/retry")
async def retry(request: Request, state: State, ref: FromPath[str]) -> Template | Redirect:
    """Try again (after a failure) or send the prompt again (the phone never showed it)."""
    form = form_fields(await request.form())
    lang = words.language(form.get("lang"))
    payment, device = await _payment_and_device(state, ref, form.get("link-orig"))
    if payment is None:
        return not_a_customer(lang)
    if payment.state in payments.OPEN:
        # M-Pesa takes one prompt at a time per phone: this one must end first (its countdown says when).
        return Redirect(_payment_url(ref, lang, device, notice="resend_wait"), status_code=303)
    if payment.state not in ("failed", "expired"):  # paid: a late tap must not charge the payer twice
        return Redirect(_payment_url(ref, lang, device), status_code=303)
    site = await site_for(state, device.router)
    try:
        again = await payments.start_payment(
            state.services,
            tenant_id=payment.tenant_id,
            package_id=payment.package_id,
            phone=payment.phone,
            router_id=payment.router_id,
            mac=payment.mac,
            ip=payment.ip,
        )
    except payments.PaymentError as error:
        why = words.say(lang, _why_not(error))
        return await _choose(state, lang, site, device, chosen=payment.package_id, error=why, status_code=400)
    return Redirect(_payment_url(again.ref, lang, device), status_code=303)


async def _pay_by_hand(state: State, site, lang: str) -> str:
    """How to pay from the M-Pesa menu, for when the prompt never comes; then the receipt is the code."""
    if site["mpesa_account_id"] is None:
        return ""
    account = await state.services.db.fetchone(
        "SELECT kind, shortcode, till_number, c2b_registered_at FROM mpesa_accounts WHERE id = ?",
        (site["mpesa_account_id"],),
    )
    if account["c2b_registered_at"] is None:
        return ""  # Daraja would not tell us of the money: nobody is sent to pay that way
    if account["kind"] == "till":
        how = words.say(lang, "till_how", till=account["till_number"] or account["shortcode"])
    else:
        how = words.say(lang, "paybill_how", shortcode=account["shortcode"], account="WIFI")
    return words.say(lang, "pay_by_hand", how=how)


# -- online, and coming back -----------------------------------------------------------------------------


async def _session_page(
    state: State, lang: str, site, device: Device, session_id: int, *, payment=None, welcome=False
) -> Template:
    services = state.services
    status = await sessions.session_status(services.db, services.clock, session_id)
    access_code = ""
    if payment is not None:
        # Only on the page of the payment (its reference is unguessable), never on a page found by a MAC
        # address: anyone can claim any MAC in a URL, and the code moves the time to whoever types it.
        stored = await services.db.fetchval(
            "SELECT access_code_enc FROM access_sessions WHERE id = ?", (session_id,)
        )
        code = services.vault.decrypt(stored)
        access_code = f"{code[:4]}-{code[4:]}"
    expires_local = ""
    if status.expires_at:
        zone = services.settings.store.timezone
        ends = from_text(status.expires_at).astimezone(zone)
        # The day too, as Kenyans write it, when it is not today: a week's package ends on another day.
        today = ends.date() == services.clock.now().astimezone(zone).date()
        expires_local = ends.strftime("%H:%M" if today else "%H:%M, %d/%m/%Y")
    seconds_left = status.seconds_left or 0
    view = "online" if status.state == "active" else "connecting"
    return page(
        "payment",
        lang,
        _common(lang, site, device)
        | {
            "view": view,
            "welcome": welcome,
            "live": view == "connecting",
            # A page reached by a code has no payment to poll: it refreshes itself while connecting.
            "poll_url": f"/pay/{payment.ref}/status" if payment else "",
            "receipt": payment.receipt if payment else "",
            "seconds_left": seconds_left,
            # Whole minutes, rounded up: an hour just bought is "1 hour", not "59 minutes".
            "time_left": words.duration(lang, -(-seconds_left // 60) * 60),
            "expires_local": expires_local,
            "access_code": access_code,
        },
        switch_url=(
            _payment_url(payment.ref, other(lang), device) if payment else f"/?{device.query(other(lang))}"
        ),
    )


@readable("/reconnect")
async def reconnect_form(request: Request, state: State) -> Template:
    lang, device, site = await _customer(state, request.query_params)
    if site is None:
        return not_a_customer(lang)
    return await _reconnect_page(state, lang, site, device)


async def _reconnect_page(
    state: State, lang: str, site, device: Device, *, code="", error="", status_code=200
):
    return page(
        "reconnect",
        lang,
        _common(lang, site, device)
        | {"code": code, "error": error, "pay_by_hand": await _pay_by_hand(state, site, lang)},
        status_code=status_code,
        switch_url=f"/reconnect?{device.query(other(lang))}",
    )


@post("/reconnect")
async def reconnect(request: Request, state: State) -> Template | Redirect:
    """An access code, a voucher or an M-Pesa receipt → access for this device."""
    form = form_fields(await request.form())
    lang, device, site = await _customer(state, form)
    if site is None:
        return not_a_customer(lang)
    services = state.services
    throttle: Throttle = state.code_throttle
    address = client_address(request, services.settings.server.trusted_proxies)
    per_device = services.settings.limits.code_attempts_per_hour
    # Behind a router that masquerades, every customer comes from one address: it gets many devices'
    # worth of tries. A right code gives its try back.
    tries = {f"mac:{device.mac}": per_device, f"ip:{address}": per_device * DEVICES_PER_ADDRESS}
    typed = form.get("code", "")[:64]
    if not throttle.may_try(tries):
        return await _reconnect_page(
            state, lang, site, device, code=typed, error=words.say(lang, "too_many"), status_code=429
        )
    try:
        async with services.db.transaction() as tx:
            await use_code(
                tx,
                services.clock,
                services.vault,
                tenant_id=site["tenant_id"],
                router_id=site["router_id"],
                mac=device.mac,
                ip=device.ip,
                typed=typed,
            )
    except CodeRefused as refused:
        return await _reconnect_page(
            state, lang, site, device, code=typed, error=words.say(lang, refused.reason), status_code=400
        )
    for key in tries:  # a right code is no guess
        throttle.forgive(key)
    services.sessions.wake()
    # To the device's own page, which can be reloaded (and reloads itself until the device is online).
    return Redirect(f"/?{device.query(lang)}", status_code=303)


# -- the router's own login page -------------------------------------------------------------------------


@readable(LOGIN_PAGE_PATH, media_type="text/html")
async def router_login_page(state: State, router: FromQuery[str]) -> Template:
    """What `portal router provision` has each router fetch: its redirect page, naming the router."""
    return Template(
        template_name="hotspot/login.html",
        context={"portal_url": state.services.settings.server.portal_url.rstrip("/"), "router_name": router},
    )


HANDLERS = [splash, pay, payment_page, payment_status, retry, reconnect_form, reconnect, router_login_page]
