"""Reports for any period (billing/period_reports.py): the page, and every money event of it as a CSV file."""

import csv
import io
from urllib.parse import urlencode

from litestar import Request, Response, get
from litestar.response import Template

from ...billing import period_reports
from ...billing.period_reports import Period, PeriodRefused
from ...tenancy.admins import EXPORT_PHONES
from .base import DAY_REFUSED, SOURCE_NAMES, Formats, Tenants, needs, page, services
from .spreadsheets import BOM, cell, text_cell

QUICK_LABELS = {
    "today": "Today",
    "yesterday": "Yesterday",
    "last_7_days": "Last 7 days",
    "last_30_days": "Last 30 days",
    "this_month": "This month",
    "last_month": "Last month",
}
EVENT_STATES = {
    "paid": "paid",
    "reversed": "reversed: not earned",
    "received": "received for Wi-Fi: earned when spent",
    "not_for_wifi": "received, not for Wi-Fi: never earned",
    "spent": "spent on Wi-Fi",
    "sold": "sold",
}
CSV_COLUMNS = (
    "When", "Source", "Receipt or reference", "Phone", "Package", "Router", "Amount (KES)", "Earned (KES)",
    "State", "Spent (KES)", "Credit left (KES)", "Notes", "Tenant",
)  # fmt: skip


def report_url(period: Period, path: str = "/admin/reports") -> str:
    return f"{path}?" + urlencode({"from": period.first_day.isoformat(), "to": period.last_day.isoformat()})


def quick_links(request: Request) -> dict[str, str]:
    """The addresses of the reports an owner asks for most, by the name of their period (quick_periods)."""
    zone = services(request).settings.store.timezone
    today = services(request).clock.now().astimezone(zone).date()
    return {name: report_url(period) for name, period in period_reports.quick_periods(zone, today).items()}


def read_period(request: Request) -> tuple[Period | None, dict[str, str], dict[str, str]]:
    """The period the query string asks for, what was typed (to show it again), and what is wrong."""
    typed = {name: request.query_params.get(name, "").strip() for name in ("from", "to")}
    zone = services(request).settings.store.timezone
    today = services(request).clock.now().astimezone(zone).date()
    try:
        return period_reports.period_of(zone, today, typed["from"], typed["to"]), typed, {}
    except PeriodRefused as refused:
        return None, typed, {field: DAY_REFUSED[reason] for field, reason in refused.problems.items()}


@get("/reports")
async def report_page(request: Request, tenants: Tenants) -> Template:
    period, typed, errors = read_period(request)
    report = await services(request).store.report(period_reports.report, tenants, period) if period else None
    return await page(
        request,
        "reports",
        status_code=400 if errors else 200,
        report=report,
        typed=typed,
        errors=errors,
        quick={QUICK_LABELS[name]: href for name, href in quick_links(request).items()},
        csv_url=report_url(period, "/admin/reports.csv") if period else "",
    )


@get("/reports.csv", guards=[needs(EXPORT_PHONES)])
async def report_csv(request: Request, tenants: Tenants) -> Response:
    period, _, errors = read_period(request)
    if period is None:
        return Response("\n".join(errors.values()), status_code=400, media_type="text/plain")
    events = await services(request).store.report(period_reports.money_events, tenants, period)
    formats = Formats(period.zone, services(request).clock.now())
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for event in events:
        writer.writerow(
            [
                formats.when_exact(event.at),
                SOURCE_NAMES[event.source],
                cell(event.reference),
                text_cell(event.phone),
                cell(event.package),
                cell(event.router),
                event.amount,
                event.earned,
                EVENT_STATES[event.state],
                "" if event.spent is None else event.spent,
                "" if event.credit is None else event.credit,
                cell(event.note),
                cell(event.tenant),
            ]
        )
    name = f"report-{period.first_day.isoformat()}-to-{period.last_day.isoformat()}.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


handlers = [report_page, report_csv]
