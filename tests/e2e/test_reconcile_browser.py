"""The statement check in real headless Chromium: the owner uploads the sample M-Pesa statement on a laptop
and on a phone without JavaScript, reads what is on one side only, and opens the payment that never heard
of its money."""

import pytest

from portal.app import create_app
from portal.clock import FixedClock
from tests.billing.sample_statement import DAY_AFTER, SAMPLE, seed_sample
from tests.conftest import serving
from tests.e2e.chromium import LAPTOP, PHONE, SCREENSHOTS, chromium, fits_the_screen
from tests.e2e.test_admin_browser import sign_in
from tests.seed import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(DAY_AFTER)


async def test_the_owner_uploads_the_statement_and_opens_a_payment_that_never_reached_the_portal(
    settings, clock, vault, store
):
    shop = await store.write(seed_sample, clock, vault)
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, chromium(base) as browser:
        page = await browser.page(viewport=LAPTOP)
        await sign_in(page, base, shop.seeded.owner, PASSWORD)
        await page.click("nav >> text=Statement")
        await page.set_input_files("#statement", SAMPLE)
        await page.click("button:has-text('Check')")
        assert await page.inner_text("#total-never_reached") == "Paid, never reached the portal\t4\tKES 110"
        assert "RENT-APT4" in await page.inner_text("#not_wifi + .table-wrap")
        assert "TLA0000099" in await page.inner_text("#missing + .table-wrap")
        await page.screenshot(path=SCREENSHOTS / "reconcile-1280x800.png", full_page=True)
        await page.click(f"a[href='/admin/payments/{shop.unknown}']")
        assert "Did this customer pay?" in await page.inner_text("main")

        phone = await browser.page(viewport=PHONE, java_script_enabled=False, is_mobile=True, has_touch=True)
        await sign_in(phone, base, shop.seeded.owner, PASSWORD)
        await phone.goto(f"{base}/admin/reconcile")
        await phone.set_input_files("#statement", SAMPLE)
        await phone.click("button:has-text('Check')")
        assert "3 KES 160" in " ".join((await phone.inner_text("#total-matched")).split())
        assert await fits_the_screen(phone)
        await phone.screenshot(path=SCREENSHOTS / "reconcile-360x740.png", full_page=True)

        await phone.set_input_files(
            "#statement", {"name": "statement.pdf", "mimeType": "", "buffer": b"%PDF-1"}
        )
        await phone.click("button:has-text('Check')")
        assert "That is a PDF" in await phone.inner_text("#statement-error")
        assert await fits_the_screen(phone)
