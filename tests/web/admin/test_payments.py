"""The dashboard and the payments pages: earnings, filters, pagination, timeline, CSV, reversal, roles."""

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from portal.app import create_app
from portal.clock import FixedClock, to_text
from portal.tenancy.admins import create_admin
from tests.conftest import execute, rows, serving, value
from tests.seed import PASSWORD, insert, insert_payment, seed_tenant
from tests.web.admin.client import browser, csrf_of, sign_in

PAYMENT_LINK = re.compile(r'href="/admin/payments/(\d+)"')


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 1, 5, 21, 30, tzinfo=UTC))  # 00:30 on 6 January in Nairobi


@pytest.fixture
async def alpha(store, clock, vault):
    return await seed_tenant(store, clock, vault, "alpha")


def common(seeded, **values) -> dict:
    return {
        "tenant_id": seeded.tenant_id,
        "mpesa_account_id": seeded.account_id,
        "package_id": seeded.package_id,
        "amount": 10,
        **values,
    }


def figure(html: str, id: str) -> str:
    return re.search(rf'id="{id}">(?:<a [^>]*>)?([^<]+)<', html).group(1)


async def test_dashboard_shows_earnings_by_local_day(settings, clock, vault, store, alpha):
    yesterday = to_text(datetime(2026, 1, 5, 20, 59, tzinfo=UTC))  # 23:59 on 5 January in Nairobi
    today = to_text(datetime(2026, 1, 5, 21, 1, tzinfo=UTC))  # 00:01 on 6 January
    await store.write(
        insert_payment, **common(alpha, phone="254711000001", amount=1000), state="paid", at=yesterday
    )
    await store.write(
        insert_payment, **common(alpha, phone="254711000002", amount=20), state="paid", at=today
    )
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        page = (await sign_in(http, base, alpha.owner)).text
    assert figure(page, "earned-today") == "KES 50"  # 30 (seeded, paid now) + 20
    assert figure(page, "earned-7") == "KES 1,050"
    assert figure(page, "earned-30") == "KES 1,050"
    assert figure(page, "active-sessions") == "1"
    assert page.count('<rect class="bar"') == 30
    assert "Tue 6 Jan: KES 50 (2 payments)" in page
    assert "Mon 5 Jan: KES 1,000 (1 payment)" in page


async def test_dashboard_puts_a_paid_customer_who_is_not_online_at_the_top(
    settings, clock, vault, store, alpha
):
    stuck = await store.write(
        insert_payment,
        **common(alpha, phone="254799000001", router_id=alpha.router_id),
        state="paid",
        at=to_text(clock.now() - timedelta(minutes=5)),
    )
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        page = (await sign_in(http, base, alpha.owner)).text
    attention = page[page.index("Needs attention") : page.index("earned-today")]
    assert "Paid, not yet online" in attention
    assert f'href="/admin/payments/{stuck}"' in attention
    assert "0799 000 001" in attention


async def test_dashboard_says_why_payments_failed(settings, clock, vault, alpha):
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        page = (await sign_in(http, base, alpha.owner)).text
    failures = page[page.index("Why payments failed") :]
    assert "Request cancelled by user" in failures and "code 1032" in failures  # the seeded failure
    assert "No failures." not in failures


async def test_payments_are_filtered_by_state_phone_receipt_and_local_dates(
    settings, clock, vault, store, alpha
):
    old = await store.write(
        insert_payment,
        **common(alpha, phone="254711222333"),
        state="expired",
        at=to_text(datetime(2026, 1, 4, 20, 59, tzinfo=UTC)),  # 23:59 on 4 January in Nairobi
    )
    edge = await store.write(
        insert_payment,
        **common(alpha, phone="254711222444"),
        state="expired",
        at=to_text(datetime(2026, 1, 4, 21, 0, tzinfo=UTC)),  # 00:00 on 5 January
    )
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        await sign_in(http, base, alpha.owner)

        async def ids(query: str) -> list[int]:
            response = await http.get(f"{base}/admin/payments?{query}")
            assert response.status_code == 200, response.text
            return [int(found) for found in PAYMENT_LINK.findall(response.text)]

        assert await ids("state=paid") == [alpha.paid_payment_id]
        assert await ids("state=expired") == [edge, old]
        assert await ids("phone=0711+222+333") == [old]
        assert await ids("phone=444") == [edge]
        assert await ids("receipt=ralpha0001") == [alpha.paid_payment_id]
        assert await ids("from=2026-01-05&to=2026-01-05") == [edge]
        assert await ids("from=2026-01-06") == [alpha.failed_payment_id, alpha.paid_payment_id]
        assert await ids("to=2026-01-04") == [old]


async def test_money_paid_by_hand_is_found_by_its_receipt_with_whether_it_became_wifi(
    settings, clock, vault, store, alpha
):
    beta = await seed_tenant(store, clock, vault, "beta", phone="254722000000")
    for seeded, receipt, bill_ref, spent, session in [
        (alpha, "SGR0000AAA", "WIFI", 200, alpha.session_id),
        (alpha, "SGR0000BBB", "wifi", 0, None),
        (alpha, "SGR0000DDD", "RENT-APT4", 0, None),
        (beta, "SGR0000CCC", "WIFI", 0, None),
    ]:
        await store.write(
            insert,
            "c2b_payments",
            tenant_id=seeded.tenant_id,
            mpesa_account_id=seeded.account_id,
            receipt=receipt,
            amount=250,
            bill_ref=bill_ref,
            for_wifi=int(bill_ref != "RENT-APT4"),
            spent=spent,
            received_at=to_text(clock.now()),
            claimed_at=to_text(clock.now()) if session else None,
            access_session_id=session,
        )
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        await sign_in(http, base, alpha.owner)
        listed = await http.get(f"{base}/admin/payments")
        found = await http.get(f"{base}/admin/payments", params={"receipt": "sgr0000aaa"})
        failed_only = await http.get(f"{base}/admin/payments", params={"state": "failed"})
        dashboard = await http.get(f"{base}/admin")
    assert "SGR0000AAA" in listed.text and "SGR0000BBB" in listed.text and "SGR0000CCC" not in listed.text
    assert f'href="/admin/sessions/{alpha.session_id}">claimed' in listed.text
    assert "not claimed" in listed.text
    by_hand = listed.text.split('id="by-hand"')[1].split("<tr>")[2:]  # a row for each payment
    [rent] = [row for row in by_hand if "SGR0000DDD" in row]
    [spent] = [row for row in by_hand if "SGR0000AAA" in row]
    [unspent] = [row for row in by_hand if "SGR0000BBB" in row]
    assert "not for Wi-Fi" in rent  # and no credit:
    assert '<td class="num credit" data-label="Credit"></td>' in rent
    assert '<td class="num credit" data-label="Credit">KES 50</td>' in spent  # the credit it has left
    assert '<td class="num credit" data-label="Credit">KES 250</td>' in unspent
    assert "SGR0000AAA" in found.text and "SGR0000BBB" not in found.text
    assert 'id="by-hand"' not in failed_only.text  # money that arrived has not failed
    # What customers can still spend: 50 + 250 of alpha's Wi-Fi money, never the rent nor beta's.
    assert '<div class="figure" id="credit-outstanding"><a href="/admin/payments#by-hand">KES 300</a>' in (
        dashboard.text
    )


async def test_bad_filter_input_is_explained_and_kept(settings, clock, vault, alpha):
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        await sign_in(http, base, alpha.owner)
        page = await http.get(f"{base}/admin/payments?from=31/01/2026&phone=07123&state=stolen&page=x")
        csv_export = await http.get(f"{base}/admin/payments.csv?to=yesterday")
        far = await http.get(f"{base}/admin/payments?from=0001-01-01&to=9999-12-31")
    assert page.status_code == 400
    assert "Write a date as YYYY-MM-DD" in page.text
    assert "Pick a state from the list." in page.text
    assert 'value="31/01/2026"' in page.text
    assert far.status_code == 400
    assert "Pick a date between 2000 and 2100." in far.text
    assert csv_export.status_code == 400
    assert "Write a date as YYYY-MM-DD" in csv_export.text


async def test_payments_are_paginated_newest_first(settings, clock, vault, store, alpha):
    def failed_payments(db) -> None:
        for n in range(110):
            insert_payment(
                db,
                **common(alpha, phone=f"2547110{n:05d}"),
                state="failed",
                at=to_text(clock.now() - timedelta(hours=n + 1)),
            )

    await store.write(failed_payments)
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        await sign_in(http, base, alpha.owner)
        first = await http.get(f"{base}/admin/payments?state=failed")
        last = await http.get(f"{base}/admin/payments?state=failed&page=3")
    assert "111 payments · page 1 of 3" in first.text
    assert len(PAYMENT_LINK.findall(first.text)) == 50
    assert 'href="/admin/payments?state=failed&amp;page=2"' in first.text
    assert len(PAYMENT_LINK.findall(last.text)) == 11
    assert "0711 000 109" in last.text  # the oldest


async def test_csv_export_has_the_filtered_payments_in_local_time(settings, clock, vault, store, alpha):
    await execute(
        store, "UPDATE packages SET name = '=HYPERLINK(\"http://x\")' WHERE id = ?", (alpha.package_id,)
    )
    await store.write(
        insert_payment, **common(alpha, phone="254711000009"), state="expired", at=to_text(clock.now())
    )
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        await sign_in(http, base, alpha.owner)
        response = await http.get(f"{base}/admin/payments.csv?state=paid")
        everything = await http.get(f"{base}/admin/payments.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="payments-2026-01-06.csv"' in response.headers["content-disposition"]
    assert response.content.startswith("\ufeff".encode())  # Excel reads it as UTF-8
    rows = list(csv.DictReader(io.StringIO(response.text.removeprefix("\ufeff"))))
    assert len(rows) == 1
    row = rows[0]
    assert row["State"] == "paid"
    assert row["Phone"] == "'254712345678"  # text, not 2.54712E+11
    assert row["Amount (KES)"] == "30"
    assert row["M-Pesa receipt"] == "RALPHA0001"
    assert row["Created"] == row["Paid"] == "2026-01-06 00:30:00"  # Nairobi time, not UTC
    assert row["Tenant"] == "Alpha Wi-Fi"
    assert row["Package"] == '\'=HYPERLINK("http://x")'  # never a formula in a spreadsheet
    assert len(list(csv.DictReader(io.StringIO(everything.text)))) == 3


async def test_payment_detail_shows_the_whole_timeline(settings, clock, vault, store, alpha):
    now = clock.now()

    def history(db) -> None:
        for seconds, kind, detail in [
            (1, "push_accepted", {"CheckoutRequestID": "ws_CO_1"}),
            (20, "query", {"effect": "pending", "result_code": "4999"}),
            (40, "callback", {"effect": "paid", "result_code": "0", "receipt": "RALPHA0001"}),
        ]:
            insert(
                db,
                "payment_events",
                payment_id=alpha.paid_payment_id,
                at=to_text(now + timedelta(seconds=seconds)),
                kind=kind,
                source="daraja",
                detail=json.dumps(detail),
            )
        task = insert(
            db,
            "router_tasks",
            router_id=alpha.router_id,
            access_session_id=alpha.session_id,
            kind="grant",
            state="done",  # history: the running portal's worker has nothing left to try
            next_attempt_at=to_text(now),
            created_at=to_text(now + timedelta(seconds=41)),
            done_at=to_text(now + timedelta(seconds=50)),
        )
        insert(
            db,
            "router_task_attempts",
            task_id=task,
            at=to_text(now + timedelta(seconds=42)),
            ok=0,
            error="timed out",
        )
        insert(db, "router_task_attempts", task_id=task, at=to_text(now + timedelta(seconds=50)), ok=1)

    await store.write(history)
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        await sign_in(http, base, alpha.owner)
        page = (await http.get(f"{base}/admin/payments/{alpha.paid_payment_id}")).text
    timeline = page[page.index("Timeline") :]
    order = [
        "Payment started: KES 30 for Alpha hour",
        "Access opened for device AA:BB:CC:00:00:01 on alpha-router",
        "Push accepted",
        "Asked M-Pesa: still waiting for the customer&#39;s PIN",
        "M-Pesa confirmed the payment: receipt RALPHA0001",
        "The router was asked to let the device in",
        "The router could not let the device in yet; portal tries again",
        "timed out",
        "The router did it: let the device in",
    ]
    positions = [timeline.index(title) for title in order]
    assert positions == sorted(positions)
    assert "ws_CO_1" in timeline


async def test_reversing_a_paid_payment_takes_it_out_of_earnings_and_is_audited(
    settings, clock, vault, store, alpha
):
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        page = await sign_in(http, base, alpha.owner)
        assert figure(page.text, "earned-today") == "KES 30"
        detail = await http.get(f"{base}/admin/payments/{alpha.paid_payment_id}")
        reversed_ = await http.post(
            f"{base}/admin/payments/{alpha.paid_payment_id}/reverse",
            data={"csrf": csrf_of(detail.text), "reason": "customer paid twice"},
        )
        again = await http.post(
            f"{base}/admin/payments/{alpha.paid_payment_id}/reverse",
            data={"csrf": csrf_of(detail.text), "reason": "double click"},
        )
        dashboard = await http.get(f"{base}/admin")
    assert reversed_.status_code == 200
    assert "The payment is marked reversed." in reversed_.text
    assert "customer paid twice" in reversed_.text
    assert again.status_code == 409
    assert figure(dashboard.text, "earned-today") == "KES 0"
    [row] = await rows(
        store, "SELECT state, reversed_reason FROM payments WHERE id = ?", (alpha.paid_payment_id,)
    )
    assert tuple(row) == ("reversed", "customer paid twice")
    [event] = await rows(
        store, "SELECT kind, detail FROM payment_events WHERE payment_id = ?", (alpha.paid_payment_id,)
    )
    assert event["kind"] == "reversed"
    assert json.loads(event["detail"]) == {"reason": "customer paid twice", "by": alpha.owner}
    [audit] = await rows(store, "SELECT * FROM audit_events WHERE action = 'payment_reversed'")
    assert audit["actor"] == alpha.owner
    assert audit["source_ip"] == "127.0.0.1"
    assert audit["tenant_id"] == alpha.tenant_id


async def test_reversal_needs_a_reason(settings, clock, vault, store, alpha):
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        page = await sign_in(http, base, alpha.owner)
        response = await http.post(
            f"{base}/admin/payments/{alpha.paid_payment_id}/reverse",
            data={"csrf": csrf_of(page.text), "reason": " "},
        )
        failed = await http.post(
            f"{base}/admin/payments/{alpha.failed_payment_id}/reverse",
            data={"csrf": csrf_of(page.text), "reason": "why not"},
        )
    assert response.status_code == 400
    assert "Say why the payment was reversed." in response.text
    assert failed.status_code == 409
    assert "Only a paid payment can be marked reversed." in failed.text
    assert await value(store, "SELECT count(*) FROM payments WHERE state = 'reversed'") == 0


async def test_staff_see_payments_but_cannot_reverse_them(settings, clock, vault, store, alpha):
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        page = await sign_in(http, base, alpha.staff)
        detail = await http.get(f"{base}/admin/payments/{alpha.paid_payment_id}")
        refused = await http.post(
            f"{base}/admin/payments/{alpha.paid_payment_id}/reverse",
            data={"csrf": csrf_of(page.text), "reason": "I felt like it"},
        )
    assert detail.status_code == 200
    assert "Mark reversed" not in detail.text
    assert refused.status_code == 403
    assert "change no money" in refused.text
    assert await value(store, "SELECT state FROM payments WHERE id = ?", (alpha.paid_payment_id,)) == "paid"


async def test_staff_download_no_list_of_phone_numbers_and_are_shown_no_link_to_one(
    settings, clock, vault, store, alpha
):
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        await sign_in(http, base, alpha.staff)
        listed = await http.get(f"{base}/admin/payments")
        payments_csv = await http.get(f"{base}/admin/payments.csv")
        report = await http.get(f"{base}/admin/reports")
        report_csv = await http.get(f"{base}/admin/reports.csv")
    assert "0712 345 678" in listed.text  # looking a customer up is support
    assert "payments.csv" not in listed.text and "reports.csv" not in report.text
    for refused in (payments_csv, report_csv):
        assert refused.status_code == 403 and refused.headers["content-type"].startswith("text/html")
        assert "Lists of customers&#39; phone numbers are for the owner to download" in refused.text
        assert "254712345678" not in refused.text


async def test_a_platform_admin_sees_every_tenant_and_can_pick_one(settings, clock, vault, store, alpha):
    beta = await seed_tenant(store, clock, vault, "beta", phone="254722000000")
    await store.write(
        create_admin, clock, email="root@example.com", password=PASSWORD, role="platform", tenant_id=None
    )
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        page = await sign_in(http, base, "root@example.com")
        assert figure(page.text, "earned-today") == "KES 60"
        everyone = await http.get(f"{base}/admin/payments")
        picked = await http.post(
            f"{base}/admin/tenant", data={"csrf": csrf_of(page.text), "tenant": beta.tenant_id}
        )
        only_beta = await http.get(f"{base}/admin/payments")
        missing = await http.post(f"{base}/admin/tenant", data={"csrf": csrf_of(page.text), "tenant": "999"})
    assert len(PAYMENT_LINK.findall(everyone.text)) == 4
    assert "<th>Tenant</th>" in everyone.text
    assert figure(picked.text, "earned-today") == "KES 30"
    assert sorted(int(i) for i in PAYMENT_LINK.findall(only_beta.text)) == [
        beta.paid_payment_id,
        beta.failed_payment_id,
    ]
    assert missing.status_code == 404


async def test_an_owner_cannot_pick_another_tenant(settings, clock, vault, store, alpha):
    beta = await seed_tenant(store, clock, vault, "beta", phone="254722000000")
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        page = await sign_in(http, base, alpha.owner)
        response = await http.post(
            f"{base}/admin/tenant", data={"csrf": csrf_of(page.text), "tenant": beta.tenant_id}
        )
        payments = await http.get(f"{base}/admin/payments")
    assert response.status_code == 403
    assert sorted(int(i) for i in PAYMENT_LINK.findall(payments.text)) == [
        alpha.paid_payment_id,
        alpha.failed_payment_id,
    ]


async def test_failed_payments_say_why_in_the_list_and_the_detail(settings, clock, vault, store, alpha):
    await store.write(
        insert_payment, **common(alpha, phone="254711000009"), state="expired", at=to_text(clock.now()),
        result_code="expired",
    )  # fmt: skip
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        await sign_in(http, base, alpha.owner)
        listed = (await http.get(f"{base}/admin/payments")).text
        detail = (await http.get(f"{base}/admin/payments/{alpha.failed_payment_id}")).text
    rows = listed.split("<tr")
    [failed] = [row for row in rows if f"/admin/payments/{alpha.failed_payment_id}" in row]
    [paid] = [row for row in rows if f"/admin/payments/{alpha.paid_payment_id}" in row]
    [expired] = [row for row in rows if "0711 000 009" in row]
    assert '<span class="small why">The customer cancelled the prompt</span>' in failed
    assert "No answer from M-Pesa before the payment timed out" in expired
    assert 'class="small why"' not in paid
    assert '<dd id="why">The customer cancelled the prompt</dd>' in detail
