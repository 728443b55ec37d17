"""Payments: the filtered list, one payment's timeline, CSV export, marking a payment reversed, and
settling one whose outcome is unknown: confirmed paid, not paid, or asked of M-Pesa."""

import csv
import io
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Stream, Template

from ... import i18n
from ...access import routers
from ...billing import c2b, owner_decisions, payments, receipt_checks, timeline
from ...billing.earnings import local_midnight
from ...billing.owner_decisions import DecisionRefused
from ...billing.payments import STATES, Payment, PaymentFilter
from ...billing.period_reports import typed_days
from ...billing.receipt_checks import ReceiptRefused
from ...catalog import packages
from ...mpesa import accounts
from ...phones import PhoneError, normalize
from ...store import Connection
from ...tenancy import tenants as tenant_table
from ...tenancy.admins import EXPORT_PHONES
from ...tenancy.scope import Scope
from ...typed_numbers import is_digits
from .base import (
    DAY_REFUSED,
    CurrentAdmin,
    Formats,
    Shown,
    Tenants,
    form_fields,
    may_change,
    needs,
    owned,
    page,
    page_number,
    services,
    source_ip,
)
from .spreadsheets import BOM, cell, text_cell

PAGE_SIZE = 50
CSV_BATCH = 500  # payments read at a time for a CSV file
BY_HAND_SHOWN = 50  # the newest; a receipt or dates find older ones
FILTER_FIELDS = ("state", "from", "to", "phone", "receipt")
RECEIPT = re.compile(r"^[A-Z0-9]{6,20}$")
DECISION_REFUSED = {
    "no_reason": "Say why the payment was reversed.",
    "reason_too_long": f"Keep the reason under {owner_decisions.REVERSAL_REASON_MAX} characters.",
    "not_a_receipt": (
        "An M-Pesa receipt is 10 letters and digits, like SGR7H2KQ1P. Leave it empty if you have none."
    ),
    "receipt_used": "That receipt belongs to another payment already: check it on the M-Pesa statement.",
}
ASK_REFUSED = {
    "not_a_receipt": "Type the receipt to ask about: 10 letters and digits, like SGR7H2KQ1P.",
    "not_unknown": "This payment is settled already.",
    "too_many_checks": "M-Pesa was asked about this payment too often. Check the statement and decide.",
    "cannot_ask": (
        "This account can't ask M-Pesa about receipts: give it an initiator and Safaricom's certificate"
        " (M-Pesa → Edit), and set server.public_url so that M-Pesa's answer can reach this box."
    ),
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
    first, last, problems = typed_days(typed["from"], typed["to"])
    errors |= {field: DAY_REFUSED[reason] for field, reason in problems.items()}
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
    rows, total, more, by_hand = [], 0, False, []
    if not errors:
        # Money paid by hand is paid, and has no pages.
        with_by_hand = found.state in ("", "paid") and number == 1
        rows, total, more, by_hand = await services(request).store.report(
            _payment_list, tenants, found, (number - 1) * PAGE_SIZE, with_by_hand
        )
    return await page(
        request,
        "payments",
        status_code=400 if errors else 200,
        payments=rows,
        total=total,
        more=more,  # than `total`, which is counted only so far past this page
        by_hand=by_hand,
        page_number=number,
        pages=max(1, -(-total // PAGE_SIZE)),
        typed=typed,
        errors=errors,
        states=STATES,
        filter_query=urlencode({name: value for name, value in typed.items() if value}),
    )


@get("/payments.csv", guards=[needs(EXPORT_PHONES)])
async def payment_csv(request: Request, tenants: Tenants) -> Response | Stream:
    found, _, errors = read_filter(request)
    if errors:
        return Response("\n".join(errors.values()), status_code=400, media_type="text/plain")
    store = services(request).store
    formats = Formats(services(request).settings.store.timezone, services(request).clock.now())

    async def batches() -> AsyncIterator[str]:
        """The file a batch at a time, each read on its own, so neither the memory it takes nor the
        reader it holds grows with the years of payments asked for."""
        yield BOM + csv_lines([CSV_COLUMNS])
        last = None
        while True:
            rows, names = await store.report(_payments_after, tenants, found, last)
            if rows:
                yield csv_lines(csv_row(row, names, formats) for row in rows)
            if len(rows) < CSV_BATCH:
                return
            last = rows[-1]

    today = formats.now.astimezone(formats.zone).date().isoformat()
    return Stream(
        batches(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="payments-{today}.csv"'},
    )


def csv_lines(rows: Iterable[Sequence]) -> str:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue()


def csv_row(row: Payment, names: "Names", formats: Formats) -> list:
    return [
        row.ref,
        cell(names.tenants[row.tenant_id]),
        formats.when_exact(row.created_at),
        formats.when_exact(row.paid_at),
        row.state,
        text_cell(row.phone),
        row.amount,
        cell(row.api_charge or names.packages[row.package_id]),
        cell(names.routers.get(row.router_id, "")),
        cell(names.accounts[row.mpesa_account_id]),
        row.receipt or "",
        cell(row.result_code or ""),
        cell(row.result_desc or ""),
        cell(row.reversed_reason or ""),
    ]


@get("/payments/{payment_id:int}")
async def payment_detail(request: Request, tenants: Tenants, payment_id: FromPath[int]) -> Template:
    return await _detail(request, tenants, payment_id)


async def _payment(request: Request, tenants: Tenants, payment_id: int) -> Payment:
    return await owned(request, payments.get, tenants, payment_id)


async def _detail(
    request: Request, tenants: Tenants, payment_id: int, status_code: int = 200, **extra
) -> Template:
    payment = await _payment(request, tenants, payment_id)
    shown, moments, checks = await services(request).store.report(_payment_page, payment)
    can_ask = payment.state == "unknown" and await services(request).receipt_checks.can_ask(payment)
    return await page(
        request,
        "payment",
        status_code=status_code,
        payment=shown,
        moments=moments,
        checks=checks,
        can_ask=can_ask,
        **extra,
    )


def _payment_page(
    db: Connection, payment: Payment
) -> tuple[Shown, list[timeline.Moment], list[receipt_checks.ReceiptCheck]]:
    return (
        with_names(db, [payment])[0],
        timeline.timeline(db, payment),
        receipt_checks.of_payment(db, payment.id),
    )


@dataclass(frozen=True)
class Names:
    """The names that payments refer to by id."""

    packages: dict[int, str]
    routers: dict[int, str]
    tenants: dict[int, str]
    accounts: dict[int, str]


def names_of(db: Connection, found: list[Payment]) -> Names:
    return Names(
        packages.names(db, {p.package_id for p in found if p.package_id}),
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
            package=p.api_charge or names.packages[p.package_id],
            router=names.routers.get(p.router_id),
            tenant=names.tenants[p.tenant_id],
            account=names.accounts[p.mpesa_account_id],
            why=why(p),
        )
        for p in found
    ]


def why(payment: Payment) -> str:
    """Why a payment did not go through, in plain words; '' for the others."""
    if payment.state in ("failed", "expired") and payment.outcome:
        return payment.outcome.meaning
    return ""


def _payment_list(
    db: Connection, tenants: Scope, found: PaymentFilter, offset: int, with_by_hand: bool
) -> tuple[list[Shown], int, bool, list[Shown]]:
    rows, total, more = payments.search(db, tenants, found, limit=PAGE_SIZE, offset=offset)
    by_hand = c2b.search(db, tenants, found, BY_HAND_SHOWN) if with_by_hand else []
    names = tenant_table.names(db, {received.tenant_id for received in by_hand})
    return (
        with_names(db, rows),
        total,
        more,
        [Shown(received, tenant=names[received.tenant_id]) for received in by_hand],
    )


def _payments_after(
    db: Connection, tenants: Scope, found: PaymentFilter, last: Payment | None
) -> tuple[list[Payment], Names]:
    rows = payments.search_after(db, tenants, found, last, CSV_BATCH)
    return rows, names_of(db, rows)


@post("/payments/{payment_id:int}/reverse", guards=[may_change])
async def reverse(
    request: Request, tenants: Tenants, admin: CurrentAdmin, payment_id: FromPath[int]
) -> Template | Redirect:
    payment = await _payment(request, tenants, payment_id)
    reason = form_fields(await request.form()).get("reason", "")
    try:
        done = await services(request).store.write(
            owner_decisions.reverse,
            services(request).clock,
            payment_id=payment.id,
            tenant_id=payment.tenant_id,
            reason=reason,
            actor=admin.email,
            source_ip=source_ip(request),
        )
    except DecisionRefused as refused:
        problem = DECISION_REFUSED[refused.reason]
        return await _detail(request, tenants, payment_id, 400, reverse_error=problem, reason=reason)
    if not done:
        return await _detail(
            request, tenants, payment_id, 409, reverse_error="Only a paid payment can be marked reversed."
        )
    return Redirect(f"/admin/payments/{payment_id}?done=reversed", status_code=303)


# -- a payment whose outcome is unknown --

NOT_UNKNOWN = "This payment is settled already: reload the page to see how."


@post("/payments/{payment_id:int}/confirm", guards=[may_change])
async def confirm_paid(
    request: Request, tenants: Tenants, admin: CurrentAdmin, payment_id: FromPath[int]
) -> Template | Redirect:
    """The owner saw the money in the M-Pesa app or statement: paid, and the customer goes online."""
    payment = await _payment(request, tenants, payment_id)
    receipt = form_fields(await request.form()).get("receipt", "")
    s = services(request)
    try:
        done = await s.store.write(
            owner_decisions.confirm_paid,
            s.clock,
            s.vault,
            payment_id=payment.id,
            tenant_id=payment.tenant_id,
            receipt=receipt,
            actor=admin.email,
            source_ip=source_ip(request),
        )
    except DecisionRefused as refused:
        problem = DECISION_REFUSED[refused.reason]
        return await _detail(request, tenants, payment_id, 400, settle_error=problem, receipt=receipt)
    if not done:
        return await _detail(request, tenants, payment_id, 409, settle_error=NOT_UNKNOWN)
    s.confirmation.paid("owner")  # counted, and the router worker woken to let the device in
    return Redirect(f"/admin/payments/{payment_id}?done=confirmed_paid", status_code=303)


@post("/payments/{payment_id:int}/not-paid", guards=[may_change])
async def not_paid(
    request: Request, tenants: Tenants, admin: CurrentAdmin, payment_id: FromPath[int]
) -> Template | Redirect:
    payment = await _payment(request, tenants, payment_id)
    s = services(request)
    done = await s.store.write(
        owner_decisions.not_paid,
        s.clock,
        payment_id=payment.id,
        tenant_id=payment.tenant_id,
        actor=admin.email,
        source_ip=source_ip(request),
    )
    if not done:
        return await _detail(request, tenants, payment_id, 409, settle_error=NOT_UNKNOWN)
    return Redirect(f"/admin/payments/{payment_id}?done=not_paid", status_code=303)


@post("/payments/{payment_id:int}/ask", guards=[may_change])
async def ask_mpesa(
    request: Request, tenants: Tenants, admin: CurrentAdmin, payment_id: FromPath[int]
) -> Template | Redirect:
    """Asks M-Pesa about a receipt (Transaction Status); its answer arrives at the hooks a little later."""
    payment = await _payment(request, tenants, payment_id)
    receipt = form_fields(await request.form()).get("receipt", "") or payment.typed_receipt or ""
    try:
        await services(request).receipt_checks.ask(payment, receipt, admin.email)
    except ReceiptRefused as refused:
        problem = ASK_REFUSED[refused.reason]
        return await _detail(request, tenants, payment_id, 400, ask_error=problem, receipt=receipt)
    return Redirect(f"/admin/payments/{payment_id}?done=asked", status_code=303)


handlers = [payment_list, payment_csv, payment_detail, reverse, confirm_paid, not_paid, ask_mpesa]
