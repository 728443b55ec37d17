"""The owner's team page in real headless Chromium: inviting at a laptop, removing (after its
confirmation page) on a phone, and the removed admin's own browser signed out at once."""

import pytest

from portal.app import create_app
from portal.cli.demo import seed
from portal.store.sqlite import SQLiteStore
from tests.conftest import serving
from tests.e2e.chromium import LAPTOP, PHONE, SCREENSHOTS, chromium, fits_the_screen
from tests.e2e.test_admin_browser import sign_in

pytestmark = pytest.mark.browser
TILL = "till@demo.example"


async def seed_demo(settings, clock):
    store = await SQLiteStore.open(settings.database_path)
    try:
        await store.migrate()
        return await store.write(seed, clock)
    finally:
        await store.close()


async def test_owner_invites_staff_at_a_laptop_and_removes_them_from_a_phone_after_confirming(
    settings, clock, vault
):
    demo = await seed_demo(settings, clock)
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, chromium(base) as browser:
        laptop = await browser.page(viewport=LAPTOP)
        await sign_in(laptop, base, demo.admin_email, demo.admin_password)
        await laptop.click("nav >> text=Team")
        await laptop.fill("#email", TILL)
        await laptop.select_option("#role", "staff")
        await laptop.click("button:has-text('Invite')")
        password = await laptop.inner_text("#temporary-password code")
        assert TILL in await laptop.inner_text("table")
        await laptop.screenshot(path=SCREENSHOTS / "team-1280x800.png", full_page=True)

        till = await browser.page(viewport=PHONE, is_mobile=True, has_touch=True)
        await sign_in(till, base, TILL, password)
        assert "Team" not in await till.inner_text("nav")

        phone = await browser.page(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
        await sign_in(phone, base, demo.admin_email, demo.admin_password)
        await phone.goto(f"{base}/admin/team")
        assert password not in await phone.content()  # shown once, at the laptop
        assert await fits_the_screen(phone)
        await phone.screenshot(path=SCREENSHOTS / "team-360x740.png", full_page=True)
        await phone.click(f"tr:has-text('{TILL}') >> text=Remove")
        assert "signed out now" in await phone.inner_text("#confirm")
        assert await fits_the_screen(phone)
        await phone.screenshot(path=SCREENSHOTS / "team-remove-confirm-360x740.png", full_page=True)
        await phone.click("button:has-text('Remove from the team')")
        assert "Removed from the team" in await phone.inner_text("main")
        assert "removed" in await phone.inner_text(f"tr:has-text('{TILL}')")

        await till.reload()
        assert till.url.startswith(f"{base}/admin/login")
