"""The customer's side in real headless Chromium, on a cheap phone's screen, against the running system on
the simulators: the portal, the Daraja simulator (its fake phone answers prompts) and a RouterOS emulator.
"""

import contextlib
from datetime import UTC, datetime

import httpx
import pytest
from playwright.async_api import Page

from portal.catalog import packages
from portal.catalog.packages import PackageSpec
from portal.cli.demo import DEMO_DEVICE
from tests.billing.test_c2b import pay_by_hand
from tests.conftest import Hotspot, eventually
from tests.e2e.chromium import PHONE, SCREENSHOTS, chromium, fits_the_screen
from tests.web.test_splash import register_c2b_urls

pytestmark = pytest.mark.browser

SECOND_DEVICE = ("AA:BB:CC:00:00:02", "10.5.50.3")
NARROWEST = {"width": 320, "height": 640}
WAIT_MS = 10_000  # the waiting page looks every 2 s (every 4 s without JavaScript)


@contextlib.asynccontextmanager
async def phone_browser(hotspot: Hotspot, *, javascript: bool = True):
    """A phone-sized page; fails the test if anything is fetched from anywhere but the portal."""
    async with chromium(hotspot.portal.base_url) as browser:
        yield await browser.page(viewport=PHONE, java_script_enabled=javascript)


async def shot(page: Page, name: str) -> None:
    """Screenshots at 320 by 640 and 360 by 740, each once the page is seen to fit."""
    await page.set_viewport_size(NARROWEST)
    assert await fits_the_screen(page), f"{name} is wider than 320 px"
    await page.screenshot(path=SCREENSHOTS / f"splash-{name}-320x640.png", full_page=True)
    await page.set_viewport_size(PHONE)
    assert await fits_the_screen(page)
    await page.screenshot(path=SCREENSHOTS / f"splash-{name}-360x740.png", full_page=True)


async def choose_and_pay(page: Page, hotspot: Hotspot, *, mac=DEMO_DEVICE[0], ip=DEMO_DEVICE[1]) -> None:
    await page.goto(hotspot.splash_url(mac, ip))
    await page.click("text=3 hours")
    await page.fill("#phone", "0712 345 678")
    await page.click("button:has-text('Pay with M-Pesa')")
    await page.wait_for_selector("text=Check your phone")


async def answer(hotspot: Hotspot, outcome: str) -> None:
    [prompt] = hotspot.daraja.sim.pending_prompts()
    hotspot.daraja.sim.answer(prompt.checkout_request_id, outcome)
    await hotspot.daraja.sim.settle()


async def on_router(hotspot: Hotspot, mac: str, expected: bool = True) -> None:
    async def check():
        return hotspot.emulator.has_access(mac) == expected

    await eventually(check)


async def test_pay_go_online_come_back_and_move_to_a_second_phone_with_the_access_code(hotspot):
    async with phone_browser(hotspot) as page:
        await page.goto(hotspot.splash_url())
        await shot(page, "packages")
        await choose_and_pay(page, hotspot)
        assert "0712 ••• 678" in await page.inner_text("main")
        await shot(page, "waiting")

        await answer(hotspot, "success")
        await page.wait_for_selector("#access-code", timeout=WAIT_MS)
        assert "You're online" in await page.inner_text("main")
        await shot(page, "online")
        await on_router(hotspot, DEMO_DEVICE[0])
        code = await page.inner_text("#access-code")

        hotspot.portal.services.clock.advance(minutes=15)
        await page.goto(hotspot.splash_url())  # the same phone, back at the splash page later
        assert "Welcome back" in await page.inner_text("main")
        assert await page.locator("#access-code").count() == 0  # a MAC in a URL proves nothing
        await shot(page, "welcome-back")

        hotspot.emulator.connect_device(*SECOND_DEVICE)
        await page.goto(hotspot.splash_url(*SECOND_DEVICE))
        await page.click("text=Enter your code")
        await shot(page, "reconnect")
        await page.fill("#code", code)
        await page.click("button:has-text('Connect')")
        await page.wait_for_selector("text=You're online", timeout=WAIT_MS)
        await on_router(hotspot, SECOND_DEVICE[0])
        await on_router(hotspot, DEMO_DEVICE[0], expected=False)


async def test_a_captive_window_closed_during_the_prompt_finds_the_payment_again_and_goes_online(hotspot):
    async with phone_browser(hotspot) as page:
        await choose_and_pay(page, hotspot)
        await page.context.close()  # the phone closes the captive-portal window as the prompt appears
    async with phone_browser(hotspot) as page:  # and opens a new one when the customer comes back
        await page.goto(hotspot.splash_url())
        assert "A payment from this device is waiting" in await page.inner_text("main")
        await shot(page, "device-waiting")
        await answer(hotspot, "success")
        await page.wait_for_selector("text=You're online", timeout=WAIT_MS)  # the page refreshed itself
        await on_router(hotspot, DEMO_DEVICE[0])


async def test_a_cancelled_prompt_then_a_retry(hotspot):
    async with phone_browser(hotspot) as page:
        await choose_and_pay(page, hotspot)
        await answer(hotspot, "cancel")
        await page.wait_for_selector("#reason", timeout=WAIT_MS)
        assert "You cancelled the M-Pesa request" in await page.inner_text("#reason")
        await shot(page, "cancelled")
        await page.click("button:has-text('Try again')")
        await page.wait_for_selector("text=Check your phone")
        await answer(hotspot, "success")
        await page.wait_for_selector("#access-code", timeout=WAIT_MS)
        await on_router(hotspot, DEMO_DEVICE[0])


async def test_the_whole_flow_works_without_javascript(hotspot):
    async with phone_browser(hotspot, javascript=False) as page:
        await choose_and_pay(page, hotspot)
        await shot(page, "waiting-without-javascript")
        await answer(hotspot, "success")
        await page.wait_for_selector("#access-code", timeout=WAIT_MS)  # the page refreshed itself
        await on_router(hotspot, DEMO_DEVICE[0])


async def test_a_receipt_from_paying_by_hand_is_claimed_on_the_reconnect_page(hotspot):
    await register_c2b_urls(hotspot)
    async with httpx.AsyncClient() as http:
        too_little = await pay_by_hand(http, hotspot.daraja, amount=5)
        receipt = await pay_by_hand(http, hotspot.daraja, amount=20)
    async with phone_browser(hotspot) as page:
        await page.goto(hotspot.splash_url())
        await page.click("text=Enter your code")
        assert "account WIFI. Prices: KES 10 for 1 hour, KES 20 for 3 hours" in await page.inner_text("main")
        await page.fill("#code", too_little)
        await page.click("button:has-text('Connect')")
        await page.wait_for_selector("#notice")  # kept as credit, and how much more the cheapest needs
        assert "pay KES 5 more" in await page.inner_text("#notice")
        await shot(page, "reconnect-credit")
        await page.fill("#code", f"{too_little} {receipt}")  # the difference and more: 25 KES in all
        await page.click("button:has-text('Connect')")
        await page.wait_for_selector("text=You're online", timeout=WAIT_MS)
        assert "KES 5 of your M-Pesa payment is left as credit" in await page.inner_text("p.notice")
        await shot(page, "online-credit")
        await on_router(hotspot, DEMO_DEVICE[0])


async def test_a_double_tapped_pay_button_sends_one_prompt(hotspot):
    async with phone_browser(hotspot) as page:
        await page.goto(hotspot.splash_url())
        await page.click("text=1 hour")
        await page.fill("#phone", "0712345678")
        await page.dblclick("button:has-text('Pay with M-Pesa')")
        await page.wait_for_selector("text=Check your phone")
        assert len(hotspot.daraja.sim.prompts) == 1


# -- the online page's countdown: the browser's clock is Playwright's, moved by the test ------------------

MONTH = 30 * 86400


async def paid_and_online(hotspot: Hotspot, page: Page, package: str, *, clock_installed=True) -> None:
    """Pays for the package named and reloads the online page with the browser's clock stopped, so that
    the test alone moves it from the moment the page loads."""
    await page.goto(hotspot.splash_url())
    await page.click(f"text={package}")
    await page.fill("#phone", "0712 345 678")
    await page.click("button:has-text('Pay with M-Pesa')")
    await page.wait_for_selector("text=Check your phone")
    await answer(hotspot, "success")
    await page.wait_for_selector("#access-code", timeout=WAIT_MS)
    await on_router(hotspot, DEMO_DEVICE[0])
    if clock_installed:
        now = await page.evaluate("Date.now()")
        await page.clock.pause_at(datetime.fromtimestamp(now / 1000 + 1, UTC))
    await page.reload()


def a_months_package(db, clock, tenant_id: int) -> None:
    packages.create(db, clock, tenant_id, PackageSpec("30 days", 1000, MONTH, "2M/5M", None))


@pytest.mark.parametrize("viewport", [PHONE, NARROWEST])
async def test_a_months_package_counts_down_each_second_and_never_reloads_by_itself(hotspot, clock, viewport):
    store = hotspot.portal.services.store
    await store.write(a_months_package, clock, hotspot.demo.tenant_id)
    async with phone_browser(hotspot) as page:
        await page.set_viewport_size(viewport)
        await page.clock.install()
        await paid_and_online(hotspot, page, "30 days")
        navigations = []
        page.on("framenavigated", lambda frame: navigations.append(frame.url))
        await page.clock.run_for(1000)
        before = await page.inner_text("#time-left")
        await page.clock.run_for(5000)
        after = await page.inner_text("#time-left")
        assert navigations == []  # a delay beyond 2^31-1 ms would fire at once, and again, forever
        assert before.startswith("29 days 23:59:") and after != before
        assert "Until 12:00, 04/02/2026" in await page.inner_text("main")
        await page.screenshot(path=SCREENSHOTS / f"splash-online-month-{viewport['width']}.png")


async def test_the_countdown_counts_the_demos_fast_time_and_flips_when_it_is_up(hotspot, clock):
    clock.scale = 60  # as the demo's --time-scale 60: a package's hour passes in a real minute
    async with phone_browser(hotspot) as page:
        await page.clock.install()
        await paid_and_online(hotspot, page, "1 hour")
        await page.clock.run_for(30_000)
        assert await page.inner_text("#time-left") == "30:00"
        clock.advance(hours=1)  # the portal's hour has passed as well
        await hotspot.portal.services.jobs.expire_due()
        await page.clock.run_for(33_000)
        await page.wait_for_selector("text=Your time is over")
        await shot(page, "time-over")


async def test_without_javascript_the_online_page_shows_the_time_left_and_when_it_ends(hotspot):
    async with phone_browser(hotspot, javascript=False) as page:
        await paid_and_online(hotspot, page, "3 hours", clock_installed=False)
        assert await page.inner_text("#time-left") == "3 hours"
        assert "Until 15:00" in await page.inner_text("main")
        await shot(page, "online-without-javascript")


@pytest.mark.parametrize("javascript", [True, False])
async def test_after_a_resend_then_a_cancel_the_failure_page_leads_on_without_a_stale_notice(
    hotspot, javascript
):
    async with phone_browser(hotspot, javascript=javascript) as page:
        await choose_and_pay(page, hotspot)
        await page.click("button:has-text('Send the prompt again')")  # the prompt is still open
        assert "The last prompt is still open" in await page.inner_text("main")
        await answer(hotspot, "cancel")
        await page.wait_for_selector("text=Payment not completed", timeout=WAIT_MS)
        assert "still open" not in await page.inner_text("main") and "notice=" not in page.url
        await shot(page, f"failed-{'js' if javascript else 'no-js'}")
        await page.click("text=Use another number")
        assert await page.is_checked("input[name=package][value='2']")  # 3 hours, as chosen before
        assert await page.input_value("#phone") == ""
        await page.fill("#phone", "0712 345 679")
        await page.click("button:has-text('Pay with M-Pesa')")
        await page.wait_for_selector("text=Check your phone")
        assert "0712 ••• 679" in await page.inner_text("main")


@pytest.mark.parametrize("javascript", [True, False])
async def test_paid_while_off_the_wifi_the_page_turns_to_the_receipt_and_code_after_a_minute(
    hotspot, clock, javascript
):
    async with phone_browser(hotspot, javascript=javascript) as page:
        await choose_and_pay(page, hotspot, mac=SECOND_DEVICE[0], ip=SECOND_DEVICE[1])  # not on the router
        await answer(hotspot, "success")
        await page.wait_for_selector("text=Paid. Connecting you", timeout=WAIT_MS)
        clock.advance(seconds=60)
        await page.wait_for_selector("#access-code", timeout=WAIT_MS)  # the page turned by itself
        assert "Paid, but not connected yet" in await page.inner_text("main")
        assert await page.locator("#help a[href^='tel:']").count() == 1
        await shot(page, f"paid-not-connected-{'js' if javascript else 'no-js'}")


async def test_the_icon_every_browser_asks_for_is_served_and_decodes(hotspot):
    async with phone_browser(hotspot) as page:
        await page.goto(hotspot.splash_url())
        icon = await page.request.get(f"{hotspot.portal.base_url}/favicon.ico")
        assert icon.status == 200 and icon.headers["content-type"] == "image/x-icon"
        assert len(await icon.body()) < 200
        decoded = (
            "async () => { const i = new Image(); i.src = '/favicon.ico'; await i.decode(); return i.width; }"
        )
        width = await page.evaluate(decoded)
        assert width == 16


@pytest.mark.parametrize("javascript", [True, False])
async def test_another_networks_number_is_refused_at_once_saying_why(hotspot, javascript):
    async with phone_browser(hotspot, javascript=javascript) as page:
        await page.goto(hotspot.splash_url())
        assert "Safaricom M-Pesa numbers only" in await page.inner_text("#phone-hint")
        await page.click("text=1 hour")
        await page.fill("#phone", "0733 123 456")
        await page.click("button:has-text('Pay with M-Pesa')")
        await page.wait_for_selector("#error")
        assert "Airtel numbers can't get the M-Pesa prompt" in await page.inner_text("#error")
        assert await page.input_value("#phone") == "0733 123 456"  # kept, to be corrected
        assert not hotspot.daraja.sim.prompts
        await shot(page, f"airtel-refused-{'js' if javascript else 'no-js'}")


def contrast(rgb: str, background=(255, 255, 255)) -> float:
    """WCAG's contrast ratio of a CSS 'rgb(r, g, b)' colour against a background."""

    def luminance(channels) -> float:
        linear = [c / 255 / 12.92 if c <= 10 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    colour = [int(part) for part in rgb.removeprefix("rgb(").removesuffix(")").split(",")[:3]]
    lighter, darker = sorted((luminance(colour), luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


async def test_the_focus_ring_stands_out_and_header_and_footer_links_are_big_enough_to_tap(hotspot):
    async with phone_browser(hotspot) as page:
        await page.goto(hotspot.splash_url())
        await page.focus("#phone")
        ring = await page.eval_on_selector("#phone", "e => getComputedStyle(e).outlineColor")
        assert contrast(ring) >= 3  # WCAG's least for a focus indicator against the white around it
        heights = await page.eval_on_selector_all(
            "header a, footer a", "links => links.map(a => a.offsetHeight)"
        )
        assert len(heights) == 2 and min(heights) >= 40


async def test_pay_says_the_prompt_is_on_its_way_while_a_slow_line_answers(hotspot):
    async with phone_browser(hotspot) as page:
        await page.goto(hotspot.splash_url())
        await page.click("text=1 hour")
        await page.fill("#phone", "0712 345 678")
        # The answer held for as long as the test looks: the form is kept from leaving the page.
        await page.eval_on_selector("#pay", "b => b.form.addEventListener('submit', e => e.preventDefault())")
        await page.click("#pay")
        assert await page.inner_text("#pay") == "Sending the M-Pesa prompt…"
        assert await page.is_disabled("#pay")
        await shot(page, "sending")
        # Back on the page as the browser kept it (Android's back-forward cache): the button works again.
        await page.evaluate("dispatchEvent(new PageTransitionEvent('pageshow', {persisted: true}))")
        assert not await page.is_disabled("#pay")
        assert await page.inner_text("#pay") == "Pay with M-Pesa"


@pytest.mark.parametrize("viewport", [PHONE, NARROWEST])
async def test_the_language_switch_is_at_the_top_and_the_choice_is_kept(hotspot, viewport):
    async with phone_browser(hotspot) as page:
        await page.set_viewport_size(viewport)
        await page.goto(hotspot.splash_url())
        switch = await page.locator("#language").bounding_box()
        assert switch["y"] + switch["height"] <= viewport["height"] / 4  # above the fold, first thing seen
        await page.click("#language")
        await page.wait_for_selector("text=Chagua kifurushi")
        await shot(page, "packages-swahili")
        await page.goto(hotspot.splash_url())  # the router sends the device afresh: Swahili is kept
        assert "Chagua kifurushi" in await page.inner_text("main")


@pytest.mark.parametrize("javascript", [True, False])
async def test_cancel_on_the_waiting_page_says_to_dismiss_the_prompt_and_a_late_payment_goes_online(
    hotspot, javascript
):
    async with phone_browser(hotspot, javascript=javascript) as page:
        await choose_and_pay(page, hotspot)
        await page.click("#cancel")
        await page.wait_for_selector("#reason")
        assert "press Cancel on it" in await page.inner_text("#reason")
        await shot(page, f"cancelled-here{'' if javascript else '-without-javascript'}")
        await answer(hotspot, "success")  # paid on the phone all the same: the page follows
        await page.wait_for_selector("#access-code", timeout=WAIT_MS)
        await on_router(hotspot, DEMO_DEVICE[0])


# 200 % zoom on a 360 px (and a 320 px) screen: the page is laid out 180 (160) CSS pixels wide.
ZOOMED = [{"width": 180, "height": 370}, {"width": 160, "height": 320}]


@pytest.mark.parametrize("viewport", ZOOMED)
async def test_at_double_zoom_on_a_small_phone_the_pages_fit_the_screen(hotspot, viewport):
    async with phone_browser(hotspot) as page:
        await page.set_viewport_size(viewport)
        await page.goto(hotspot.splash_url())
        overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the packages page is {overflow} px too wide"
        await page.screenshot(
            path=SCREENSHOTS / f"splash-packages-zoom-{viewport['width']}.png", full_page=True
        )
        await page.click("text=Enter your code")
        assert await fits_the_screen(page)


@pytest.mark.parametrize("javascript", [True, False])
async def test_back_from_the_waiting_page_says_a_payment_is_running(hotspot, javascript):
    async with phone_browser(hotspot, javascript=javascript) as page:
        await choose_and_pay(page, hotspot)
        await page.go_back()
        assert "A payment from this device is waiting" in await page.inner_text("main")
        await shot(page, f"back-from-waiting{'' if javascript else '-without-javascript'}")


@pytest.mark.parametrize("javascript", [True, False])
async def test_my_time_counts_down_and_shows_the_code_on_a_tap_with_or_without_javascript(
    hotspot, javascript
):
    async with phone_browser(hotspot, javascript=javascript) as page:
        await choose_and_pay(page, hotspot)
        await answer(hotspot, "success")
        await page.wait_for_selector("#access-code", timeout=WAIT_MS)
        await page.click("#my-time")
        await page.wait_for_selector("#code-tap")
        assert not await page.is_visible("#access-code")  # behind a tap
        await shot(page, f"my-time{'' if javascript else '-without-javascript'}")
        await page.click("#code-tap summary")
        assert await page.is_visible("#access-code")
        if javascript:  # the time left ticks down each second, as on the online page
            before = await page.inner_text("#time-left")
            await page.wait_for_function(f"document.getElementById('time-left').textContent !== {before!r}")
        else:
            assert "Until" in await page.inner_text("main")


@pytest.mark.parametrize("javascript", [True, False])
async def test_my_time_warns_in_the_last_minutes_that_the_time_is_ending(hotspot, clock, javascript):
    async with phone_browser(hotspot, javascript=javascript) as page:
        await page.clock.install()
        await choose_and_pay(page, hotspot)  # 3 hours, until 15:00
        await answer(hotspot, "success")
        await page.wait_for_selector("#access-code", timeout=WAIT_MS)
        await on_router(hotspot, DEMO_DEVICE[0])
        clock.advance(hours=2, minutes=54, seconds=30)  # the portal's clock: five and a half minutes left
        now = await page.evaluate("Date.now()")
        await page.clock.pause_at(datetime.fromtimestamp(now / 1000 + 1, UTC))
        await page.goto(f"{hotspot.portal.base_url}/me")
        assert not await page.is_visible("#ending")
        if javascript:  # the countdown itself shows the warning when the last five minutes begin
            await page.clock.run_for(31_000)
            assert await page.inner_text("#time-left") == "4:59"
        else:  # the page as it was served: the time left, when it ends, and the warning
            clock.advance(seconds=31)
            await page.reload()
            assert await page.inner_text("#time-left") == "5 minutes"
            assert "Until 15:00" in await page.inner_text("main")
        assert await page.is_visible("#ending")
        assert await page.inner_text("#ending") == "Your time is almost over. Buy more now to stay online."
        assert await page.is_visible("text=Buy more time")
        await shot(page, f"my-time-ending{'' if javascript else '-without-javascript'}")
