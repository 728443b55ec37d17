"""Payments: the filtered list, one payment's timeline, CSV export, marking a payment reversed."""

import csv
import io
import re
from dataclasses import dataclass, replace
from datetime import date, timedelta
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from ... import i18n
from ...access import routers
from ...billing import c2b, payments, timeline
from ...billing.earnings import local_midnight
from ...billing.payments import STATES, Payment, PaymentFilter, ReversalRefused
from ...catalog import packages
from ...mpesa import accounts
from ...numbers import is_digits
from ...phones import PhoneError, normalize
from ...store import Connection
from ...tenancy import tenants as tenant_table
from ...tenancy.scope import Scope
from .base import (
    CurrentAdmin,
    Formats,
    Shown,
    Tenants,
    form_fields,
    may_change,
    owned,
    page,
    page_number,
    services,
    source_ip,
)

PAGE_SIZE = 50
BY_HAND_SHOWN = 50  # the newest; a receipt or dates find older ones
FIRST_YEAR, LAST_YEAR = 2000, 2100  # dates outside are typing mistakes (and year 9999 has no next day)
FILTER_FIELDS = ("state", "from", "to", "phone", "receipt")
RECEIPT = re.compile(r"^[A-Z0-9]{6,20}$")
REVERSAL_REFUSED = {
    "no_reason": "Say why the payment was reversed.",
    "reason_too_long": f"Keep the reason under {payments.REVERSAL_REASON_MAX} characters.",
}
CSV_COLUMNS = (
    "Reference", "Tenant", "Created", "Paid", "State", "Phone", "Amount (KES)", "Package", "Router",
    "M-Pesa account", "M-Pesa receipt", "Result code", "Result", "Reversal reason",
)  # fmt: skip


def read_filter(request: Request) -> tuple[PaymentFilter, dict[str, str], dict[str, str]]:
    """The filter the query string asks for, what was typed (to show it again), and what is wrong."""
    typed = {name: request.query_params.get(name, "").strip() for name in FILTER_FIELDS}
    zone = services(request).settings.store.timezone
    errors: dict[str, str] = {}
    found = PaymentFilter()
    if typed["state"] in STATES:
        found = replace(found, state=typed["state"])
    elif typed["state"]:
        errors["state"] = "Pick a state from the list."
    days: dict[str, date | None] = {}
    for name in ("from", "to"):
        try:
            days[name] = date.fromisoformat(typed[name]) if typed[name] else None
        except ValueError:
            errors[name] = "Write a date as YYYY-MM-DD, for example 2026-01-31."
    first, last = days.get("from"), days.get("to")
    for name, day in (("from", first), ("to", last)):
        if day and not FIRST_YEAR <= day.year <= LAST_YEAR:
            errors[name] = f"Pick a date between {FIRST_YEAR} and {LAST_YEAR}."
            days[name] = None
    first, last = days.get("from"), days.get("to")
    if first and last and first > last:
        errors["to"] = "The end date is before the start date."
    found = replace(
        found,
        start=local_midnight(zone, first) if first else None,
        end=local_midnight(zone, last + timedelta(days=1)) if last else None,
    )
    if typed["phone"]:
        try:
            found = replace(found, phone=normalize(typed["phone"]))
        except PhoneError as error:
            if is_digits(typed["phone"]) and 3 <= len(typed["phone"]) <= 9:
                found = replace(found, phone=typed["phone"])  # the last digits of a number
            else:
                errors["phone"] = (
                    f"{i18n.say('en', error.reason, **error.values)} Or type only its last digits."
                )
    receipt = typed["receipt"].upper()
    if RECEIPT.match(receipt):
        found = replace(found, receipt=receipt)
    elif receipt:
        errors["receipt"] = "An M-Pesa receipt is letters and digits, like SGR7H2KQ1P."
    return found, typed, errors


@get("/payments")
async def payment_list(request: Request, tenants: Tenants) -> Template:
    found, typed, errors = read_filter(request)
    number = page_number(request)
    rows, total, by_hand = [], 0, []
    if not errors:
        # Money paid by hand is paid, and has no pages.
        with_by_hand = found.state in ("", "paid") and number == 1
        rows, total, by_hand = await services(request).store.report(
            _payment_list, tenants, found, (number - 1) * PAGE_SIZE, with_by_hand
        )
    return await page(
        request,
        "payments",
        status_code=400 if errors else 200,
        payments=rows,
        total=total,
        by_hand=by_hand,
        page_number=number,
        pages=max(1, -(-total // PAGE_SIZE)),
        typed=typed,
        errors=errors,
        states=STATES,
        filter_query=urlencode({name: value for name, value in typed.items() if value}),
    )


@get("/payments.csv")
async def payment_csv(request: Request, tenants: Tenants) -> Response:
    found, _, errors = read_filter(request)
    if errors:
        return Response("\n".join(errors.values()), status_code=400, media_type="text/plain")
    rows, names = await services(request).store.report(_all_payments, tenants, found)
    formats = Formats(services(request).settings.store.timezone, services(request).clock.now())
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(
            [
                row.ref,
                _cell(names.tenants[row.tenant_id]),
                formats.when_exact(row.created_at),
                formats.when_exact(row.paid_at),
                row.state,
                row.phone,
                row.amount,
                _cell(names.packages[row.package_id]),
                _cell(names.routers.get(row.router_id, "")),
                _cell(names.accounts[row.mpesa_account_id]),
                row.receipt or "",
                _cell(row.result_code or ""),
                _cell(row.result_desc or ""),
                _cell(row.reversed_reason or ""),
            ]
        )
    today = formats.now.astimezone(formats.zone).date().isoformat()
    return Response(
        out.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="payments-{today}.csv"'},
    )


def _cell(text: str) -> str:
    """A spreadsheet runs a cell that starts with = + - @ as a formula; a leading ' keeps it text."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@get("/payments/{payment_id:int}")
async def payment_detail(request: Request, tenants: Tenants, payment_id: FromPath[int]) -> Template:
    return await _detail(request, tenants, payment_id)


async def _payment(request: Request, tenants: Tenants, payment_id: int) -> Payment:
    return await owned(request, payments.get, tenants, payment_id)


async def _detail(
    request: Request, tenants: Tenants, payment_id: int, status_code: int = 200, **extra
) -> Template:
    payment = await _payment(request, tenants, payment_id)
    shown, moments = await services(request).store.report(_payment_page, payment)
    return await page(request, "payment", status_code=status_code, payment=shown, moments=moments, **extra)


def _payment_page(db: Connection, payment: Payment) -> tuple[Shown, list[timeline.Moment]]:
    return with_names(db, [payment])[0], timeline.timeline(db, payment)


@dataclass(frozen=True)
class Names:
    """The names that payments refer to by id."""

    packages: dict[int, str]
    routers: dict[int, str]
    tenants: dict[int, str]
    accounts: dict[int, str]


def names_of(db: Connection, found: list[Payment]) -> Names:
    return Names(
        packages.names(db, {p.package_id for p in found}),
        routers.names(db, {p.router_id for p in found if p.router_id}),
        tenant_table.names(db, {p.tenant_id for p in found}),
        accounts.names(db, {p.mpesa_account_id for p in found}),
    )


def with_names(db: Connection, found: list[Payment]) -> list[Shown]:
    """Payments with the names of their package, router, business and M-Pesa account."""
    names = names_of(db, found)
    return [
        Shown(
            p,
            package=names.packages[p.package_id],
            router=names.routers.get(p.router_id),
            tenant=names.tenants[p.tenant_id],
            account=names.accounts[p.mpesa_account_id],
        )
        for p in found
    ]


def _payment_list(
    db: Connection, tenants: Scope, found: PaymentFilter, offset: int, with_by_hand: bool
) -> tuple[list[Shown], int, list[Shown]]:
    rows, total = payments.search(db, tenants, found, limit=PAGE_SIZE, offset=offset)
    by_hand = c2b.search(db, tenants, found, BY_HAND_SHOWN) if with_by_hand else []
    names = tenant_table.names(db, {received.tenant_id for received in by_hand})
    return (
        with_names(db, rows),
        total,
        [Shown(received, tenant=names[received.tenant_id]) for received in by_hand],
    )


def _all_payments(db: Connection, tenants: Scope, found: PaymentFilter) -> tuple[list[Payment], Names]:
    rows, _ = payments.search(db, tenants, found, limit=None)
    return rows, names_of(db, rows)


@post("/payments/{payment_id:int}/reverse", guards=[may_change])
async def reverse(
    request: Request, tenants: Tenants, admin: CurrentAdmin, payment_id: FromPath[int]
) -> Template | Redirect:
    payment = await _payment(request, tenants, payment_id)
    reason = form_fields(await request.form()).get("reason", "")
    try:
        done = await services(request).store.write(
            payments.reverse,
            services(request).clock,
            payment_id=payment.id,
            tenant_id=payment.tenant_id,
            reason=reason,
            actor=admin.email,
            source_ip=source_ip(request),
        )
    except ReversalRefused as refused:
        problem = REVERSAL_REFUSED[refused.reason]
        return await _detail(request, tenants, payment_id, 400, reverse_error=problem, reason=reason)
    if not done:
        return await _detail(
            request, tenants, payment_id, 409, reverse_error="Only a paid payment can be marked reversed."
        )
    return Redirect(f"/admin/payments/{payment_id}?done=reversed", status_code=303)


handlers = [payment_list, payment_csv, payment_detail, reverse]
