"""The customers page and the admin's lists as cards, in headless Chromium at 1280x800 and 360x740."""

import pytest
from playwright.async_api import Page

from portal.app import create_app
from tests.conftest import serving
from tests.e2e.chromium import LAPTOP, PHONE, SCREENSHOTS, chromium
from tests.e2e.test_admin_browser import seed_demo_payments, sign_in

pytestmark = pytest.mark.browser

NO_SIDEWAYS = "document.scrollingElement.scrollWidth"
# Whatever scrolls sideways inside the page (a table in its wrapper) instead of the page itself.
INNER_SCROLL = (
    "[...document.querySelectorAll('.table-wrap')].filter(w => w.scrollWidth > w.clientWidth).length"
)


async def as_cards(page: Page, table: str) -> bool:
    """The table's rows are cards: its header hidden, each cell named by its label."""
    header = await page.locator(f"{table} thead").first.is_visible()
    labels = await page.evaluate(
        f"getComputedStyle(document.querySelector('{table} td[data-label]'), '::before').content"
    )
    return not header and labels not in ("none", "normal", "")


async def test_owner_finds_a_customer_at_a_laptop_and_reads_customers_and_payments_as_cards_on_a_phone(
    settings, clock, vault
):
    demo, _ = await seed_demo_payments(settings, clock, vault)
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, chromium(base) as browser:
        page = await browser.page(viewport=LAPTOP)
        await sign_in(page, base, demo.admin_email, demo.admin_password)
        await page.click("nav >> text=Customers")
        assert await page.locator("#customers tbody tr").count() == 42  # 40 paid, 2 failed
        await page.screenshot(path=SCREENSHOTS / "customers-1280x800.png", full_page=True)
        await page.fill("#phone", "+254 700-000-000")
        await page.click("button:has-text('Find')")
        await page.screenshot(path=SCREENSHOTS / "customer-1280x800.png", full_page=True)
        assert "Customer 0700 000 000" in await page.inner_text("h1")
        # The phone it paid from, and the one its access is on (the test data moved it).
        assert await page.locator("#devices tbody tr").count() == 2
        assert await page.inner_text("#payment-count") == "1"
        assert await page.locator("#sessions button:has-text('Add minutes')").count() == 1  # online now
        assert await page.locator("#payments thead").is_visible()  # a table at this width
        customer = page.url

        phone = await browser.page(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
        await sign_in(phone, base, demo.admin_email, demo.admin_password)
        for name, path, table in [
            ("customers", "/admin/customers", "#customers"),
            ("customer", customer.removeprefix(base), "#payments"),
            ("payments-cards", "/admin/payments", "table.cards"),
            ("sessions-cards", "/admin/sessions", "table.cards"),
            ("audit-cards", "/admin/audit", "table.cards"),
            ("team-cards", "/admin/team", "table.cards"),
        ]:
            await phone.goto(base + path)
            assert await phone.evaluate(NO_SIDEWAYS) <= 360, path
            assert await phone.evaluate(INNER_SCROLL) == 0, path
            assert await as_cards(phone, table), path
            await phone.screenshot(path=SCREENSHOTS / f"{name}-360x740.png", full_page=True)
        await phone.goto(f"{base}/admin/payments")
        await phone.click("nav >> text=Customers")  # the menu stays reachable on a phone
        assert phone.url == f"{base}/admin/customers"
