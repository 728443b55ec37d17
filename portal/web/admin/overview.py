"""The dashboard (earnings, outcomes, what is stuck) and the audit log."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from operator import attrgetter
from typing import Any

from litestar import Request, get
from litestar.response import Template

from ...access import sessions
from ...billing import attention, c2b, earnings
from ...store import Connection
from ...tenancy import audit
from ...tenancy.scope import Scope
from .base import Tenants, page, page_number, services
from .reports import quick_links

CHART_WIDTH, CHART_HEIGHT = 600, 170
AUDIT_PAGE_SIZE = 100


@get("/")
async def dashboard(request: Request, tenants: Tenants) -> Template:
    zone, now = services(request).settings.store.timezone, services(request).clock.now()
    figures = await services(request).store.report(_dashboard, tenants, zone, now)
    return await page(
        request,
        "dashboard",
        chart=bar_chart(figures["earnings"].days),
        report_of=quick_links(request),
        **figures,
    )


def _dashboard(db: Connection, tenants: Scope, zone, now) -> dict:
    month = earnings.day_starts(zone, now, 30)
    return {
        "earnings": earnings.earnings(db, tenants, zone, now, days=30),
        "by_package": earnings.earnings_by(db, tenants, month[0], month[-1], "package"),
        "by_router": earnings.earnings_by(db, tenants, month[0], month[-1], "router"),
        "by_source": earnings.earnings_by(db, tenants, month[0], month[-1], "source"),
        "credit": c2b.credit_outstanding(db, tenants),
        "outcomes": earnings.outcomes(db, tenants, now - timedelta(days=7)),
        "active": sessions.active_count(db, tenants, now),
        "stuck": attention.attention(db, tenants, now),
    }


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    day: Any  # what the bar is of: a Day of earnings, a day of API usage…
    label: str  # under the bar, for one day a week
    right: float  # where the label ends, in % of the width from the right


def bar_chart(days: Sequence[Any], value: Callable[[Any], int] = attrgetter("amount")) -> dict:
    """Geometry for an inline SVG of a figure per day (`value` of each of `days`, which have a `.day`;
    earnings by default); no script, no external resources. The SVG stretches to the page's width, so
    its labels are HTML, which keeps them readable on any screen."""
    top = max((value(day) for day in days), default=0) or 1
    slot = CHART_WIDTH / len(days)
    bars = []
    for n, day in enumerate(days):
        height = round(value(day) / top * (CHART_HEIGHT - 2), 1)
        # One label a week, counted back from today; none so near the left edge that it would spill over.
        label = day.day.strftime("%-d %b") if (len(days) - 1 - n) % 7 == 0 and n >= 4 else ""
        right = round(100 - (n + 1) * 100 / len(days), 2)
        bars.append(
            Bar(round(n * slot + 1, 1), CHART_HEIGHT - height, round(slot - 2, 1), height, day, label, right)
        )
    return {"bars": bars, "width": CHART_WIDTH, "height": CHART_HEIGHT, "top": top}


@get("/audit")
async def audit_log(request: Request, tenants: Tenants) -> Template:
    number = page_number(request)
    events, total = await services(request).store.report(
        audit.events, tenants, limit=AUDIT_PAGE_SIZE, offset=(number - 1) * AUDIT_PAGE_SIZE
    )
    return await page(
        request, "audit", events=events, page_number=number, pages=max(1, -(-total // AUDIT_PAGE_SIZE))
    )


handlers = [dashboard, audit_log]
