"""A payment whose push answer never came, in real headless Chromium: the customer's page on a phone, the
owner's dashboard and payment page on a laptop and a phone, and the customer online once the owner
confirms."""

import pytest

from portal.cli.demo import DEMO_DEVICE
from tests.e2e.chromium import LAPTOP, PHONE, SCREENSHOTS, chromium, fits_the_screen
from tests.e2e.test_admin_browser import sign_in
from tests.e2e.test_splash_browser import WAIT_MS, on_router, shot
from tests.web.test_unknown_payments import killed_in_the_push_window

pytestmark = pytest.mark.browser


async def test_an_unknown_payment_is_typed_by_the_customer_confirmed_by_the_owner_and_goes_online(
    http,
    nat_hotspot,
    clock,
):
    hotspot = nat_hotspot  # no callback can come: only the owner can settle it
    payment = await killed_in_the_push_window(http, hotspot, clock)
    base = hotspot.portal.base_url
    async with chromium(base) as browser:
        customer = await browser.page(viewport=PHONE)
        await customer.goto(f"{base}/pay/{payment.ref}")
        assert "We could not hear from M-Pesa whether you paid" in await customer.inner_text("main")
        await shot(customer, "unknown")
        await customer.fill("#receipt", "tj3m x6cl yc")  # as typed from the SMS, spaces and all
        await customer.click("button:has-text('Send')")
        await customer.wait_for_selector("text=We have your receipt TJ3MX6CLYC")
        await shot(customer, "unknown-receipt-typed")

        owner = await browser.page(viewport=LAPTOP)
        await sign_in(owner, base, hotspot.demo.admin_email, hotspot.demo.admin_password)
        attention = await owner.inner_text("#unknown-payments + *")
        assert "TJ3MX6CLYC" in attention and "KES" in attention
        await owner.screenshot(path=SCREENSHOTS / "dashboard-unknown-1280x800.png", full_page=True)
        await owner.set_viewport_size(PHONE)
        assert await fits_the_screen(owner)
        await owner.screenshot(path=SCREENSHOTS / "dashboard-unknown-360x740.png", full_page=True)

        await owner.click(f"a[href='/admin/payments/{payment.id}']")
        assert "Did this customer pay?" in await owner.inner_text("main")
        assert await fits_the_screen(owner)
        await owner.screenshot(path=SCREENSHOTS / "payment-unknown-360x740.png", full_page=True)
        await owner.set_viewport_size(LAPTOP)
        await owner.screenshot(path=SCREENSHOTS / "payment-unknown-1280x800.png", full_page=True)
        await owner.click("#confirm-paid")
        await owner.wait_for_selector("text=confirmed paid")

        # The customer's page, still open, follows by itself.
        await customer.wait_for_selector("#access-code", timeout=WAIT_MS)
        assert "You're online" in await customer.inner_text("main")
        await shot(customer, "unknown-confirmed-online")
    await on_router(hotspot, DEMO_DEVICE[0])
