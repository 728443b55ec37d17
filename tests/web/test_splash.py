import asyncio
import html
import json
import re
from dataclasses import replace
from datetime import timedelta
from ipaddress import ip_network

import httpx
import pytest

from portal.access import sessions
from portal.app import create_app
from portal.billing import c2b, vouchers
from portal.cli.demo import DEMO_DEVICE, seed
from portal.clock import to_text
from portal.tenancy.scope import Scope
from portal.web.splash import online as online_page
from portal.web.splash import paying
from portal.web.splash.pages import NEUTRAL_PAGE
from tests.billing.test_c2b import pay_by_hand
from tests.conftest import Hotspot, eventually, execute, rows, serving, value
from tests.seed import insert, insert_account

DEVICE = {
    "router": "cafe-1",
    "mac": "aa-bb-cc-dd-ee-01",
    "ip": "10.5.50.23",
    "link-orig": "http://example.com/",
}


def add_router(db, clock, vault, tenant_id: int) -> None:
    """The router `cafe-1`, taking payments into an M-Pesa account of the business."""
    now = to_text(clock.now())
    account_id = insert_account(db, clock, vault, tenant_id, "Demo Cafe")
    insert(
        db,
        "routers",
        tenant_id=tenant_id,
        name="cafe-1",
        host="127.0.0.1",
        port=8728,
        username="api",
        password_enc=vault.encrypt("pw"),
        mpesa_account_id=account_id,
        created_at=now,
    )


@pytest.fixture
async def site(store, clock, vault):
    demo = await store.write(seed, clock)
    await store.write(add_router, clock, vault, demo.tenant_id)
    return demo


@pytest.fixture
async def portal_url(settings, clock, vault, site):
    async with serving(create_app(settings, clock=clock, vault=vault)) as base:
        yield base


async def test_splash_shows_the_tenant_and_its_packages_as_buttons(portal_url, store):
    await execute(store, "UPDATE packages SET data_cap_bytes = 500000000 WHERE name = '24 hours'")
    async with httpx.AsyncClient() as http:
        page = await http.get(portal_url, params=DEVICE)
    assert page.status_code == 200
    assert "Demo Cafe Wi-Fi" in page.text and "0712 345 678" in page.text
    assert "Safaricom M-Pesa numbers only" in page.text  # beside the phone field, before anyone waits
    assert page.text.count('type="radio" name="package"') == 4
    assert "KES 10" in page.text and "1 hour" in page.text and "up to 2 Mbps" in page.text
    assert "500 MB" in page.text  # the data cap of the package that has one
    assert "24 hours</b>" in page.text and "1 day" not in page.text  # the name says the time already
    assert 'value="AA:BB:CC:DD:EE:01"' in page.text  # the MAC as the router writes it


async def test_splash_speaks_swahili_when_asked(portal_url):
    async with httpx.AsyncClient() as http:
        page = await http.get(portal_url, params=DEVICE | {"lang": "sw"})
    assert "Chagua kifurushi" in page.text and "saa 3" in page.text
    assert 'lang="sw"' in page.text


async def test_the_phones_language_is_taken_the_first_time_then_the_devices_choice_is_remembered(
    portal_url,
):
    swahili_phone = {"Accept-Language": "fr-FR, sw-KE;q=0.9, en;q=0.8"}
    async with httpx.AsyncClient() as http:
        first = await http.get(portal_url, params=DEVICE, headers=swahili_phone)
        assert "Chagua kifurushi" in first.text and first.cookies["lang"] == "sw"
        chosen = await http.get(portal_url, params=DEVICE | {"lang": "en"}, headers=swahili_phone)
        assert "Choose a package" in chosen.text
        # Sent here afresh by the router, with no language in the address: the device's choice.
        again = await http.get(portal_url, params=DEVICE, headers=swahili_phone)
        assert "Choose a package" in again.text
    async with httpx.AsyncClient() as http:
        english_phone = await http.get(portal_url, params=DEVICE, headers={"Accept-Language": "en-GB"})
        assert "Choose a package" in english_phone.text


async def test_swahili_pages_call_the_access_code_one_word_and_name_packages_once(http, hotspot):
    await execute(hotspot.portal.services.store, "UPDATE packages SET name = '24 hours' WHERE name = '1 day'")
    packages_page = await http.get(hotspot.splash_url(lang="sw"))
    assert "saa 1</b>" in packages_page.text and "saa 24</b>" in packages_page.text
    assert "hour" not in packages_page.text  # no English name beside its Swahili duplicate
    assert "Weka msimbo</a>" in packages_page.text and "Weka nambari yako" not in packages_page.text
    location = (await pay(http, hotspot, lang="sw")).headers["location"]
    await answer(hotspot, "success")
    await online(hotspot)
    online_page = await http.get(hotspot.portal.base_url + location)
    reconnect_page = await http.get(
        f"{hotspot.portal.base_url}/reconnect", params=device_form(hotspot, lang="sw")
    )
    assert "Msimbo wako wa kuingia" in online_page.text
    assert "Msimbo wa kuingia, risiti ya M-Pesa au vocha" in reconnect_page.text
    for page in (packages_page, online_page, reconnect_page):
        assert "ufikiaji" not in page.text


@pytest.mark.parametrize(
    "params",
    [{}, DEVICE | {"router": "unknown"}, DEVICE | {"mac": "not-a-mac"}, DEVICE | {"ip": "10.5.50.999"}],
)
async def test_without_a_known_router_and_device_the_page_explains_how_to_connect(portal_url, params):
    async with httpx.AsyncClient() as http:
        page = await http.get(portal_url, params=params)
    assert page.status_code == 404
    assert "Connect to the Wi-Fi first" in page.text


async def test_only_plain_web_links_are_carried_on(portal_url):
    async with httpx.AsyncClient() as http:
        page = await http.get(portal_url, params=DEVICE | {"link-orig": "javascript:alert(1)"})
    assert "javascript:" not in page.text


async def test_a_huge_link_orig_is_dropped_not_echoed_in_every_link(portal_url):
    huge = "http://example.com/?" + "x" * 10_000
    async with httpx.AsyncClient() as http:
        page = await http.get(portal_url, params=DEVICE | {"link-orig": huge})
        plain = await http.get(portal_url, params=DEVICE)
    assert page.status_code == 200 and "xxxxxxxx" not in page.text
    assert len(page.content) <= len(plain.content)


# -- the whole flow, on the simulators -------------------------------------------------------------------

OTHER_DEVICE = ("AA:BB:CC:00:00:02", "10.5.50.3")


def device_form(hotspot: Hotspot, mac: str = DEMO_DEVICE[0], ip: str = DEMO_DEVICE[1], **fields) -> dict:
    return {
        "router": hotspot.router,
        "mac": mac,
        "ip": ip,
        "link-orig": "http://example.com/",
        "lang": "en",
    } | fields


async def pay(
    http, hotspot: Hotspot, phone="0712 345 678", package="1", headers=None, **device
) -> httpx.Response:
    return await http.post(
        f"{hotspot.portal.base_url}/pay",
        data=device_form(hotspot, **device) | {"phone": phone, "package": package},
        headers=headers,
    )


def seen_at(address: str) -> dict[str, str]:
    """A request the portal sees come from `address` (through the proxy it trusts here, on loopback),
    as a customer's comes from their device's address on the hotspot."""
    return {"X-Forwarded-For": address}


async def answer(hotspot: Hotspot, outcome: str) -> None:
    """The payer answers the newest prompt on the fake phone; Daraja calls the portal back."""
    [prompt] = hotspot.daraja.sim.pending_prompts()
    hotspot.daraja.sim.answer(prompt.checkout_request_id, outcome)
    await hotspot.daraja.sim.settle()


async def status(http, hotspot: Hotspot, location: str) -> dict:
    return (await http.get(f"{hotspot.portal.base_url}{location.split('?')[0]}/status")).json()


async def register_c2b_urls(hotspot: Hotspot) -> None:
    """Tells Daraja where to post the account's payments by hand, as the portal's job does."""
    await hotspot.portal.services.jobs.register_c2b_urls()


async def online(hotspot: Hotspot, mac: str = DEMO_DEVICE[0], expected: bool = True) -> None:
    """Waits until the router has (or no longer has) the device, and the portal has heard so."""

    async def check():
        confirmed = await value(
            hotspot.portal.services.store,
            "SELECT count(*) FROM access_sessions WHERE mac = ? AND state = 'active'"
            " AND NOT EXISTS (SELECT 1 FROM router_tasks WHERE state = 'queued')",
            (mac,),
        )
        return hotspot.emulator.has_access(mac) == expected == bool(confirmed)

    await eventually(check)


async def test_paying_takes_the_device_from_the_packages_to_online_on_the_router(http, hotspot, vault):
    response = await pay(http, hotspot)
    assert response.status_code == 303
    location = response.headers["location"]
    ref = location.split("/pay/")[1].split("?")[0]
    assert re.fullmatch(r"[0-9a-f]{16}", ref)  # unguessable, and not the phone number
    waiting = await http.get(hotspot.portal.base_url + location)
    assert "Check your phone" in waiting.text and "0712 ••• 678" in waiting.text
    assert "<title>Check your phone · Demo Cafe Wi-Fi</title>" in waiting.text
    assert await status(http, hotspot, location) == {
        "state": "pending",
        "view": "waiting",
        "message": "Enter your M-Pesa PIN on your phone to pay.",
        "phone": "0712 ••• 678",
    }

    await answer(hotspot, "success")
    await online(hotspot)
    after = await status(http, hotspot, location)
    assert (after["state"], after["view"]) == ("paid", "online")
    assert after["session"]["seconds_left"] == 3600  # the clock stood still: the whole hour is left
    assert "254712345678" not in json.dumps(after)
    page = await http.get(hotspot.portal.base_url + location)
    assert "You&#39;re online" in page.text and 'href="http://example.com/"' in page.text
    assert page.headers["cache-control"] == "no-store"  # it shows the access code
    assert "<title>You&#39;re online · Demo Cafe Wi-Fi</title>" in page.text
    code = re.search(r'id="access-code">([^<]+)<', page.text).group(1)
    stored = await value(hotspot.portal.services.store, "SELECT access_code_enc FROM access_sessions")
    assert code.replace("-", "") == vault.decrypt(stored)


@pytest.mark.parametrize("lang", ["en", "sw"])
async def test_the_waiting_page_names_the_payee_and_account_the_prompt_shows(http, hotspot, lang):
    location = (await pay(http, hotspot, lang=lang)).headers["location"]
    [prompt] = hotspot.daraja.sim.pending_prompts()
    waiting = await http.get(hotspot.portal.base_url + location)
    words = {"en": "to {}, account {}", "sw": "kwa {}, akaunti {}"}[lang]
    assert words.format(prompt.merchant, prompt.account_reference) in waiting.text
    assert prompt.merchant == "Demo Cafe" and "Demo Cafe Wi-Fi," not in waiting.text


@pytest.mark.parametrize(
    ("link_orig", "continues_to"),
    [
        ("http://connectivitycheck.gstatic.com/generate_204", NEUTRAL_PAGE),
        ("http://clients3.google.com/generate_204", NEUTRAL_PAGE),
        ("http://www.google.com/gen_204", NEUTRAL_PAGE),
        ("http://captive.apple.com/hotspot-detect.html", NEUTRAL_PAGE),
        ("http://www.msftconnecttest.com/redirect", NEUTRAL_PAGE),
        ("", NEUTRAL_PAGE),
        ("http://news.example.co.ke/today", "http://news.example.co.ke/today"),
    ],
)
async def test_continue_browsing_never_leads_to_a_phones_connectivity_check(
    http, hotspot, link_orig, continues_to
):
    location = (await pay(http, hotspot, **{"link-orig": link_orig})).headers["location"]
    await answer(hotspot, "success")
    await online(hotspot)
    page = await http.get(hotspot.portal.base_url + location)
    assert re.search(r'id="continue" href="([^"]+)"', page.text).group(1) == continues_to
    assert "generate_204" not in page.text and "captive.apple.com" not in page.text  # nor carried along


async def test_the_waiting_pages_long_poll_is_answered_the_moment_the_payment_is_paid(http, hotspot):
    location = (await pay(http, hotspot)).headers["location"]
    changes = hotspot.portal.services.store.changes
    url = f"{hotspot.portal.base_url}{location.split('?')[0]}/status"
    asked = asyncio.create_task(http.get(url, params={"view": "waiting"}))  # what the page shows

    async def held() -> bool:
        return changes.waiting == 1

    await eventually(held)
    assert not asked.done()  # nothing changed: the answer waits
    await answer(hotspot, "success")
    answered = (await asyncio.wait_for(asked, 10)).json()  # well within the long poll's bound
    assert answered["view"] in ("connecting", "online") and answered["state"] == "paid"


async def test_a_long_poll_on_an_unchanged_payment_ends_with_the_same_view(http, hotspot, monkeypatch):
    monkeypatch.setattr(paying, "LONG_POLL_SECONDS", 0.0)  # its bound, reached at once
    location = (await pay(http, hotspot)).headers["location"]
    url = f"{hotspot.portal.base_url}{location.split('?')[0]}/status"
    assert (await http.get(url, params={"view": "waiting"})).json()["view"] == "waiting"


@pytest.mark.parametrize(
    "typed", ["+254 712-345-678", "0712345678", "254712345678", "712 345 678", "+254 (0) 712 345 678"]
)
async def test_phone_numbers_are_taken_as_people_type_them(http, hotspot, typed):
    assert (await pay(http, hotspot, phone=typed)).status_code == 303
    assert [p.phone for p in hotspot.daraja.sim.pending_prompts()] == ["254712345678"]


@pytest.mark.parametrize(
    ("typed", "lang", "says"),
    [
        ("0812 345 678", "en", "That is not a Safaricom number"),
        ("0733 123 456", "en", "Airtel numbers can&#39;t get the M-Pesa prompt"),
        ("0770 123 456", "sw", "Nambari za Telkom haziwezi kupata ombi la M-Pesa"),
        ("0712 345", "en", "That number is 3 digits short"),
        ("0712 345 678", "en", "Choose a package first."),
        ("07l2 345 678", "sw", "Nambari ya simu ina tarakimu pekee"),
    ],
)
async def test_a_wrong_phone_or_no_package_is_explained_and_nothing_is_sent(http, hotspot, typed, lang, says):
    package = "" if "package" in says else "1"
    response = await http.post(
        f"{hotspot.portal.base_url}/pay",
        data=device_form(hotspot, lang=lang) | {"phone": typed, "package": package},
    )
    assert response.status_code == 400
    assert says in response.text
    assert f'value="{typed}"' in response.text  # what they typed stays, to be corrected
    assert hotspot.daraja.sim.pending_prompts() == []


async def test_a_double_tapped_pay_button_sends_one_prompt(http, hotspot):
    first, second = await asyncio.gather(pay(http, hotspot), pay(http, hotspot))
    assert first.headers["location"] == second.headers["location"]
    assert len(hotspot.daraja.sim.pending_prompts()) == 1


async def test_a_cancelled_prompt_is_explained_and_trying_again_sends_a_new_one(http, hotspot):
    location = (await pay(http, hotspot)).headers["location"]
    await answer(hotspot, "cancel")
    assert (await status(http, hotspot, location))["state"] == "failed"
    page = await http.get(hotspot.portal.base_url + location)
    assert "You cancelled the M-Pesa request. No money was taken." in page.text
    assert "<title>Payment not completed · Demo Cafe Wi-Fi</title>" in page.text
    assert "Pay Bill" not in page.text  # Daraja has no C2B URLs for the account: money would be unheard of
    await register_c2b_urls(hotspot)
    page = await http.get(hotspot.portal.base_url + location)
    assert "Pay Bill 174379" in page.text  # the way to pay by hand, then claim with the receipt
    again = await http.post(
        f"{hotspot.portal.base_url}{location.split('?')[0]}/retry", data=device_form(hotspot)
    )
    assert again.status_code == 303 and again.headers["location"] != location
    assert len(hotspot.daraja.sim.pending_prompts()) == 1
    await answer(hotspot, "success")
    await online(hotspot)


async def cancel_on_the_page(http, hotspot: Hotspot, location: str) -> httpx.Response:
    path = location.split("?")[0]
    return await http.post(
        f"{hotspot.portal.base_url}{path}/cancel", data=device_form(hotspot), follow_redirects=True
    )


async def test_cancel_on_the_waiting_page_frees_the_phone_at_once_and_says_to_dismiss_the_prompt(
    http, hotspot
):
    location = (await pay(http, hotspot)).headers["location"]
    waiting = await http.get(hotspot.portal.base_url + location)
    assert 'action="/pay/' in waiting.text and 'id="cancel"' in waiting.text  # a form: it changes things
    cancelled = await cancel_on_the_page(http, hotspot, location)
    assert "may still show on your phone" in cancelled.text and "press Cancel on it" in cancelled.text
    assert (await status(http, hotspot, location))["state"] == "failed"
    assert "A payment from this device is waiting" not in (await http.get(hotspot.splash_url())).text
    await answer(hotspot, "cancel")  # dismissed on the phone: its late answer changes nothing
    again = await pay(http, hotspot)  # the same phone, at once
    assert again.status_code == 303 and len(hotspot.daraja.sim.pending_prompts()) == 1
    await answer(hotspot, "success")
    await online(hotspot)


@pytest.mark.parametrize("callbacks", [True, False])
async def test_a_prompt_paid_after_cancel_on_the_page_still_puts_the_customer_online_once(
    http, hotspot, clock, callbacks
):
    hotspot.daraja.sim.options.drop_callbacks = not callbacks  # learnt by query alone
    location = (await pay(http, hotspot)).headers["location"]
    await cancel_on_the_page(http, hotspot, location)
    await answer(hotspot, "success")  # paid on the phone all the same
    clock.advance(seconds=30)
    await hotspot.portal.services.confirmation.reconcile_due()
    await online(hotspot)
    page = await http.get(hotspot.portal.base_url + location)
    assert "You&#39;re online" in page.text
    clock.advance(minutes=5)
    await hotspot.portal.services.confirmation.reconcile_due()  # asked again: still once
    store = hotspot.portal.services.store
    assert await value(store, "SELECT count(*) FROM access_sessions") == 1
    assert await value(store, "SELECT count(*) FROM payments WHERE next_query_at IS NOT NULL") == 0


async def test_a_cancelled_prompt_left_unpaid_is_asked_about_until_its_answer_then_left_alone(
    http, hotspot, clock
):
    hotspot.daraja.sim.options.drop_callbacks = True
    location = (await pay(http, hotspot)).headers["location"]
    await cancel_on_the_page(http, hotspot, location)
    await answer(hotspot, "timeout")
    clock.advance(minutes=2)
    await hotspot.portal.services.confirmation.reconcile_due()
    payment = (
        await rows(hotspot.portal.services.store, "SELECT state, result_code, next_query_at FROM payments")
    )[0]
    assert (payment["state"], payment["result_code"], payment["next_query_at"]) == (
        "failed",
        "page.cancelled",
        None,
    )
    queries = "SELECT count(*) FROM payment_events WHERE kind = 'query'"
    assert await value(hotspot.portal.services.store, queries) == 1  # its final answer, then no more


async def test_a_late_tap_on_try_again_after_paying_sends_no_new_prompt(http, hotspot):
    location = (await pay(http, hotspot)).headers["location"]
    await answer(hotspot, "success")
    await online(hotspot)
    late = await http.post(
        f"{hotspot.portal.base_url}{location.split('?')[0]}/retry", data=device_form(hotspot)
    )
    assert late.status_code == 303 and late.headers["location"] == location
    assert len(hotspot.daraja.sim.prompts) == 1


STEPS = ("Try again</button>", "Use another number</a>", "Choose another package</a>")


@pytest.mark.parametrize(
    ("outcome", "offers"),
    [
        # Cancelled, a wrong PIN, no funds, no answer: again, or a mistyped number, or a cheaper package.
        ("cancel", STEPS),
        ("wrong_pin", STEPS),
        ("no_funds", STEPS),
        ("bad_debt", STEPS[1:]),  # a rule on this M-Pesa account: the same number fails the same way
        ("not_permitted", ()),  # the hotspot's set-up: none of them helps; paying by hand may
    ],
)
async def test_a_failure_offers_every_next_step_that_could_work(http, hotspot, outcome, offers):
    await register_c2b_urls(hotspot)
    location = (await pay(http, hotspot, package="2")).headers["location"]
    await answer(hotspot, outcome)
    page = await http.get(hotspot.portal.base_url + location)
    assert [step for step in STEPS if step in page.text] == list(offers)
    assert "Lipa na M-Pesa, Pay Bill" in page.text
    if offers:
        [other] = re.findall(r'href="([^"]+)">Use another number</a>', page.text)
        form = await http.get(hotspot.portal.base_url + html.unescape(other))
        assert re.search(r'value="2" required checked', form.text)  # the same package, chosen
        assert re.search(r'id="phone" name="phone" value=""', form.text)  # the number to type again


async def test_a_refunded_payment_says_so(http, hotspot):
    location = (await pay(http, hotspot)).headers["location"]
    await answer(hotspot, "success")
    await online(hotspot)
    services = hotspot.portal.services
    await execute(services.store, "UPDATE payments SET state = 'reversed', reversed_reason = 'refunded'")
    still = await http.get(hotspot.portal.base_url + location)
    assert "You&#39;re online" in still.text  # a refund leaves the access alone: the page says so
    session_id = await value(services.store, "SELECT id FROM access_sessions")
    await services.store.write(
        sessions.end_session, services.clock, session_id
    )  # until the owner ends it too
    page = await http.get(hotspot.portal.base_url + location)
    assert "Payment refunded" in page.text and "Connecting you now" not in page.text
    assert (await status(http, hotspot, location))["state"] == "failed"


async def test_switching_language_on_the_packages_page_stays_on_the_packages(http, hotspot):
    await pay(http, hotspot)
    await answer(hotspot, "success")
    await online(hotspot)
    packages = await http.get(hotspot.splash_url(more="1"))
    [switch] = re.findall(r'href="([^"]+)" lang="sw"', packages.text)
    swahili = await http.get(hotspot.portal.base_url + html.unescape(switch))
    assert "Chagua kifurushi" in swahili.text


async def test_a_package_that_ends_on_another_day_shows_that_day(http, hotspot, clock, settings):
    location = (await pay(http, hotspot, package="4")).headers["location"]  # 7 days
    await answer(hotspot, "success")
    await online(hotspot)
    ends = (clock.now() + timedelta(days=7)).astimezone(settings.store.timezone)
    page = await http.get(hotspot.portal.base_url + location)
    assert f"Until {ends:%H:%M, %d/%m/%Y}" in page.text


async def test_an_unknown_payment_reference_is_not_found(http, hotspot):
    assert (await http.get(f"{hotspot.portal.base_url}/pay/0123456789abcdef/status")).status_code == 404


async def test_resend_while_the_prompt_is_still_open_sends_nothing_and_says_why(http, hotspot):
    location = (await pay(http, hotspot)).headers["location"]
    resend = await http.post(
        f"{hotspot.portal.base_url}{location.split('?')[0]}/retry",
        data=device_form(hotspot),
        follow_redirects=True,
    )
    assert "The last prompt is still open on your phone" in resend.text
    assert len(hotspot.daraja.sim.prompts) == 1
    assert "notice=" in str(resend.url) and "notice=" not in re.search(r'url=([^"]+)"', resend.text)[1]
    await answer(hotspot, "cancel")  # the page refreshes to its own address, or is reloaded with the old
    for url in (resend.url, hotspot.portal.base_url + location):
        failed = await http.get(url)
        assert "Payment not completed" in failed.text and "still open" not in failed.text


@pytest.fixture
def settings(settings):
    limits = replace(settings.limits, pushes_per_phone_per_hour=2, code_attempts_per_hour=3)
    server = replace(settings.server, trusted_proxies=(ip_network("127.0.0.1/32"),))  # for seen_at
    return replace(settings, limits=limits, server=server)


async def test_unpaid_prompts_per_phone_are_limited_saying_how_long_to_wait(http, hotspot, clock):
    await pay(http, hotspot)
    await answer(hotspot, "cancel")
    clock.advance(minutes=10)
    await pay(http, hotspot)
    await answer(hotspot, "timeout")
    clock.advance(minutes=5)
    refused = await pay(http, hotspot)
    assert refused.status_code == 400
    assert "Many M-Pesa prompts were left unpaid this hour" in refused.text
    assert "A new one can be sent in 45 minutes" in refused.text  # when the first leaves the hour
    swahili = await pay(http, hotspot, lang="sw")
    assert "Jipya linaweza kutumwa baada ya dakika 45" in swahili.text
    clock.advance(minutes=44, seconds=30)
    assert "sent in 1 minute;" in (await pay(http, hotspot)).text
    clock.advance(seconds=30)
    assert (await pay(http, hotspot)).status_code == 303
    assert len(hotspot.daraja.sim.prompts) == 3


async def test_prompts_that_were_paid_do_not_count_against_the_phone(http, hotspot):
    # A parent paying from one phone for the family's devices, one after another.
    devices = [DEMO_DEVICE, OTHER_DEVICE, ("AA:BB:CC:00:00:03", "10.5.50.4")]
    for mac, ip in devices:
        hotspot.emulator.connect_device(mac, ip)
        assert (await pay(http, hotspot, mac=mac, ip=ip)).status_code == 303
        await answer(hotspot, "success")
        await online(hotspot, mac)
    assert len(hotspot.daraja.sim.prompts) == 3  # over the limit of 2, all paid


async def test_a_device_back_while_its_prompt_is_open_is_told_so_without_its_payments_page(http, hotspot):
    location = (await pay(http, hotspot)).headers["location"]  # then the captive window closed
    ref = location.split("/pay/")[1].split("?")[0]
    back = await http.get(hotspot.splash_url())
    assert back.status_code == 200 and "A payment from this device is waiting" in back.text
    assert ref not in back.text  # a MAC in a URL must not lead to the page that shows the access code
    assert '<meta http-equiv="refresh"' in back.text  # it follows the payment by itself
    [packages] = re.findall(r'<a class="button secondary" href="([^"]+)">Choose a package</a>', back.text)
    assert 'name="package"' in (await http.get(hotspot.portal.base_url + html.unescape(packages))).text
    await answer(hotspot, "success")
    await online(hotspot)
    online_now = await http.get(hotspot.splash_url())  # just paid: online, and no "welcome back" yet
    assert "You&#39;re online" in online_now.text and "access-code" not in online_now.text
    assert len(hotspot.daraja.sim.prompts) == 1


async def test_the_packages_while_a_payment_is_running_say_so_and_are_read_afresh_on_back(http, hotspot):
    await pay(http, hotspot)
    more = await http.get(hotspot.splash_url(more="1"))  # "Choose a package" while the prompt is open
    assert "A payment from this device is waiting: enter your M-Pesa PIN" in more.text
    assert 'name="package"' in more.text and more.headers["cache-control"] == "no-store"


async def test_one_device_asking_prompts_for_many_phones_at_once_is_limited(http, hotspot, settings):
    limit = settings.limits.pushes_per_device_per_hour
    answers = [await pay(http, hotspot, phone=f"0712 000 {n:03d}") for n in range(limit + 2)]
    assert [answer.status_code for answer in answers] == [303] * limit + [400] * 2
    assert "Many M-Pesa prompts were left unpaid this hour" in answers[-1].text
    assert len(hotspot.daraja.sim.prompts) == limit


# Someone on the Wi-Fi, at their own address, with their own device.
ATTACKER = ("AA:BB:CC:00:00:66", "10.5.50.66")


async def test_a_device_naming_made_up_macs_sends_no_prompt_and_its_own_prompts_are_limited(
    http, hotspot, settings
):
    hotspot.emulator.connect_device(*ATTACKER)
    strangers = [
        await pay(
            http, hotspot, f"0712 000 {n:03d}", mac=f"AA:BB:CC:00:01:{n:02X}", headers=seen_at(ATTACKER[1])
        )
        for n in range(12)
    ]
    assert {answer.status_code for answer in strangers} == {403}
    assert "This page was opened for another device" in strangers[0].text
    assert hotspot.daraja.sim.prompts == {}
    limit = settings.limits.pushes_per_device_per_hour
    own = [
        await pay(
            http, hotspot, f"0712 000 {n:03d}", mac=ATTACKER[0], ip=ATTACKER[1], headers=seen_at(ATTACKER[1])
        )
        for n in range(limit + 2)
    ]
    assert [answer.status_code for answer in own] == [303] * limit + [400] * 2
    assert len(hotspot.daraja.sim.prompts) == limit


@pytest.mark.parametrize("router", ["answering", "down"])
async def test_a_devices_mac_named_from_another_address_spends_none_of_its_prompts(
    http, hotspot, settings, router
):
    hotspot.emulator.connect_device(*ATTACKER)
    if router == "down":  # the MAC is taken on trust, and limited per address all the same
        await hotspot.emulator.down()
    for n in range(settings.limits.pushes_per_device_per_hour):  # naming DEMO_DEVICE
        await pay(http, hotspot, f"0712 000 {n:03d}", headers=seen_at(ATTACKER[1]))
    own = await pay(http, hotspot, headers=seen_at(DEMO_DEVICE[1]))
    assert own.status_code == 303
    assert "254712345678" in {prompt.phone for prompt in hotspot.daraja.sim.prompts.values()}


async def test_a_live_device_named_from_another_address_shows_nothing_of_its_time_nor_calls_its_router(
    http, hotspot
):
    location = (await pay(http, hotspot, headers=seen_at(DEMO_DEVICE[1]))).headers["location"]
    await answer(hotspot, "success")
    await online(hotspot)
    code = re.search(r'id="access-code">([^<]+)<', (await http.get(hotspot.portal.base_url + location)).text)
    hotspot.emulator.connect_device(*ATTACKER)
    store = hotspot.portal.services.store
    tasks = await value(store, "SELECT count(*) FROM router_tasks")
    for _ in range(5):
        named = await http.get(hotspot.splash_url(), headers=seen_at(ATTACKER[1]))
        assert named.status_code == 200 and "Choose a package" in named.text
        for shown in ("online", "Welcome back", "minutes", code.group(1)):
            assert shown not in named.text
    assert await value(store, "SELECT count(*) FROM router_tasks") == tasks
    own = await http.get(hotspot.splash_url(), headers=seen_at(DEMO_DEVICE[1]))
    assert "You&#39;re online" in own.text


@pytest.mark.parametrize("router", ["vouches for the device", "sees only the NAT's address"])
async def test_a_hundred_wrong_codes_from_made_up_macs_never_stop_a_right_code_from_behind_that_address(
    http, hotspot, clock, router
):
    location = (await pay(http, hotspot)).headers["location"]
    await answer(hotspot, "success")
    await online(hotspot)
    code = re.search(r'id="access-code">([^<]+)<', (await http.get(hotspot.portal.base_url + location)).text)
    hotspot.emulator.connect_device(*OTHER_DEVICE)
    # Behind a router that masquerades, every device comes from one address no device has on the Wi-Fi.
    behind = seen_at(OTHER_DEVICE[1] if router == "vouches for the device" else "192.168.88.2")
    url = f"{hotspot.portal.base_url}/reconnect"
    for n in range(100):
        guess = device_form(hotspot, f"AA:BB:CC:00:01:{n:02X}", OTHER_DEVICE[1]) | {"code": "ABCD-EFGH"}
        assert (await http.post(url, data=guess, headers=behind)).status_code in (400, 403, 429)
    right = device_form(hotspot, *OTHER_DEVICE) | {"code": code.group(1)}
    moved = await http.post(url, data=right, headers=behind)
    if router == "sees only the NAT's address":
        # Slowed down, not locked out for the hour: a wait of seconds, said as such.
        assert moved.status_code == 429 and "Try again in less than a minute" in moved.text
        clock.advance(seconds=2)
        moved = await http.post(url, data=right, headers=behind)
    assert moved.status_code == 303
    await online(hotspot, OTHER_DEVICE[0])


async def test_a_strangers_prompt_to_your_phone_stops_you_paying_only_until_you_cancel_it(
    http, nat_hotspot, clock
):
    hotspot = nat_hotspot  # the portal hears of the cancel only when it asks
    hotspot.emulator.connect_device(*ATTACKER)
    await pay(http, hotspot, mac=ATTACKER[0], ip=ATTACKER[1], headers=seen_at(ATTACKER[1]))  # your number
    refused = await pay(http, hotspot, headers=seen_at(DEMO_DEVICE[1]))
    assert refused.status_code == 400
    assert "If it shows on your phone and is not yours, cancel it there, then tap Pay again" in refused.text
    [stranger] = hotspot.daraja.sim.pending_prompts()
    hotspot.daraja.sim.answer(stranger.checkout_request_id, "cancel")
    clock.advance(seconds=5)  # the seconds it takes; no query of the portal's own was due meanwhile
    assert (await pay(http, hotspot, headers=seen_at(DEMO_DEVICE[1]))).status_code == 303
    [yours] = hotspot.daraja.sim.pending_prompts()
    assert yours.phone == stranger.phone == "254712345678"


async def test_a_second_device_paying_with_a_phone_whose_prompt_is_open_is_told_to_wait(http, hotspot):
    first = await pay(http, hotspot)
    hotspot.emulator.connect_device(*OTHER_DEVICE)
    second = await pay(http, hotspot, package="3", mac=OTHER_DEVICE[0], ip=OTHER_DEVICE[1])
    assert first.status_code == 303
    assert second.status_code == 400 and "Another M-Pesa request for this phone is still open" in second.text
    assert len(hotspot.daraja.sim.prompts) == 1


async def test_a_returning_device_sees_its_time_left_and_is_logged_back_in(http, hotspot, clock):
    await pay(http, hotspot)
    await answer(hotspot, "success")
    await online(hotspot)
    clock.advance(minutes=15)
    hotspot.emulator.reboot()  # the router lost every login
    hotspot.emulator.connect_device(*DEMO_DEVICE)
    page = await http.get(hotspot.splash_url())
    assert "Welcome back" in page.text and "45 minutes" in page.text
    await online(hotspot)
    more = await http.get(hotspot.splash_url(more="1"))
    assert "Choose a package" in more.text


async def test_a_live_device_named_again_and_again_costs_its_router_one_login_a_minute(http, hotspot, clock):
    await pay(http, hotspot)
    await answer(hotspot, "success")
    await online(hotspot)
    store = hotspot.portal.services.store
    for _ in range(20):  # anyone may name the MAC on the splash
        await http.get(hotspot.splash_url())
        await online(hotspot)  # and its router task, if one was queued, has run
    assert await value(store, "SELECT count(*) FROM router_tasks WHERE kind = 'extend'") == 1
    clock.advance(minutes=1)
    await http.get(hotspot.splash_url())  # a minute on: a real reboot since is still put right
    await online(hotspot)
    assert await value(store, "SELECT count(*) FROM router_tasks WHERE kind = 'extend'") == 2


async def test_a_device_whose_time_ran_out_is_told_so_above_the_packages(http, hotspot, clock):
    await pay(http, hotspot)
    await answer(hotspot, "success")
    await online(hotspot)
    clock.advance(hours=1, seconds=1)
    await hotspot.portal.services.jobs.expire_due()
    back = await http.get(hotspot.splash_url())
    assert "Your time is over" in back.text and "Choose a package" in back.text
    clock.advance(hours=1, seconds=1)  # an hour later it is old news
    assert "Your time is over" not in (await http.get(hotspot.splash_url())).text


async def move_by_code(http, hotspot: Hotspot, location: str) -> httpx.Response:
    """The access code on the payment's page, typed (in lower case) on OTHER_DEVICE."""
    page = await http.get(hotspot.portal.base_url + location)
    code = re.search(r'id="access-code">([^<]+)<', page.text).group(1)
    hotspot.emulator.connect_device(*OTHER_DEVICE)
    return await http.post(
        f"{hotspot.portal.base_url}/reconnect",
        data=device_form(hotspot, *OTHER_DEVICE) | {"code": code.lower()},
        follow_redirects=True,
    )


async def test_the_access_code_moves_the_time_to_a_second_device(http, hotspot):
    location = (await pay(http, hotspot)).headers["location"]
    await answer(hotspot, "success")
    await online(hotspot)
    moved = await move_by_code(http, hotspot, location)
    assert moved.status_code == 200 and "You&#39;re online" in moved.text
    await online(hotspot, OTHER_DEVICE[0])
    await online(hotspot, DEMO_DEVICE[0], expected=False)
    assert (await status(http, hotspot, location))["view"] == "over"  # not "online" for the first phone
    first_phone = await http.get(hotspot.portal.base_url + location)
    assert "Your time is on another device" in first_phone.text and "access-code" not in first_phone.text


async def test_a_device_whose_time_moved_away_is_told_why_above_the_packages(http, hotspot):
    location = (await pay(http, hotspot)).headers["location"]
    await answer(hotspot, "success")
    await online(hotspot)
    await move_by_code(http, hotspot, location)
    await online(hotspot, DEMO_DEVICE[0], expected=False)
    back = await http.get(hotspot.splash_url())  # the router sends the first phone to the splash page
    assert "is on another device now" in back.text and "Choose a package" in back.text
    swahili = await http.get(hotspot.splash_url(lang="sw"))
    assert "sasa uko kwenye kifaa kingine" in swahili.text


async def test_welcome_back_greets_a_returning_device_not_a_second_tab_or_a_device_just_given_a_code(
    http, hotspot, clock
):
    location = (await pay(http, hotspot)).headers["location"]
    await answer(hotspot, "success")
    await online(hotspot)
    second_tab = await http.get(hotspot.splash_url())
    assert "You&#39;re online" in second_tab.text and "Welcome back" not in second_tab.text
    clock.advance(minutes=15)
    arrived = await move_by_code(http, hotspot, location)
    assert "You&#39;re online" in arrived.text and "Welcome back" not in arrived.text
    await online(hotspot, OTHER_DEVICE[0])
    back = await http.get(hotspot.splash_url(*OTHER_DEVICE))  # later, sent here by the router
    assert "Welcome back" in back.text


async def test_wrong_codes_are_refused_plainly_and_guessing_is_throttled(http, hotspot):
    url = f"{hotspot.portal.base_url}/reconnect"
    for _ in range(3):
        wrong = await http.post(url, data=device_form(hotspot) | {"code": "ABCD-EFGH"})
        assert wrong.status_code == 400 and "That code is not right" in wrong.text
    blocked = await http.post(url, data=device_form(hotspot) | {"code": "ABCD-EFGH"})
    assert blocked.status_code == 429 and "Too many wrong tries" in blocked.text
    # One guesser making up MACs: customers behind one NAT share an address, so it gets ten devices'
    # worth of tries (3 each here), then every MAC from it is refused.
    answers = []
    for n in range(30):
        guess = device_form(hotspot, f"AA:BB:CC:00:01:{n:02X}") | {"code": "X"}
        answers.append((await http.post(url, data=guess)).status_code)
    assert answers == [400] * 27 + [429] * 3


async def test_guesses_sent_all_at_once_get_no_more_tries_than_the_limit(http, hotspot):
    url = f"{hotspot.portal.base_url}/reconnect"
    answers = await asyncio.gather(
        *(http.post(url, data=device_form(hotspot) | {"code": f"ABCD-EFG{n}"}) for n in range(20))
    )
    assert sorted(answer.status_code for answer in answers) == [400] * 3 + [429] * 17


async def test_right_codes_are_no_guesses_and_use_up_no_tries(http, hotspot):
    location = (await pay(http, hotspot)).headers["location"]
    await answer(hotspot, "success")
    await online(hotspot)
    code = re.search(r'id="access-code">([^<]+)<', (await http.get(hotspot.portal.base_url + location)).text)
    url = f"{hotspot.portal.base_url}/reconnect"
    answers = [
        (await http.post(url, data=device_form(hotspot) | {"code": code.group(1)})).status_code
        for _ in range(5)
    ]
    assert answers == [303] * 5  # more than the 3 tries a device has here


async def test_a_voucher_gives_its_package_once(http, hotspot, clock, vault):
    store = hotspot.portal.services.store
    package_id = await value(store, "SELECT id FROM packages WHERE name = '3 hours'")
    batch = await store.write(vouchers.generate_batch, clock, vault, hotspot.demo.tenant_id, package_id, 1)
    [voucher] = await store.read(vouchers.batch_vouchers, vault, Scope((hotspot.demo.tenant_id,)), batch)
    used = await http.post(
        f"{hotspot.portal.base_url}/reconnect", data=device_form(hotspot) | {"code": voucher.code}
    )
    assert used.status_code == 303 and used.headers["location"].startswith("/?router=demo-router")
    await online(hotspot)
    assert await value(store, "SELECT paid_seconds FROM access_sessions") == 3 * 3600
    await code_moves_the_time_once_then_is_used_up(http, hotspot, voucher.code)


async def code_moves_the_time_once_then_is_used_up(http, hotspot: Hotspot, code: str) -> None:
    """A code that bought time moves that time to another device (not a second package), until it ends."""
    hotspot.emulator.connect_device(*OTHER_DEVICE)
    moved = await http.post(
        f"{hotspot.portal.base_url}/reconnect", data=device_form(hotspot, *OTHER_DEVICE) | {"code": code}
    )
    assert moved.status_code == 303
    await online(hotspot, OTHER_DEVICE[0])
    await online(hotspot, DEMO_DEVICE[0], expected=False)
    services = hotspot.portal.services
    [session_id] = [row["id"] for row in await rows(services.store, "SELECT id FROM access_sessions")]
    await services.store.write(sessions.end_session, services.clock, session_id)
    url = f"{hotspot.portal.base_url}/reconnect"
    again = await http.post(url, data=device_form(hotspot) | {"code": code})
    assert again.status_code == 400 and "That code has been used up" in again.text


async def test_an_mpesa_receipt_paid_by_hand_is_claimed_once(http, hotspot):
    await register_c2b_urls(hotspot)
    receipt = await pay_by_hand(http, hotspot.daraja, amount=20)
    claimed = await http.post(
        f"{hotspot.portal.base_url}/reconnect", data=device_form(hotspot) | {"code": receipt}
    )
    assert claimed.status_code == 303
    await online(hotspot)
    assert await value(hotspot.portal.services.store, "SELECT paid_seconds FROM access_sessions") == 3 * 3600
    await code_moves_the_time_once_then_is_used_up(http, hotspot, receipt)


async def test_rent_paid_to_the_paybill_is_not_for_wifi_in_either_language(http, hotspot):
    await register_c2b_urls(hotspot)
    receipt = await pay_by_hand(http, hotspot.daraja, amount=3000, bill_ref="RENT-APT4")
    url = f"{hotspot.portal.base_url}/reconnect"
    english = await http.post(url, data=device_form(hotspot) | {"code": receipt})
    swahili = await http.post(url, data=device_form(hotspot, lang="sw") | {"code": receipt})
    assert english.status_code == swahili.status_code == 400
    assert "That M-Pesa payment is not for Wi-Fi" in english.text and "use the account WIFI" in english.text
    assert "Malipo hayo ya M-Pesa si ya Wi-Fi" in swahili.text
    assert await value(hotspot.portal.services.store, "SELECT count(*) FROM access_sessions") == 0


async def test_too_little_paid_by_hand_is_kept_and_the_difference_buys_the_package(http, hotspot):
    await register_c2b_urls(hotspot)
    url = f"{hotspot.portal.base_url}/reconnect"
    first = await pay_by_hand(http, hotspot.daraja, amount=5)
    short = await http.post(url, data=device_form(hotspot) | {"code": first})
    assert short.status_code == 400 and 'id="notice"' in short.text and "ask the staff" not in short.text
    assert "KES 5 from your M-Pesa payment is kept for you as credit" in short.text
    assert "The cheapest package costs KES 10: pay KES 5 more" in short.text
    second = await pay_by_hand(http, hotspot.daraja, amount=30)  # more than the difference
    bought = await http.post(
        url, data=device_form(hotspot) | {"code": f"{first.lower()} {second}"}, follow_redirects=True
    )
    assert bought.status_code == 200
    # 35 KES buy the 20 KES package (3 hours); the 15 left are the customer's, and they are told so.
    assert "KES 15 of your M-Pesa payment is left as credit" in html.unescape(bought.text)
    await online(hotspot)
    assert await value(hotspot.portal.services.store, "SELECT paid_seconds FROM access_sessions") == 3 * 3600


async def test_the_pay_by_hand_hint_names_the_account_to_type_each_price_and_that_change_is_kept(
    http, hotspot
):
    await register_c2b_urls(hotspot)
    services = hotspot.portal.services
    url = hotspot.splash_url().replace("/?", "/reconnect?")
    hint = (
        "Lipa na M-Pesa, Pay Bill 174379, account WIFI. Prices: KES 10 for 1 hour, KES 20 for 3 hours,"
        " KES 50 for 24 hours, KES 250 for 7 days. Anything paid beyond a package stays as your credit."
    )
    assert hint in (await http.get(url)).text
    await services.store.write(c2b.set_words, hotspot.demo.tenant_id, c2b.read_words("Net, WIFI"))
    assert "Pay Bill 174379, account Net. Prices: KES 10 for 1 hour," in (await http.get(url)).text
    swahili = (await http.get(url + "&lang=sw")).text
    assert "akaunti Net. Bei: KES 10 kwa saa 1," in swahili and "inabaki kama salio lako" in swahili


async def test_the_receipt_in_the_payers_sms_moves_the_time_like_the_access_code(http, hotspot):
    await pay(http, hotspot)
    await answer(hotspot, "success")
    await online(hotspot)
    receipt = await value(hotspot.portal.services.store, "SELECT receipt FROM payments")
    await code_moves_the_time_once_then_is_used_up(http, hotspot, receipt.lower())


async def test_files_or_odd_digits_where_text_belongs_are_explained_never_an_error(http, hotspot):
    base = hotspot.portal.base_url
    location = (await pay(http, hotspot)).headers["location"]
    await answer(hotspot, "cancel")
    retry = location.split("?")[0] + "/retry"
    fields = ["phone", "package", "router", "mac", "ip", "link-orig", "lang", "code"]
    files = {name: ("typed.txt", b"1", "text/plain") for name in fields}
    answers = {}
    for path in ("/pay", "/reconnect", retry):
        answers[path] = (await http.post(base + path, files=files)).status_code
    # No device named: "connect to the Wi-Fi first". A retry knows its payment's device.
    assert answers == {"/pay": 404, "/reconnect": 404, retry: 303}
    # '²' and full-width digits pass str.isdigit(), but are no number anyone meant.
    odd = {"package": "\u00b2", "phone": "07\uff11\uff12345678"}
    for field, typed in odd.items():
        refused = await http.post(base + "/pay", data=device_form(hotspot) | {field: typed})
        assert refused.status_code == 400, field


async def test_customer_pages_answer_head_as_they_answer_get(http, hotspot):
    location = (await pay(http, hotspot)).headers["location"]
    base = hotspot.portal.base_url
    for url in (
        hotspot.splash_url(),
        base + location,
        base + location.split("?")[0] + "/status",
        f"{base}/reconnect?router={hotspot.router}&mac={DEMO_DEVICE[0]}&ip={DEMO_DEVICE[1]}",
        f"{base}/hotspot/login.html?router={hotspot.router}",
    ):
        head, got = await http.head(url), await http.get(url)
        assert (head.status_code, head.content) == (got.status_code, b""), url


async def test_the_router_fetches_a_login_page_that_names_it(http, hotspot):
    page = await http.get(f"{hotspot.portal.base_url}/hotspot/login.html", params={"router": "demo-router"})
    assert page.status_code == 200
    assert "/?router=demo-router&mac=$(mac-esc)&ip=$(ip-esc)" in page.text
    assert "link-orig=$(link-orig-esc)" in page.text


async def test_customer_pages_fit_the_budget_and_load_nothing_from_elsewhere(http, hotspot):
    splash = await http.get(hotspot.splash_url())
    location = (await pay(http, hotspot)).headers["location"]
    waiting = await http.get(hotspot.portal.base_url + location)
    await answer(hotspot, "success")
    await online(hotspot)
    success = await http.get(hotspot.portal.base_url + location)
    for page in (splash, waiting, success):
        assert len(page.content) <= 30 * 1024
        assert not re.search(r'(src|href|action)="(?!/|http://example.com/|tel:|#)', page.text)
        assert "@import" not in page.text and "url(" not in page.text


async def grant_tried(hotspot: Hotspot) -> None:
    """Waits until the worker has tried to let the device in, and failed."""

    async def tried():
        return await value(hotspot.portal.services.store, "SELECT count(*) FROM router_task_attempts") > 0

    await eventually(tried)


async def test_paid_but_not_online_within_a_minute_the_page_gives_the_receipt_the_code_and_help(
    http, hotspot, clock
):
    # The phone dropped the Wi-Fi while in the M-Pesa menu: the router has no such device.
    location = (await pay(http, hotspot, mac=OTHER_DEVICE[0], ip=OTHER_DEVICE[1])).headers["location"]
    await answer(hotspot, "success")
    await grant_tried(hotspot)
    receipt = await value(hotspot.portal.services.store, "SELECT receipt FROM payments")
    clock.advance(seconds=59)
    waiting = await http.get(hotspot.portal.base_url + location)
    assert "Paid. Connecting you" in waiting.text and "access-code" not in waiting.text
    assert (await status(http, hotspot, location))["view"] == "connecting"
    clock.advance(seconds=1)
    for lang, says, how in (
        ("en", "Paid, but not connected yet", "turn Wi-Fi off and on and join it again"),
        ("sw", "Umelipa, lakini bado hujaunganishwa", "zima Wi-Fi, uiwashe na ujiunge tena"),
    ):
        stuck = await http.get(hotspot.portal.base_url + location.replace("lang=en", f"lang={lang}"))
        assert says in stuck.text and how in stuck.text and receipt in stuck.text
        assert 'id="access-code"' in stuck.text and 'href="tel:0712345678"' in stuck.text
        assert '<meta http-equiv="refresh"' in stuck.text  # without JavaScript it still follows the device
    assert (await status(http, hotspot, location))["view"] == "stuck"  # the script sees the change too
    hotspot.emulator.connect_device(*OTHER_DEVICE)  # back on the Wi-Fi: the page goes online by itself
    clock.advance(minutes=5)
    await online(hotspot, OTHER_DEVICE[0])
    assert (await status(http, hotspot, location))["view"] == "online"


async def test_my_time_at_a_short_address_shows_the_time_left_the_code_behind_a_tap_and_buy_more(
    http, hotspot, clock
):
    location = (await pay(http, hotspot)).headers["location"]
    await answer(hotspot, "success")
    await online(hotspot)
    await http.get(hotspot.portal.base_url + location)  # the page this browser was shown remembers it
    mine = await http.get(f"{hotspot.portal.base_url}/me")
    assert mine.status_code == 200 and "You&#39;re online" in mine.text
    assert "1 hour" in mine.text and "Until " in mine.text  # without JavaScript: the time and its end
    assert re.search(r'<details class="card" id="code-tap"><summary>Show my access code</summary>', mine.text)
    assert 'id="access-code"' in mine.text and mine.headers["cache-control"] == "no-store"
    assert "Buy more time" in mine.text
    assert re.search(r'id="ending"[^>]* hidden>', mine.text)  # an hour left: no warning yet
    clock.advance(minutes=56)
    ending = await http.get(f"{hotspot.portal.base_url}/me?lang=sw")
    assert re.search(r'id="ending" data-at="300">Muda wako unakaribia kwisha', ending.text)
    async with httpx.AsyncClient() as another_browser:
        nothing = await another_browser.get(f"{hotspot.portal.base_url}/me")
    assert nothing.status_code == 404 and "Your time is shown on the phone that paid" in nothing.text
    assert "access-code" not in nothing.text


@pytest.mark.parametrize("router", ["answering", "silent"])
async def test_my_time_shows_the_data_left_as_the_router_counts_it_and_nothing_when_it_cannot_say(
    http, hotspot, router
):
    store = hotspot.portal.services.store
    await execute(store, "UPDATE packages SET data_cap_bytes = 500000000 WHERE id = 1")
    location = (await pay(http, hotspot)).headers["location"]
    await answer(hotspot, "success")
    await online(hotspot)
    await http.get(hotspot.portal.base_url + location)
    hotspot.emulator.traffic(DEMO_DEVICE[0], 23_000_000, 100_500_000)  # sent, received: 123.5 MB
    if router == "silent":
        hotspot.emulator.hold_replies()
    loop = asyncio.get_running_loop()
    started = loop.time()
    mine = await http.get(f"{hotspot.portal.base_url}/me")
    assert mine.status_code == 200 and "You&#39;re online" in mine.text
    if router == "answering":
        assert "Data left: <b>376 MB</b>" in mine.text  # rounded down: never more than is left
    else:
        assert loop.time() - started < online_page.DATA_LEFT_WAIT + 1
        assert "Data left" not in mine.text
        hotspot.emulator.release_replies()
