"""The owner's API clients page in real headless Chromium, with a month of use and a delivery log:
at a laptop and on a phone, nothing wider than the screen, no script needed."""

from datetime import date, timedelta

import pytest

from portal.tenancy import api_usage
from tests.e2e.chromium import LAPTOP, PHONE, SCREENSHOTS, chromium, fits_the_screen
from tests.e2e.test_admin_browser import sign_in
from tests.tenancy.test_webhooks import Receiver, add_endpoint, pay_and_answer, tried
from tests.web.api.conftest import Api

pytestmark = pytest.mark.browser


async def test_the_client_page_shows_use_against_limits_and_the_delivery_log_at_1280_and_360(hotspot, http):
    services = hotspot.portal.services
    api = Api(http, hotspot, hotspot.demo.api_token)
    month = {
        (1, date(2026, 1, 5) - timedelta(days=n)): api_usage.Counts(40 + 7 * (n % 5), n % 3, 4 + n % 4, n % 2)
        for n in range(1, 30)
    }
    await services.store.write(api_usage.add, month)  # the days before this test's
    receiver = Receiver()
    async with receiver.up():
        await add_endpoint(api, receiver.url)
        await pay_and_answer(api, "success")
        await tried(api, 1)
    await api.get("/payments/999")  # a failed call
    await services.jobs.write_usage()

    base = hotspot.portal.base_url
    async with chromium(base) as browser:
        for size, name, options in (
            (LAPTOP, "1280x800", {}),
            (PHONE, "360x740", {"device_scale_factor": 2, "is_mobile": True, "has_touch": True}),
        ):
            page = await browser.page(viewport=size, java_script_enabled=False, **options)
            await sign_in(page, base, hotspot.demo.admin_email, hotspot.demo.admin_password)
            await page.click("nav >> text=API")
            await page.click("text=Demo shop")
            assert "1 of 10,000" in await page.inner_text("#prompts-this-month")
            assert "payment.paid" in await page.inner_text("#deliveries + .table-wrap")
            assert await page.locator("svg.bars rect.bar").count() == 30
            assert await fits_the_screen(page)
            await page.screenshot(path=SCREENSHOTS / f"api-client-{name}.png", full_page=True)
