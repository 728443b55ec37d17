"""The report page and its CSV (web/admin/reports.py): the same money on both, across a local midnight, in
words a spreadsheet can't run; dates that make no period; who may read it, and whose money it shows."""

import csv
import io
import re

import pytest

from portal.app import create_app
from portal.clock import FixedClock
from tests.billing.test_period_reports import NOW, money_across_midnight
from tests.conftest import execute, serving
from tests.web.admin.client import browser, sign_in

TWO_DAYS = "from=2026-01-05&to=2026-01-06"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)  # 00:30 on 6 January in Nairobi


def figure(html: str, id: str) -> str:
    return re.search(rf'id="{id}">(?:<a [^>]*>)?([^<]+)<', html).group(1)


def table_rows(html: str, id: str) -> list[list[str]]:
    """The cells of each row of the table `id`, its total row included, as text."""
    table = html.split(f'id="{id}"')[1].split("</table>")[0]
    return [
        [re.sub(r"<[^>]+>", "", found).strip() for found in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S)
        if "<td" in row
    ]


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))


def kes(amount: int) -> str:
    return f"KES {amount:,}"


async def test_the_page_and_the_csv_add_up_to_the_same_money_across_a_local_midnight(
    settings, clock, vault, store
):
    money = await money_across_midnight(store, clock, vault)
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        await sign_in(http, base, money.alpha.owner)
        page = (await http.get(f"{base}/admin/reports?{TWO_DAYS}")).text
        exported = await http.get(f"{base}/admin/reports.csv?{TWO_DAYS}")
        this_month = await http.get(f"{base}/admin/reports")

    assert figure(page, "earned") == kes(180)
    by_source = {"prompt": 100, "by_hand": 30, "vouchers": 50}
    assert {source: figure(page, f"earned-{source}") for source in by_source} == {
        source: kes(amount) for source, amount in by_source.items()
    }
    assert table_rows(page, "by-day") == [
        ["Mon 5 Jan", "1", kes(50)],
        ["Tue 6 Jan", "4", kes(130)],
        ["Total", "5", kes(180)],
    ]
    assert table_rows(page, "by-source")[-1] == ["Total", "5", kes(180)]
    assert figure(page, "reversed") == kes(100) and figure(page, "reversed-count") == "1 payment"
    assert "Paid twice" in table_rows(page, "reversals")[0]
    assert figure(page, "credit-now") == kes(20)
    assert figure(page, "success-rate") == "60%"  # 3 paid of 5 finished: the reversed one is no success
    assert figure(page, "outcome-reversed") == "1"

    assert exported.status_code == 200
    assert exported.headers["content-type"] == "text/csv; charset=utf-8"
    assert 'filename="report-2026-01-05-to-2026-01-06.csv"' in exported.headers["content-disposition"]
    rows = read_csv(exported.text)
    earned = {name: 0 for name in ("M-Pesa prompt", "M-Pesa paid by hand", "Vouchers")}
    for row in rows:
        earned[row["Source"]] += int(row["Earned (KES)"])
    assert earned == {"M-Pesa prompt": 100, "M-Pesa paid by hand": 30, "Vouchers": 50}
    by_day = {"2026-01-05": 0, "2026-01-06": 0}
    for row in rows:
        by_day[row["When"][:10]] += int(row["Earned (KES)"])  # local time: 23:59 is the 5th's
    assert by_day == {"2026-01-05": 50, "2026-01-06": 130}
    [midnight_minus_one] = [row for row in rows if row["When"] == "2026-01-05 23:59:00"]
    assert midnight_minus_one["Phone"] == "'254711000001"

    # Without dates: this month so far, a row for every day, days with nothing too.
    assert this_month.status_code == 200
    assert [row[0] for row in table_rows(this_month.text, "by-day")] == [
        "Thu 1 Jan", "Fri 2 Jan", "Sat 3 Jan", "Sun 4 Jan", "Mon 5 Jan", "Tue 6 Jan", "Total",
    ]  # fmt: skip
    assert figure(this_month.text, "earned") == kes(180)


async def test_the_csv_opens_in_a_spreadsheet_as_text_that_never_runs(settings, clock, vault, store):
    money = await money_across_midnight(store, clock, vault)
    alpha = money.alpha
    await execute(
        store, "UPDATE packages SET name = '=HYPERLINK(\"http://evil\")' WHERE id = ?", (alpha.package_id,)
    )
    await execute(store, "UPDATE routers SET name = '-alpha' WHERE id = ?", (alpha.router_id,))
    await execute(
        store,
        "UPDATE payments SET reversed_reason = '@SUM(1+1)' WHERE id = ?",
        (money.reversed_payment_id,),
    )
    await execute(
        store,
        "UPDATE c2b_payments SET bill_ref = '-2+3', msisdn = '+254 7** 149' WHERE receipt = 'RRENT03000'",
    )
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        await sign_in(http, base, alpha.owner)
        exported = await http.get(f"{base}/admin/reports.csv?{TWO_DAYS}")

    assert exported.content.startswith("\ufeff".encode())  # Excel reads it as UTF-8
    rows = read_csv(exported.text)
    cells = [value for row in rows for value in row.values()]
    assert not [value for value in cells if value[:1] in ("=", "+", "-", "@")]
    assert '\'=HYPERLINK("http://evil")' in cells and "'-alpha" in cells
    assert "'@SUM(1+1)" in cells and "'+254 7** 149" in cells
    assert "account -2+3" in cells  # in a note, after a word: no formula
    assert {row["Phone"] for row in rows if row["Source"] == "M-Pesa prompt"} == {
        "'254711000001", "'254711000002", "'254711000003", "'254712345678",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("from=2026-01-06&to=2026-01-05", "The end date is before the start date."),
        ("from=5/1/2026", "Write a date as YYYY-MM-DD"),
        ("from=2024-01-01&to=2026-01-05", "Pick a period of at most 366 days."),
        ("to=9999-12-31", "Pick a date between 2000 and 2100."),
    ],
)
async def test_dates_that_make_no_period_are_answered_in_words(settings, clock, vault, store, query, words):
    money = await money_across_midnight(store, clock, vault)
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        await sign_in(http, base, money.alpha.owner)
        page = await http.get(f"{base}/admin/reports?{query}")
        exported = await http.get(f"{base}/admin/reports.csv?{query}")
    assert page.status_code == 400 and words in page.text
    assert 'id="earned"' not in page.text
    assert exported.status_code == 400 and words in exported.text


async def test_another_business_money_is_never_in_the_report(settings, clock, vault, store):
    money = await money_across_midnight(store, clock, vault)
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        await sign_in(http, base, money.beta.owner)
        page = (await http.get(f"{base}/admin/reports?{TWO_DAYS}")).text
        exported = (await http.get(f"{base}/admin/reports.csv?{TWO_DAYS}")).text
    assert figure(page, "earned") == kes(30)  # beta's own payment, now
    assert figure(page, "reversed") == kes(0) and figure(page, "credit-now") == kes(0)
    assert [row["Phone"] for row in read_csv(exported)] == ["'254722000000"]
    assert not [
        text for text in ("Alpha", "RWIFI00050", "254711000001", "Paid twice") if text in page + exported
    ]


async def test_the_dashboard_links_its_figures_to_the_report_of_their_period(settings, clock, vault, store):
    money = await money_across_midnight(store, clock, vault)
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        page = (await sign_in(http, base, money.alpha.owner)).text
        today = await http.get(f"{base}/admin/reports?from=2026-01-06&to=2026-01-06")
    assert '<a href="/admin/reports" >Reports</a>' in page  # in the menu
    assert 'id="earned-today"><a href="/admin/reports?from=2026-01-06&amp;to=2026-01-06">KES 130</a>' in page
    assert 'href="/admin/reports?from=2025-12-31&amp;to=2026-01-06"' in page  # the last 7 days
    assert figure(today.text, "earned") == figure(page, "earned-today")
    assert "3 paid of 5 finished" in page and "1 paid, then reversed: no success" in page
