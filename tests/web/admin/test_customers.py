"""Customers in the admin: a number that paid on the Wi-Fi page (the Daraja simulator, the RouterOS
emulator), found however it is typed, with its devices, payments, what it spent and its sessions; time
added from there through the sessions' own form; staff see the number masked and change nothing."""

import re

from portal.app import create_app
from tests.conftest import Hotspot, serving, value
from tests.seed import seed_tenant
from tests.web.admin.client import browser, csrf_of, sign_in
from tests.web.test_splash import OTHER_DEVICE, answer, online, pay

DEMO_MAC = "AA:BB:CC:00:00:01"


async def paid_then_cancelled(http, hotspot: Hotspot, clock) -> None:
    """0712 345 678 pays for an hour on one phone, then cancels a prompt on another."""
    await pay(http, hotspot)
    await answer(hotspot, "success")
    await online(hotspot)
    clock.advance(minutes=3)
    hotspot.emulator.connect_device(*OTHER_DEVICE)
    await pay(http, hotspot, phone="254712345678", package="2", mac=OTHER_DEVICE[0], ip=OTHER_DEVICE[1])
    await answer(hotspot, "cancel")


async def test_a_customer_found_by_any_spelling_shows_devices_payments_what_they_spent_and_sessions(
    http, hotspot, clock
):
    await paid_then_cancelled(http, hotspot, clock)
    base = hotspot.portal.base_url
    async with browser() as admin:
        await sign_in(admin, base, hotspot.demo.admin_email, hotspot.demo.admin_password)
        listed = await admin.get(f"{base}/admin/customers")
        found = await admin.get(f"{base}/admin/customers", params={"phone": "+254 (0) 712-345-678"})
        by_number = await admin.get(f"{base}/admin/customers/0712345678")
    assert "0712 345 678" in listed.text and "KES 10" in listed.text
    assert found.url.path.startswith("/admin/customers/") and found.history[0].status_code == 303
    page = found.text
    assert by_number.text == page
    assert "Customer 0712 345 678" in page
    assert re.search(r'id="spent">KES 10<', page)  # the cancelled prompt cost nothing
    assert re.search(r'id="payment-count">2<', page)
    assert re.search(r'id="last-seen">now<', page)  # online
    devices = page[page.index('id="devices"') : page.index('id="sessions"')]
    assert DEMO_MAC in devices and OTHER_DEVICE[0] in devices
    sessions = page[page.index('id="sessions"') : page.index('id="payments"')]
    assert DEMO_MAC in sessions and "online" in sessions and "/extend" in sessions
    payments = page[page.index('id="payments"') :]
    assert "The customer cancelled the prompt" in payments and "paid" in payments


async def test_time_added_on_a_customers_page_goes_through_the_sessions_own_path(http, hotspot, clock):
    await paid_then_cancelled(http, hotspot, clock)
    store, base = hotspot.portal.services.store, hotspot.portal.base_url
    before = await value(store, "SELECT expires_at FROM access_sessions WHERE mac = ?", (DEMO_MAC,))
    async with browser() as admin:
        await sign_in(admin, base, hotspot.demo.admin_email, hotspot.demo.admin_password)
        page = await admin.get(f"{base}/admin/customers/0712345678")
        [action] = re.findall(r'action="(/admin/sessions/\d+/extend)"', page.text)
        added = await admin.post(base + action, data={"csrf": csrf_of(page.text), "minutes": "30"})
    after = await value(store, "SELECT expires_at FROM access_sessions WHERE mac = ?", (DEMO_MAC,))
    assert "Time added" in added.text
    assert after > before
    assert await value(store, "SELECT count(*) FROM audit_events WHERE action = 'session_extended'") == 1


async def test_staff_see_customers_masked_and_without_forms(settings, clock, vault, store):
    alpha = await seed_tenant(store, clock, vault, "alpha")
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        await sign_in(http, base, alpha.staff)
        listed = await http.get(f"{base}/admin/customers")
        page = await http.get(f"{base}/admin/customers/{alpha.paid_payment_id}")
    for shown in (listed.text, page.text):
        assert "0712 ••• 678" in shown and "0712 345 678" not in shown and "254712345678" not in shown
    assert page.status_code == 200 and "/extend" not in page.text and "Give access" not in page.text


async def test_a_mistyped_number_is_explained_and_one_that_never_paid_is_said_so(
    settings, clock, vault, store
):
    alpha = await seed_tenant(store, clock, vault, "alpha")
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        await sign_in(http, base, alpha.owner)
        airtel = await http.get(f"{base}/admin/customers", params={"phone": "0733 123 456"})
        stranger = await http.get(f"{base}/admin/customers", params={"phone": "0799 000 000"})
        nobody = await http.get(f"{base}/admin/customers/0799000000")
    assert airtel.status_code == stranger.status_code == 400
    assert "Airtel" in airtel.text and 'value="0733 123 456"' in airtel.text
    assert "Nobody paid from this number." in stranger.text
    assert nobody.status_code == 404 and nobody.headers["content-type"].startswith("text/html")
