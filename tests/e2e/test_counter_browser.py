"""The counter and the clean-up in real headless Chromium: an owner disables a router after its
confirmation page says what happens, on a laptop and on a phone; staff at the counter give time,
sell vouchers and check a router, without phone lists or other people's voucher codes."""

import pytest

from portal.app import create_app
from portal.store.sqlite import SQLiteStore
from portal.tenancy.admins import create_admin
from tests.conftest import serving
from tests.e2e.chromium import LAPTOP, PHONE, SCREENSHOTS, chromium, fits_the_screen
from tests.e2e.test_admin_browser import seed_demo_payments, sign_in
from tests.seed import PASSWORD

pytestmark = pytest.mark.browser
STAFF = "till@demo.example"


async def add_staff(settings, clock) -> None:
    store = await SQLiteStore.open(settings.database_path)
    try:
        await store.write(create_admin, clock, email=STAFF, password=PASSWORD, role="staff", tenant_id=1)
    finally:
        await store.close()


@pytest.mark.parametrize("screen", [LAPTOP, PHONE], ids=["1280x800", "360x740"])
async def test_owner_disables_a_router_after_the_confirmation_says_what_happens(
    settings, clock, vault, screen
):
    demo, _ = await seed_demo_payments(settings, clock, vault)
    size = f"{screen['width']}x{screen['height']}"
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, chromium(base) as browser:
        page = await browser.page(viewport=screen, is_mobile=screen == PHONE, has_touch=screen == PHONE)
        await sign_in(page, base, demo.admin_email, demo.admin_password)
        await page.goto(f"{base}/admin/routers")
        await page.click("tr:has-text('cafe-main') >> text=Disable")
        said = await page.inner_text("#confirm")
        # The demo's one device still in its paid time (the expiry job ended the others').
        assert "1 customer is online through cafe-main now: they keep their time until it ends" in said
        assert "Its Wi-Fi page sells nothing any more" in said
        assert "Payments, sessions and the audit log keep showing its name" in said
        assert await fits_the_screen(page)
        await page.screenshot(path=SCREENSHOTS / f"router-disable-confirm-{size}.png", full_page=True)
        await page.click("button:has-text('Disable cafe-main')")
        assert "Disabled. You can enable it again" in await page.inner_text("main")
        assert "disabled" in await page.inner_text("tr:has-text('cafe-main')")
        await page.click("tr:has-text('cafe-main') >> button:has-text('Enable')")
        assert "Enabled" in await page.inner_text("main")


@pytest.mark.parametrize("screen", [LAPTOP, PHONE], ids=["1280x800", "360x740"])
async def test_staff_at_the_counter_give_time_sell_vouchers_and_check_a_router(
    settings, clock, vault, screen
):
    await seed_demo_payments(settings, clock, vault)
    await add_staff(settings, clock)
    size = f"{screen['width']}x{screen['height']}"
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, chromium(base) as browser:
        page = await browser.page(viewport=screen, is_mobile=screen == PHONE, has_touch=screen == PHONE)
        await sign_in(page, base, STAFF, PASSWORD)
        assert (await page.inner_text("#earned-today")).startswith("KES")  # today's takings
        await page.screenshot(path=SCREENSHOTS / f"staff-dashboard-{size}.png", full_page=True)

        await page.goto(f"{base}/admin/sessions")
        await page.click("text=Manage >> nth=0")
        await page.fill("#minutes", "20")
        await page.click("#add-time button:has-text('Add time')")
        assert "Time added" in await page.inner_text("main")
        assert "End access now" not in await page.inner_text("main")
        await page.fill("#minutes", "45")
        await page.click("#add-time button:has-text('Add time')")
        refused = await page.inner_text("#add-time")
        assert "you can give 40 more minutes today, of the 60 a day the owner allows" in refused
        assert await fits_the_screen(page)
        await page.screenshot(path=SCREENSHOTS / f"staff-goodwill-refused-{size}.png", full_page=True)

        await page.goto(f"{base}/admin/vouchers")
        assert await page.locator("#price").count() == 0  # the package's price, no other
        await page.select_option("#package_id", index=1)
        await page.fill("#count", "4")
        await page.click("button:has-text('Generate')")
        await page.click("button:has-text('Mark the 4 unused as sold')")
        assert "count as sold now" in await page.inner_text("main")
        assert await page.locator("text=Printable sheet (A4)").count() == 1  # their own batch
        assert await fits_the_screen(page)
        await page.screenshot(path=SCREENSHOTS / f"staff-vouchers-{size}.png", full_page=True)

        await page.goto(f"{base}/admin/payments")
        assert await page.locator("text=Export CSV").count() == 0
        await page.goto(f"{base}/admin/routers")
        assert await page.locator("text=Disable").count() == 0
        await page.click("tr:has-text('cafe-main') >> text=Check connection")
        assert "cafe-main did not answer" in await page.inner_text("main")  # its address is made up
        assert await fits_the_screen(page)
        await page.screenshot(path=SCREENSHOTS / f"staff-routers-{size}.png", full_page=True)
