"""Checking the portal against the M-Pesa statement: the owner uploads the statement the M-Pesa business
portal exports, and reads what is on one side only and what it means (billing/mpesa_statement.py).

The file is read from the upload and forgotten with the answer: nothing of it is stored.
"""

from litestar import Request, get, post
from litestar.datastructures import UploadFile
from litestar.response import Template

from ...billing import mpesa_statement
from ...billing.mpesa_statement import KINDS, MAX_BYTES, ONE_SIDED, Finding, StatementRefused
from ...mpesa import accounts
from ...mpesa.accounts import StoredAccount
from ...store import Connection
from ...tenancy import tenants as tenant_table
from ...tenancy.scope import Scope
from .base import Formats, Tenants, form_fields, owned, page, services

MEGABYTES = MAX_BYTES // (1024 * 1024)
LISTED = tuple(kind for kind in KINDS if kind != "matched")  # matched lines are only counted
# A file somewhat too big is read as far as the limit, to say so in words; one far too big, not at all.
MAX_BODY = 2 * MAX_BYTES

REFUSED = {
    "no_file": "Choose the statement file first.",
    "too_big": f"That file is over {MEGABYTES} MB, far more than a month's statement: export fewer days.",
    "empty": "That file is empty.",
    "pdf": "That is a PDF. On the M-Pesa business portal, export the statement as CSV instead.",
    "spreadsheet": "That is an Excel workbook. Export the statement as CSV, or open it and save it as CSV.",
    "not_text": "That file is not a CSV statement: it is not text at all.",
    "no_header": (
        "That file is not the M-Pesa statement: it has no header row with Receipt No., Completion Time "
        "and Paid In. Export the Account statement as CSV from the M-Pesa business portal."
    ),
    "no_lines": "The statement lists no transactions: export a period in which the business was paid.",
    "bad_amount": "Line {line} of the file has an amount that can't be read, like 3,000.00.",
    "bad_time": "Line {line} of the file has a time that can't be read, like 2026-12-04 14:03:22.",
}
TITLES = {
    "never_reached": "Paid, never reached the portal",
    "reversed_still_paid": "Reversed on M-Pesa, still counted as paid",
    "missing": "Wi-Fi sold, missing from M-Pesa",
    "amount_differs": "Amounts differ",
    "not_wifi": "Not for Wi-Fi",
    "matched": "Matched",
    "reversal": "Reversals",
    "charge": "M-Pesa charges",
    "money_out": "Money out",
    "no_money": "No money moved",
}
MEANINGS = {
    ("amount_differs", "receipt"): "The portal counted {portal} for this receipt; M-Pesa says {statement}.",
    ("amount_differs", "account"): "The portal counted {portal} for this payment; M-Pesa says {statement}.",
    ("amount_differs", "by_hand"): "The portal recorded {portal} paid by hand; M-Pesa says {statement}.",
    ("never_reached", "typed_receipt"): (
        "Paid, but M-Pesa's answer never reached the portal. The customer typed this receipt for this "
        "payment ({state}): they may be owed access. Confirm it paid on the payment's page."
    ),
    ("never_reached", "account"): (
        "Paid, but the portal never heard of it: its account number {account} names this payment "
        "({state}). The customer may be owed access."
    ),
    ("never_reached", "amount_phone_time"): (
        "Paid, but never reached the portal. Probably this payment ({state}): the same amount, from the "
        "same number, {apart} apart. The customer may be owed access."
    ),
    ("never_reached", "wifi_words"): (
        "Paid by hand to {account}, one of your words for Wi-Fi, but M-Pesa never told the portal: the "
        "customer can't use this receipt. Check “Paid by hand” on the M-Pesa page."
    ),
    ("never_reached", "unexplained"): (
        "Paid to this account, but the portal has no record of it: nobody got Wi-Fi for it through "
        "the portal."
    ),
    ("not_wifi", "by_hand"): (
        "Paid by hand to the account {account}, not one of your words for Wi-Fi: not Wi-Fi money, "
        "never counted."
    ),
    ("not_wifi", "account_words"): (
        "Paid to the account {account}, not one of your words for Wi-Fi: not Wi-Fi money, and rightly "
        "not in the portal."
    ),
    ("missing", "payment"): (
        "The portal counts this payment paid (receipt {receipt}), but the statement does not list it."
    ),
    ("missing", "by_hand"): (
        "The portal recorded this payment by hand (receipt {receipt}), but the statement does not list it."
    ),
    ("reversed_still_paid", "payment"): (
        "Reversed on M-Pesa but still counted as paid: mark the payment reversed."
    ),
    ("reversed_still_paid", "by_hand"): (
        "Reversed on M-Pesa, but the portal still counts this money paid by hand (receipt {receipt})."
    ),
    ("reversal", "marked_reversed"): "Reversed on M-Pesa, and marked reversed in the portal too.",
    ("reversal", "unrelated"): "A reversal of money the portal has no record of.",
    ("charge", ""): "M-Pesa's charge.",
    ("money_out", ""): "Money out: a withdrawal, a transfer, or a payment the business made.",
    ("no_money", "not_completed"): "M-Pesa did not complete it: no money moved.",
    ("no_money", "no_amount"): "No amount on this line.",
}


def meaning(finding: Finding, fmt: Formats) -> str:
    """What a finding means for the owner, in a sentence."""
    record = finding.payment or finding.by_hand
    line = finding.line
    return MEANINGS[finding.kind, finding.how].format(
        portal=fmt.kes(record.amount) if record else "",
        statement=fmt.kes(line.amount) if line else "",
        state=finding.payment.state if finding.payment else "",
        receipt=(record.receipt if record else "") or "none",
        account=(line.account if line else "") or (finding.by_hand.bill_ref if finding.by_hand else ""),
        apart=fmt.duration(abs(int((line.at - finding.payment.created_at).total_seconds())))
        if line and finding.payment
        else "",
    )


@get("/reconcile")
async def reconcile_form(request: Request, tenants: Tenants) -> Template:
    return await _page(request, tenants)


@post("/reconcile", opt={"upload": True}, request_max_body_size=MAX_BODY, status_code=200)
async def reconcile(request: Request, tenants: Tenants) -> Template:
    form = await request.form()
    upload = form.get("statement")
    data = await upload.read(MAX_BYTES + 1) if isinstance(upload, UploadFile) else b""
    fields = form_fields(form)  # closes the upload
    account = await owned(request, accounts.get, tenants, fields.get("account", ""))
    if not isinstance(upload, UploadFile) or not upload.filename:
        return await _page(request, tenants, status_code=400, error=REFUSED["no_file"], picked=account.id)
    try:
        statement = mpesa_statement.read(data)
    except StatementRefused as refused:
        problem = REFUSED[refused.reason].format(line=refused.line)
        return await _page(request, tenants, status_code=400, error=problem, picked=account.id)
    result = await services(request).store.report(mpesa_statement.reconcile, account, statement)
    fmt = Formats(services(request).settings.store.timezone, services(request).clock.now())
    explained = {kind: [(finding, meaning(finding, fmt)) for finding in result.of(kind)] for kind in LISTED}
    return await _page(
        request, tenants, picked=account.id, checked=account, reconciliation=result, explained=explained
    )


async def _page(request: Request, tenants: Scope, *, status_code: int = 200, **context) -> Template:
    choices = await services(request).store.read(_accounts, tenants)
    return await page(
        request,
        "reconcile",
        status_code=status_code,
        choices=choices,
        kinds=KINDS,
        one_sided=ONE_SIDED,
        titles=TITLES,
        megabytes=MEGABYTES,
        **context,
    )


def _accounts(db: Connection, tenants: Scope) -> list[tuple[StoredAccount, str]]:
    """The M-Pesa accounts the admin may check a statement of, each with its business's name."""
    found = accounts.in_scope(db, tenants)
    names = tenant_table.names(db, {account.tenant_id for account in found})
    return [(account, names[account.tenant_id]) for account in found]


handlers = [reconcile_form, reconcile]
