"""The page of a device that has time: online, or being connected (the router has not confirmed yet).

It is where paying ends, and where a device with time lands when it comes back to the splash page."""

from datetime import timedelta

from litestar.datastructures import State
from litestar.response import Template

from ... import i18n
from ...access import routers, sessions
from ...billing import c2b, payments
from ...clock import Clock
from ...i18n import formats
from ...store import Connection
from .pages import Device, Site, device_context, my_time_url, other, page, payment_url

# How long a paid device waits for its router before its page stops saying only "connecting": by then
# the device has likely left the Wi-Fi (the payer was in the M-Pesa menu), or the router is down.
CONNECT_BOUND = timedelta(seconds=60)
# In its last minutes, the online page warns that the time is ending: buy more before being cut off.
ENDING_SECONDS = 5 * 60
# "My time" waits this long at most for the router's byte counts; a router that is down costs no more.
DATA_LEFT_WAIT = 1.5
MB = 1000**2


def connecting_view(clock: Clock, payment: payments.Payment | None) -> str:
    """'connecting'; 'stuck' once the payment is a minute paid and its device still not online, when the
    page shows what the payer has (the receipt, the access code), how to use it, and the help line."""
    paid_at = payment.paid_at if payment is not None else None
    return "stuck" if paid_at is not None and clock.now() - paid_at >= CONNECT_BOUND else "connecting"


async def session_page(
    state: State,
    lang: str,
    site: Site,
    device: Device,
    session_id: int,
    *,
    payment=None,
    welcome=False,
    mine=False,
) -> Template:
    """The device's time. `mine`: as "my time" (`/me`), the page the payer comes back to, its access
    code behind a tap (not read over a shoulder)."""
    services = state.services
    status = await services.store.read(sessions.session_status, services.clock, session_id)
    access_code = ""
    if payment is not None:
        # Only on the page of the payment (its reference is unguessable), never on a page found by a MAC
        # address: anyone can claim any MAC in a URL, and the code moves the time to whoever types it.
        access_code = await services.store.read(sessions.access_code, services.vault, session_id)
    expires_local = ""
    if status.expires_at:
        # The day too, as Kenyans write it, when it is not today: a week's package ends on another day.
        expires_local = formats.end_time(
            status.expires_at, services.settings.store.timezone, services.clock.now()
        )
    seconds_left = status.seconds_left or 0
    # Money by hand this time was bought with, not spent yet: the customer's, told without its receipt
    # (a page found by a MAC address must not show a code that moves time).
    credit = await services.store.read(c2b.credit_of_session, session_id)
    view = "online" if status.state == "active" else connecting_view(services.clock, payment)
    data_left = await _data_left(state, session_id) if mine and view == "online" else None
    return page(
        "payment",
        lang,
        device_context(lang, site, device)
        | {
            "view": view,
            "welcome": welcome,
            "live": view != "online",
            # A page reached by a code has no payment to poll: it refreshes itself while connecting.
            "poll_url": f"/pay/{payment.ref}/status" if payment else "",
            "here_url": my_time_url(lang)
            if mine
            else payment_url(payment.ref, lang, device)
            if payment
            else "",
            "receipt": payment.receipt if payment else "",
            "seconds_left": seconds_left,
            "clock_scale": services.clock.scale,
            # Whole minutes, rounded up: an hour just bought is "1 hour", not "59 minutes".
            "time_left": formats.duration(lang, -(-seconds_left // 60) * 60),
            "expires_local": expires_local,
            "access_code": access_code,
            "mine": mine,
            "ending_seconds": ENDING_SECONDS,
            # Whole megabytes, rounded down: never more than is left.
            "data_left": "" if data_left is None else formats.data_size(data_left // MB * MB) or "0 MB",
            "notice": i18n.say(lang, "credit_left", credit=credit) if credit else "",
        },
        switch_url=(
            my_time_url(other(lang))
            if mine
            else payment_url(payment.ref, other(lang), device)
            if payment
            else f"/?{device.query(other(lang))}"
        ),
        # The code moves the time to whoever types it: no cache keeps it.
        no_store=bool(access_code),
        # The payment whose page this is, for "my time" to find again: its reference is the proof.
        my_payment=payment.ref if payment else "",
    )


def _session_and_router(db: Connection, session_id: int) -> tuple[sessions.Session, routers.Router]:
    session = sessions.get(db, session_id)
    return session, routers.get(db, session.router_id)


async def _data_left(state: State, session_id: int) -> int | None:
    """What a session with a data cap may still move on its device: the cap, less what it used on
    devices it has left, less what the router counts on this one now. None with no cap, or when the
    router can't say within DATA_LEFT_WAIT: nothing is better than a wrong figure."""
    services = state.services
    session, router = await services.store.read(_session_and_router, session_id)
    left = session.data_left()
    if left is None:
        return None
    used = await routers.usage_now(
        services.gateways, services.vault, router, session.mac, session.id, DATA_LEFT_WAIT
    )
    return None if used is None else max(left - used, 0)
