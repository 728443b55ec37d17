"""The admin in real headless Chromium, on a laptop-sized and a phone-sized screen."""

import csv
from datetime import timedelta

import pytest
from playwright.async_api import Page

from portal.app import create_app
from portal.billing.earnings import day_starts
from portal.cli.demo import seed
from portal.clock import to_text
from portal.store.sqlite import SQLiteStore
from portal.vault import fingerprint, new_token
from tests.conftest import serving
from tests.e2e.chromium import LAPTOP, PHONE, SCREENSHOTS, chromium, fits_the_screen
from tests.seed import insert, insert_account, insert_payment

pytestmark = pytest.mark.browser


async def seed_demo_payments(settings, clock, vault):
    """The demo tenant, plus a till, a router and a fortnight of payments written with SQL."""
    store = await SQLiteStore.open(settings.database_path)
    try:
        await store.migrate()
        demo = await store.write(seed, clock)
        earned_today = await store.write(add_payments, clock, vault, demo.tenant_id, settings.store.timezone)
    finally:
        await store.close()
    return demo, earned_today


def add_payments(db, clock, vault, tenant_id: int, zone) -> int:
    """An account, a router and payments for the demo tenant; returns what was earned today."""
    now = clock.now()
    stamps = {"created_at": to_text(now), "updated_at": to_text(now)}
    account = insert_account(db, clock, vault, tenant_id, "Cafe PayBill")
    router = insert(
        db,
        "routers",
        tenant_id=tenant_id,
        name="cafe-main",
        host="192.168.88.1",
        port=8728,
        username="portal",
        password_enc=vault.encrypt("x"),
        mpesa_account_id=account,
        last_seen_at=to_text(now),
        created_at=to_text(now),
    )
    packages = [tuple(row) for row in db.all("SELECT id, price FROM packages ORDER BY position")]
    for n in range(40):
        package, price = packages[n % len(packages)]
        paid_at = now - timedelta(hours=9 * n + 1)
        session = insert(
            db,
            "access_sessions",
            tenant_id=tenant_id,
            router_id=router,
            package_id=package,
            mac=f"AA:BB:CC:DD:{n // 256:02X}:{n % 256:02X}",
            ip=f"10.5.50.{n + 10}",
            state="active" if n < 3 else "expired",
            paid_seconds=3600,
            access_code_hash=fingerprint(new_token()),
            access_code_enc=vault.encrypt("c"),
            started_at=to_text(paid_at),
            expires_at=to_text(paid_at + timedelta(hours=3)),
            **stamps,
        )
        insert_payment(
            db,
            tenant_id=tenant_id,
            mpesa_account_id=account,
            package_id=package,
            router_id=router,
            phone=f"2547{n:08d}",
            amount=price,
            state="paid",
            at=to_text(paid_at),
            receipt=f"SGR{n:07d}",
            access_session_id=session,
        )
    for n, (code, description) in enumerate([("1032", "Request cancelled by user"), ("1037", "No response")]):
        insert_payment(
            db,
            tenant_id=tenant_id,
            mpesa_account_id=account,
            package_id=packages[0][0],
            router_id=router,
            phone=f"25411{n:07d}",
            amount=packages[0][1],
            state="failed",
            at=to_text(now - timedelta(hours=2)),
            result_code=code,
            result_desc=description,
        )
    for receipt, amount, bill_ref in (("SGR7H2KQ1P", 50, "wifi"), ("SGR7H2KQ2R", 3000, "RENT-APT4")):
        insert(
            db,
            "c2b_payments",
            tenant_id=tenant_id,
            mpesa_account_id=account,
            receipt=receipt,
            amount=amount,
            bill_ref=bill_ref,
            for_wifi=int(bill_ref == "wifi"),
            payer_name="JANE W",
            received_at=to_text(now - timedelta(hours=1)),
        )
    return db.value(
        "SELECT sum(amount) FROM payments WHERE state = 'paid' AND paid_at >= ?",
        (to_text(day_starts(zone, now, 1)[0]),),
    )


async def sign_in(page: Page, base: str, email: str, password: str) -> None:
    await page.goto(f"{base}/admin")
    await page.fill("#email", email)
    await page.fill("#password", password)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}/admin")


async def test_owner_signs_in_sees_earnings_exports_csv_adds_a_package_and_prints_vouchers(
    settings, clock, vault, tmp_path
):
    demo, earned_today = await seed_demo_payments(settings, clock, vault)
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, chromium(base) as browser:
        page = await browser.page(viewport=LAPTOP, accept_downloads=True)
        await sign_in(page, base, demo.admin_email, demo.admin_password)
        assert await page.inner_text("#earned-today") == f"KES {earned_today:,}"
        assert await page.locator("svg.bars rect.bar").count() == 30
        assert "Request cancelled by user" in await page.inner_text("main")
        await page.screenshot(path=SCREENSHOTS / "dashboard-1280x800.png", full_page=True)

        await page.click("nav >> text=Payments")
        await page.click("summary")  # the filter folds away, to leave a phone's screen to the list
        await page.select_option("#state", "paid")
        await page.click("button:has-text('Filter')")
        assert "40 payments" in await page.inner_text("main")
        async with page.expect_download() as download_info:
            await page.click("text=Export CSV")
        download = await download_info.value
        saved = tmp_path / download.suggested_filename
        await download.save_as(saved)
        rows = list(csv.DictReader(saved.read_text(encoding="utf-8").splitlines()))
        assert len(rows) == 40
        assert {row["State"] for row in rows} == {"paid"}
        assert sum(int(row["Amount (KES)"]) for row in rows) > 0
        await page.screenshot(path=SCREENSHOTS / "payments-1280x800.png", full_page=True)

        await page.click("nav >> text=Packages")
        await page.click("text=Add a package")
        await page.fill("#name", "Weekend")
        await page.fill("#price", "120")
        await page.fill("#duration", "2")
        await page.select_option("#duration_unit", "days")
        await page.fill("#rate_limit", "2M/5M")
        await page.click("text=Save")
        await page.wait_for_url(f"{base}/admin/packages?done=saved")
        assert "Weekend" in await page.inner_text("table")

        await page.click("nav >> text=Vouchers")
        await page.select_option("#package_id", label="Weekend · KES 120")
        await page.fill("#count", "24")
        await page.click("text=Generate")
        assert await page.locator("code.voucher-code").count() == 24
        await page.click("text=Printable sheet (A4)")
        assert await page.locator(".ticket").count() == 24
        await page.emulate_media(media="print")
        await page.screenshot(path=SCREENSHOTS / "vouchers-print-1280x800.png", full_page=True)
        await page.pdf(path=str(SCREENSHOTS / "vouchers-a4.pdf"), format="A4")
        await page.emulate_media(media="screen")

        await page.click("nav >> text=Routers")
        assert await page.locator("button:has-text('Check connection')").count() == 1
        await page.screenshot(path=SCREENSHOTS / "routers-1280x800.png", full_page=True)
        await page.click("nav >> text=M-Pesa")
        assert await page.locator("button:has-text('Test credentials')").count() == 1

        page = await browser.page(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
        await sign_in(page, base, demo.admin_email, demo.admin_password)
        assert await page.inner_text("#earned-today") == f"KES {earned_today:,}"
        assert await page.inner_text("#credit-outstanding") == "KES 50"  # the rent is nobody's credit
        assert await fits_the_screen(page)
        await page.screenshot(path=SCREENSHOTS / "dashboard-360x740.png", full_page=True)
        await page.goto(f"{base}/admin/payments")
        await page.locator("#by-hand").scroll_into_view_if_needed()
        paid_by_hand = await page.inner_text("#by-hand + p + .table-wrap")
        assert all(words in paid_by_hand for words in ("RENT-APT4", "not for Wi-Fi", "not claimed", "KES 50"))
        assert await fits_the_screen(page)
        await page.screenshot(path=SCREENSHOTS / "payments-by-hand-360x740.png")
        for name, path in [
            ("payments", "/admin/payments"),
            ("sessions", "/admin/sessions"),
            ("give-access", "/admin/sessions/new"),
            ("packages", "/admin/packages"),
            ("routers", "/admin/routers"),
            ("mpesa", "/admin/mpesa"),
        ]:
            await page.goto(base + path)
            assert await fits_the_screen(page), path
            await page.screenshot(path=SCREENSHOTS / f"{name}-360x740.png", full_page=True)
        await page.goto(f"{base}/admin/sessions")
        await page.click("text=Manage >> nth=0")  # add time, move, end access
        assert await page.locator("a:has-text('End access now')").count() == 1  # to the page that asks first
        assert await fits_the_screen(page)
        await page.screenshot(path=SCREENSHOTS / "session-360x740.png", full_page=True)
        await page.click("text=End access now")
        assert "not refunded" in await page.inner_text("#confirm")
        assert await fits_the_screen(page)
        await page.screenshot(path=SCREENSHOTS / "session-end-confirm-360x740.png", full_page=True)


async def test_owner_reads_a_report_for_a_period_and_its_csv_adds_up(settings, clock, vault, tmp_path):
    demo, earned_today = await seed_demo_payments(settings, clock, vault)
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, chromium(base) as browser:
        page = await browser.page(viewport=LAPTOP, accept_downloads=True)
        await sign_in(page, base, demo.admin_email, demo.admin_password)
        await page.click("#earned-today a")  # the dashboard's figure opens the report of its day
        assert await page.inner_text("#earned") == f"KES {earned_today:,}"
        await page.click("nav >> text=Reports")
        await page.click("text=Last 30 days")
        earned = await page.inner_text("#earned")
        assert await page.locator("#by-day tbody tr").count() == 30  # days with nothing too
        assert await page.inner_text("#credit-now") == "KES 50"  # apart from what was earned
        await page.screenshot(path=SCREENSHOTS / "reports-1280x800.png", full_page=True)
        async with page.expect_download() as download_info:
            await page.click("text=Download CSV")
        saved = tmp_path / (await download_info.value).suggested_filename
        await (await download_info.value).save_as(saved)
        rows = list(csv.DictReader(saved.read_text(encoding="utf-8-sig").splitlines()))
        assert f"KES {sum(int(row['Earned (KES)']) for row in rows):,}" == earned
        await page.fill("#from", "2026-02-01")
        await page.fill("#to", "2026-01-01")
        await page.click("button:has-text('Show')")
        assert "The end date is before the start date." in await page.inner_text("main")

        page = await browser.page(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
        await sign_in(page, base, demo.admin_email, demo.admin_password)
        await page.goto(f"{base}/admin/reports")
        assert await page.evaluate("document.documentElement.scrollWidth") <= 360
        await page.screenshot(path=SCREENSHOTS / "reports-360x740.png", full_page=True)
