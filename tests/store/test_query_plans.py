"""No query a customer, a callback or a background job waits on scans a table that grows with history.

The paths run for real on the simulators while every statement is recorded (and the owner's pages
about one customer, which must stay as quick with a year of payments); each one is then explained
by SQLite itself. An index that goes missing (or a query that stops using one) fails here, long before
a box with a year of payments makes its splash page slow.
"""

import re
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from portal.billing import vouchers
from portal.cli.demo import DEMO_DEVICE
from portal.store.sqlite import SQLiteConnection
from portal.tenancy.scope import Scope
from tests.billing.test_c2b import pay_by_hand
from tests.conftest import Hotspot
from tests.web.admin.client import browser, sign_in
from tests.web.test_splash import OTHER_DEVICE, answer, device_form, online, pay, register_c2b_urls, status
from tests.web.test_unknown_payments import killed_in_the_push_window

# Tables whose rows pile up with every customer, payment and router call. The others (businesses,
# routers, packages, admins) stay small whatever the traffic.
HISTORY = {
    "payments",
    "payment_events",
    "access_sessions",
    "router_tasks",
    "router_task_attempts",
    "audit_events",
    "c2b_payments",
    "c2b_spends",
    "vouchers",
    "receipt_checks",
    "admin_sessions",
}

SCAN = re.compile(r"^SCAN (\w+)")
TESTS = str(Path(__file__).parents[1])


@pytest.fixture
def recorded(monkeypatch) -> Iterator[dict[str, tuple]]:
    """Every statement the portal runs through the store, once each, with the parameters it first ran
    with; the tests' own checks are left out."""
    statements: dict[str, tuple] = {}
    run = SQLiteConnection._run

    def recording(self, sql, params, **kwargs):
        asked_by = sys._getframe(2).f_code.co_filename  # past the Connection method (one, all, value...)
        if not asked_by.startswith(TESTS):
            statements.setdefault(sql, params)
        return run(self, sql, params, **kwargs)

    monkeypatch.setattr(SQLiteConnection, "_run", recording)
    yield statements


def history_scans(database, statements: dict[str, tuple]) -> dict[str, list[str]]:
    """The statements whose plan reads a whole history table, with the plan lines that say so."""
    scans = {}
    with sqlite3.connect(database) as db:
        for sql, params in statements.items():
            if not re.match(r"\s*(SELECT|INSERT|UPDATE|DELETE|WITH)", sql, re.IGNORECASE):
                continue  # PRAGMA, BEGIN, schema work: nothing to plan
            plan = [row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}", params)]
            bad = [line for line in plan if (m := SCAN.match(line)) and m.group(1) in HISTORY]
            if bad:
                scans[" ".join(sql.split())] = bad
    return scans


async def customer_pays_goes_online_moves_and_expires(http, hotspot: Hotspot, clock) -> None:
    await http.get(hotspot.splash_url())
    location = (await pay(http, hotspot)).headers["location"]
    await http.get(hotspot.portal.base_url + location)
    await status(http, hotspot, location)
    await answer(hotspot, "success")  # the callback
    await online(hotspot)  # the worker's grant
    page = await http.get(hotspot.portal.base_url + location)
    code = re.search(r'id="access-code">([^<]+)<', page.text).group(1)
    await http.get(hotspot.splash_url())  # welcome back
    hotspot.emulator.connect_device(*OTHER_DEVICE)
    reconnect = f"{hotspot.portal.base_url}/reconnect"
    await http.post(reconnect, data=device_form(hotspot, *OTHER_DEVICE) | {"code": code})
    await http.post(reconnect, data=device_form(hotspot, *DEMO_DEVICE) | {"code": "WRONG-CODE"})  # refused
    await online(hotspot, OTHER_DEVICE[0])
    hotspot.emulator.reboot()
    await hotspot.portal.services.jobs.sync.sync_all()
    clock.advance(hours=1, seconds=1)
    await hotspot.portal.services.jobs.expire_due()
    await online(hotspot, OTHER_DEVICE[0], expected=False)
    await http.get(hotspot.splash_url())  # time over


async def test_paying_and_expiring_scan_no_history(http, hotspot, clock, recorded):
    await customer_pays_goes_online_moves_and_expires(http, hotspot, clock)
    await register_c2b_urls(hotspot)
    await hotspot.portal.services.jobs.prune_outbox()
    assert history_scans(hotspot.portal.services.store.path, recorded) == {}


async def test_confirming_by_query_and_an_unknown_payment_scan_no_history(http, nat_hotspot, clock, recorded):
    hotspot = nat_hotspot
    await pay(http, hotspot)
    await answer(hotspot, "success")
    clock.advance(seconds=30)
    await hotspot.portal.services.confirmation.reconcile_due()
    await online(hotspot)
    await killed_in_the_push_window(http, hotspot, clock)
    await http.get(hotspot.splash_url())
    assert history_scans(hotspot.portal.services.store.path, recorded) == {}


async def test_money_paid_by_hand_and_a_voucher_scan_no_history(http, hotspot, clock, vault, recorded):
    store = hotspot.portal.services.store
    await register_c2b_urls(hotspot)
    receipt = await pay_by_hand(http, hotspot.daraja, amount=30)  # the confirmation hook; 10 is credit
    await pay_by_hand(http, hotspot.daraja, amount=3000, bill_ref="RENT-APT4")  # not Wi-Fi money
    reconnect = f"{hotspot.portal.base_url}/reconnect"
    await http.post(reconnect, data=device_form(hotspot) | {"code": receipt})
    await online(hotspot)
    package_id = await store.read(lambda db: db.value("SELECT min(id) FROM packages"))
    batch = await store.write(vouchers.generate_batch, clock, vault, hotspot.demo.tenant_id, package_id, 1)
    [voucher] = await store.read(vouchers.batch_vouchers, vault, Scope((hotspot.demo.tenant_id,)), batch)
    hotspot.emulator.connect_device(*OTHER_DEVICE)
    await http.post(reconnect, data=device_form(hotspot, *OTHER_DEVICE) | {"code": voucher.code})
    await online(hotspot, OTHER_DEVICE[0])
    assert history_scans(store.path, recorded) == {}


async def test_the_customers_pages_scan_no_history(http, hotspot, recorded):
    await http.get(hotspot.splash_url())
    await pay(http, hotspot)
    await answer(hotspot, "success")
    await online(hotspot)
    base = hotspot.portal.base_url
    async with browser() as admin:
        await sign_in(admin, base, hotspot.demo.admin_email, hotspot.demo.admin_password)
        recorded.clear()  # signing in and the dashboard are not these pages
        customer = await admin.get(f"{base}/admin/customers", params={"phone": "0712 345 678"})
        listed = await admin.get(f"{base}/admin/customers")
        session_id = re.search(r'href="/admin/sessions/(\d+)"', customer.text).group(1)
        session = await admin.get(f"{base}/admin/sessions/{session_id}")  # who paid, who gave time
    assert customer.status_code == listed.status_code == session.status_code == 200
    assert history_scans(hotspot.portal.services.store.path, recorded) == {}
