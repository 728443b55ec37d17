"""Payments: the filtered list, one payment's timeline, CSV export, marking a payment reversed."""

import csv
import io
import re
from dataclasses import replace
from datetime import date, timedelta
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from ... import reports
from ...numbers import is_digits
from ...payments import reverse_payment
from ...phones import PhoneError, normalize
from ...reports import PAYMENT_STATES, PaymentFilter, local_midnight
from .base import (
    CurrentAdmin,
    Formats,
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
    if typed["state"] in PAYMENT_STATES:
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
                errors["phone"] = f"{error.english} Or type only its last digits."
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
        rows, total = await reports.search_payments(
            services(request).db, tenants, found, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE
        )
        if found.state in ("", "paid") and number == 1:  # money paid by hand is paid, and has no pages
            by_hand = await reports.paid_by_hand(services(request).db, tenants, found, limit=BY_HAND_SHOWN)
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
        states=PAYMENT_STATES,
        filter_query=urlencode({name: value for name, value in typed.items() if value}),
    )


@get("/payments.csv")
async def payment_csv(request: Request, tenants: Tenants) -> Response:
    found, _, errors = read_filter(request)
    if errors:
        return Response("\n".join(errors.values()), status_code=400, media_type="text/plain")
    rows, _ = await reports.search_payments(services(request).db, tenants, found, limit=None)
    formats = Formats(services(request).settings.store.timezone, services(request).clock.now())
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(
            [
                row["ref"],
                _cell(row["tenant"]),
                formats.when_exact(row["created_at"]),
                formats.when_exact(row["paid_at"]),
                row["state"],
                row["phone"],
                row["amount"],
                _cell(row["package"]),
                _cell(row["router"] or ""),
                _cell(row["account"]),
                row["receipt"] or "",
                _cell(row["result_code"] or ""),
                _cell(row["result_desc"] or ""),
                _cell(row["reversed_reason"] or ""),
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


async def _payment(request: Request, tenants: Tenants, payment_id: int):
    return await owned(request, reports.payment, tenants, payment_id)


async def _detail(
    request: Request, tenants: Tenants, payment_id: int, status_code: int = 200, **extra
) -> Template:
    row = await _payment(request, tenants, payment_id)
    moments = await reports.timeline(services(request).db, row)
    return await page(request, "payment", status_code=status_code, payment=row, moments=moments, **extra)


@post("/payments/{payment_id:int}/reverse", guards=[may_change])
async def reverse(
    request: Request, tenants: Tenants, admin: CurrentAdmin, payment_id: FromPath[int]
) -> Template | Redirect:
    row = await _payment(request, tenants, payment_id)
    reason = form_fields(await request.form()).get("reason", "")
    try:
        async with services(request).db.transaction() as tx:
            done = await reverse_payment(
                tx,
                services(request).clock,
                payment_id=row["id"],
                tenant_id=row["tenant_id"],
                reason=reason,
                actor=admin.email,
                source_ip=source_ip(request),
            )
    except ValueError as error:
        return await _detail(request, tenants, payment_id, 400, reverse_error=str(error), reason=reason)
    if not done:
        return await _detail(
            request, tenants, payment_id, 409, reverse_error="Only a paid payment can be marked reversed."
        )
    return Redirect(f"/admin/payments/{payment_id}?done=reversed", status_code=303)


handlers = [payment_list, payment_csv, payment_detail, reverse]
