"""The owner's check of the portal against the M-Pesa statement: every line of the account statement
exported from the M-Pesa business portal (a CSV), matched with the payments the portal took on that
account, and every line or payment that is on one side only, with what it is.

The statement is read in memory and forgotten once the answer is shown: it lists the phone numbers and
names of everyone who paid the business, for anything at all, and the check is one the owner runs when
they want to, not a record the portal needs. Nothing of it is stored.

Lines are matched receipt by receipt first. A payment confirmed by the STK query alone has no receipt
(the query never carries one, reference/daraja.md §5.1), so a line is then matched by the account
number the push gave it ("WiFi" + the start of the payment's ref, checkout.py), and last by its amount,
the payer's number as far as the statement shows it, and its time.

What the domain decides is a `kind` and a `how` for each finding; the admin words them for the owner.
"""

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from ..mpesa.accounts import StoredAccount
from ..mpesa.daraja import KENYA
from ..store import Connection
from ..tenancy import tenants
from . import c2b, payments
from .c2b import PaidByHand
from .payments import Payment

MAX_BYTES = 5 * 1024 * 1024  # a busy month of a busy hotspot is well under 1 MB
MARGIN = timedelta(hours=1)  # portal records this far outside the statement's first and last line count too
# A payment is "nearby" a line its push started up to 2 minutes after (two clocks) or 15 minutes before.
NEARBY_BEFORE, NEARBY_AFTER = timedelta(minutes=2), timedelta(minutes=15)

# Each finding's kind, in the order the owner reads them: what needs them first.
KINDS = (
    "never_reached",  # on the statement only: paid, and the portal never heard of it
    "reversed_still_paid",  # reversed on M-Pesa, the portal still counts it
    "missing",  # in the portal only: Wi-Fi sold that is not on the statement
    "amount_differs",  # in both, for different amounts
    "not_wifi",  # money for something else than Wi-Fi
    "matched",  # in both, for the same amount
    "reversal",  # a reversal the portal has nothing to say about
    "charge",  # M-Pesa's fees
    "money_out",  # withdrawals, transfers, payments the business made
    "no_money",  # a line M-Pesa did not complete, or without an amount
)
ONE_SIDED = ("never_reached", "reversed_still_paid", "missing", "amount_differs", "not_wifi")

# Header names as exports spell them, lower case without spaces and punctuation ("A/C No." → "acno").
HEADERS = {
    "receipt": ("receiptno", "receiptnumber", "receipt"),
    "completed_at": ("completiontime", "completiondate", "completedtime"),
    "initiated_at": ("initiationtime", "initiationdate"),
    "details": ("details", "description"),
    "status": ("transactionstatus", "status"),
    "paid_in": ("paidin", "moneyin"),
    "withdrawn": ("withdrawn", "withdrawal", "withdrawals", "paidout", "moneyout"),
    "reason_type": ("reasontype",),
    "other_party": ("otherpartyinfo", "otherparty", "oppositeparty"),
    "linked": ("linkedtransactionid",),
    "account": ("acno", "accountno", "accountnumber", "account"),
}
DELIMITERS = (",", ";", "\t")  # a spreadsheet saving a CSV in some locales uses ; or a tab
TIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%d-%m-%Y %H:%M:%S", "%d-%m-%Y %H:%M",
    "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d.%m.%Y %H:%M:%S",
)  # fmt: skip
AMOUNT = re.compile(r"^-?\d+(\.\d{1,2})?$")
# The payer as a statement shows them: "254712345678 - JANE DOE", "2547****5678 - JOHN", "0712***678".
SHOWN_NUMBER = re.compile(r"^\+?\d[\d*xX•]{7,14}")
STK_ACCOUNT = re.compile(r"^wifi([0-9a-f]{8})$")  # what checkout.py pushes as the account: "WiFi" + ref[:8]


class StatementRefused(ValueError):
    """`reason`: too_big | empty | pdf | spreadsheet | not_text | no_header | no_lines | bad_amount |
    bad_time; `line` is the file's line for the last two."""

    def __init__(self, reason: str, line: int = 0):
        super().__init__(reason)
        self.reason, self.line = reason, line


@dataclass(frozen=True)
class Line:
    """One transaction of the statement."""

    number: int  # its line in the file, for the owner to find it there
    receipt: str
    at: datetime  # when it completed (or started, without a completion time), UTC
    details: str
    completed: bool
    paid_in: Decimal
    withdrawn: Decimal
    reason_type: str
    other_party: str  # the payer or payee as M-Pesa shows them, number often masked
    linked: str  # the receipt a reversal undoes
    account: str  # the account number the payer typed (a PayBill's), or the push gave

    @property
    def amount(self) -> Decimal:
        return self.paid_in or self.withdrawn

    def says(self, word: str) -> bool:
        return word in f"{self.details} {self.reason_type}".lower()


@dataclass(frozen=True)
class Statement:
    lines: list[Line]

    @property
    def start(self) -> datetime:
        return min(line.at for line in self.lines)

    @property
    def end(self) -> datetime:
        return max(line.at for line in self.lines)


# -- reading the file --


def read(data: bytes) -> Statement:
    """The statement's transactions, or StatementRefused saying what is wrong with the file. Lines
    before the header row (the business's name, the period) and lines without a receipt (totals) are
    passed over."""
    if len(data) > MAX_BYTES:
        raise StatementRefused("too_big")
    if not data.strip():
        raise StatementRefused("empty")
    if data.startswith(b"%PDF"):
        raise StatementRefused("pdf")
    if data.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):  # .xlsx (a zip), .xls
        raise StatementRefused("spreadsheet")
    if b"\x00" in data:
        raise StatementRefused("not_text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")  # Excel's own "CSV" on Windows
    for delimiter in DELIMITERS:
        found = _rows_under_header(text, delimiter)
        if found is not None:
            lines = [line for line in (_line(number, row) for number, row in found) if line]
            if not lines:
                raise StatementRefused("no_lines")
            return Statement(lines)
    raise StatementRefused("no_header")


def _rows_under_header(text: str, delimiter: str) -> list[tuple[int, dict[str, str]]] | None:
    """The rows after the header row, by column name, with their line number; None without a header."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for row in reader:
            places = _header(row)
            if places is not None:
                return [
                    (reader.line_num, {name: row[at].strip() if at < len(row) else "" for name, at in places})
                    for row in reader
                ]
    except csv.Error:  # not this delimiter's CSV (or no CSV at all)
        return None
    return None


def _header(row: list[str]) -> list[tuple[str, int]] | None:
    """(column, its place) when `row` is the header row: it names the receipt, the money in and a time."""
    names = [re.sub(r"[^a-z0-9]", "", cell.lower()) for cell in row]
    found = {}
    for column, spellings in HEADERS.items():
        place = next((names.index(spelling) for spelling in spellings if spelling in names), None)
        if place is not None:
            found[column] = place
    if {"receipt", "paid_in"} <= found.keys() and found.keys() & {"completed_at", "initiated_at"}:
        return list(found.items())
    return None


def _line(number: int, cells: dict[str, str]) -> Line | None:
    receipt = "".join(cells["receipt"].split()).upper()
    if not receipt:
        return None  # an empty line, or the totals
    status = cells.get("status", "").lower()
    return Line(
        number=number,
        receipt=receipt,
        at=_time(number, cells.get("completed_at") or cells.get("initiated_at", "")),
        details=cells.get("details", ""),
        completed=status in ("", "completed"),
        paid_in=_amount(number, cells["paid_in"]),
        withdrawn=_amount(number, cells.get("withdrawn", "")),
        reason_type=cells.get("reason_type", ""),
        other_party=cells.get("other_party", ""),
        linked="".join(cells.get("linked", "").split()).upper(),
        account=cells.get("account", ""),
    )


def _amount(number: int, text: str) -> Decimal:
    """'3,000.00' → 3000.00; a withdrawal some exports write negative counts as what left."""
    plain = re.sub(r"(?i)^(kes|ksh)\.?", "", text.replace(",", "").replace(" ", ""))
    if not plain:
        return Decimal(0)
    if not AMOUNT.match(plain):
        raise StatementRefused("bad_amount", number)
    return abs(Decimal(plain))


def _time(number: int, text: str) -> datetime:
    """A statement's times are Kenya time, to the second; stored, like every time, as UTC."""
    for form in TIME_FORMATS:
        try:
            return datetime.strptime(text.strip(), form).replace(tzinfo=KENYA).astimezone(UTC)
        except ValueError:
            continue
    raise StatementRefused("bad_time", number)


# -- matching it with the portal --


@dataclass(frozen=True)
class Finding:
    """A line of the statement, a portal record, or both, and what they are together.

    `how` says why it is of its kind:
    - matched, amount_differs: receipt (the payment's), by_hand (paid by hand, its receipt),
      account (the account number the push gave names the payment, which had no receipt),
      amount_phone_time (a paid payment without a receipt, the same amount, number and time);
    - never_reached: typed_receipt (the payer of a payment whose outcome is unknown typed this
      receipt), account (the account number names a payment that is not paid), amount_phone_time (a
      payment unknown or expired of the same amount, number and time: probably it), wifi_words
      (paid by hand to a word for Wi-Fi, never heard of), unexplained;
    - not_wifi: by_hand (heard of, to another account), account_words (another account);
    - missing, reversed_still_paid: payment (an M-Pesa prompt's), by_hand;
    - reversal: marked_reversed (the portal's payment is reversed too), unrelated;
    - no_money: not_completed, no_amount; charge and money_out: "".
    """

    kind: str
    how: str
    line: Line | None = None
    payment: Payment | None = None
    by_hand: PaidByHand | None = None

    @property
    def amount(self) -> Decimal:
        if self.kind == "no_money":
            return Decimal(0)  # what a failed line says it would have been moved nothing
        if self.line is not None:
            return self.line.amount
        return Decimal((self.payment or self.by_hand).amount)

    @property
    def at(self) -> datetime:
        if self.line is not None:
            return self.line.at
        if self.payment is not None:
            return self.payment.paid_at
        return _time_of(self.by_hand)


@dataclass(frozen=True)
class Total:
    count: int
    amount: Decimal


@dataclass(frozen=True)
class Reconciliation:
    start: datetime
    end: datetime
    findings: list[Finding]

    def of(self, kind: str) -> list[Finding]:
        return [finding for finding in self.findings if finding.kind == kind]

    @property
    def totals(self) -> dict[str, Total]:
        """Per kind, every kind (in KINDS' order), found or not."""
        return {
            kind: Total(len(found), sum((finding.amount for finding in found), Decimal(0)))
            for kind, found in ((kind, self.of(kind)) for kind in KINDS)
        }


def reconcile(db: Connection, account: StoredAccount, statement: Statement) -> Reconciliation:
    """Every line of `statement` (of `account`) and every payment to that account it should list,
    each in a kind (KINDS)."""
    tenant_id = account.tenant_id
    start, end = statement.start, statement.end
    matching = _Matching(
        wifi_words=tenants.get(db, tenant_id).wifi_words if account.kind == "paybill" else None,
        stk=payments.of_account_between(db, tenant_id, account.id, start - MARGIN, end + MARGIN),
        by_hand=c2b.of_account_between(db, tenant_id, account.id, start - MARGIN, end + MARGIN),
    )
    money_in: list[Line] = []
    for line in statement.lines:
        if not line.completed or not line.amount:
            matching.found(Finding("no_money", "not_completed" if not line.completed else "no_amount", line))
        elif line.says("revers"):
            matching.found(_reversal(db, tenant_id, line))
        elif line.withdrawn:
            matching.found(Finding("charge" if line.says("charge") else "money_out", "", line))
        else:
            money_in.append(line)
    # Surest first: a line a receipt matches is never taken by a guess.
    for match in (matching.by_receipt, matching.by_account, matching.by_amount_phone_time):
        money_in = [line for line in money_in if not match(line)]
    for line in money_in:
        matching.found(matching.unexplained(line))
    matching.missing(start, end)
    return Reconciliation(start, end, sorted(matching.findings, key=lambda finding: finding.at))


def _reversal(db: Connection, tenant_id: int, line: Line) -> Finding:
    """A reversal undoes the receipt its Linked Transaction ID names (some exports repeat the receipt)."""
    for receipt in dict.fromkeys(filter(None, (line.linked, line.receipt))):
        payment = payments.by_receipt(db, tenant_id, receipt)
        if payment is not None and payment.state in ("paid", "reversed"):
            kind, how = (
                ("reversed_still_paid", "payment")
                if payment.state == "paid"
                else ("reversal", "marked_reversed")
            )
            return Finding(kind, how, line, payment=payment)
        by_hand = c2b.by_receipt(db, tenant_id, receipt)
        if by_hand is not None and by_hand.for_wifi:
            return Finding("reversed_still_paid", "by_hand", line, by_hand=by_hand)
    return Finding("reversal", "unrelated", line)


class _Matching:
    """The portal's records of the account around the statement's time, found by what lines carry, and
    which of them are accounted for."""

    def __init__(self, *, wifi_words: str | None, stk: list[Payment], by_hand: list[PaidByHand]):
        self.wifi_words = wifi_words  # None for a Till: every payment by hand to it is Wi-Fi's
        self.stk, self.by_hand = stk, by_hand
        self.stk_receipts = {payment.receipt: payment for payment in stk if payment.receipt}
        self.typed = {p.typed_receipt: p for p in stk if p.state == "unknown" and p.typed_receipt}
        self.refs = {payment.ref[:8]: payment for payment in stk}
        self.stk_amounts: dict[int, list[Payment]] = {}
        for payment in stk:
            self.stk_amounts.setdefault(payment.amount, []).append(payment)
        self.by_hand_receipts = {received.receipt: received for received in by_hand}
        self.findings: list[Finding] = []
        self.taken: set[int] = set()  # the payments (ids) a line was found for
        self.by_hand_taken: set[int] = set()

    def found(self, finding: Finding) -> bool:
        self.findings.append(finding)
        return True

    def take(self, finding: Finding) -> bool:
        """A line found with its record in the portal: the record is on the statement."""
        if finding.payment is not None:
            self.taken.add(finding.payment.id)
        if finding.by_hand is not None:
            self.by_hand_taken.add(finding.by_hand.id)
        return self.found(finding)

    def by_receipt(self, line: Line) -> bool:
        payment = self.stk_receipts.get(line.receipt)
        if payment is not None and payment.id not in self.taken:
            return self.take(Finding(_agreed(line, payment.amount), "receipt", line, payment=payment))
        payment = self.typed.get(line.receipt)
        if payment is not None and payment.id not in self.taken:
            return self.take(Finding("never_reached", "typed_receipt", line, payment=payment))
        received = self.by_hand_receipts.get(line.receipt)
        if received is not None and received.id not in self.by_hand_taken:
            kind = _agreed(line, received.amount) if received.for_wifi else "not_wifi"
            return self.take(Finding(kind, "by_hand", line, by_hand=received))
        return False

    def by_account(self, line: Line) -> bool:
        """The account number a push gives names its payment: on a PayBill's statement, even a payment
        confirmed without its receipt is found."""
        named = STK_ACCOUNT.match(line.account.lower())
        payment = self.refs.get(named.group(1)) if named else None
        if payment is None or payment.id in self.taken:
            return False
        if payment.state not in ("paid", "reversed"):
            return self.take(Finding("never_reached", "account", line, payment=payment))
        if payment.receipt is None:
            return self.take(Finding(_agreed(line, payment.amount), "account", line, payment=payment))
        return False  # paid with another receipt: not this line's

    def by_amount_phone_time(self, line: Line) -> bool:
        """A guess, when nothing surer names the payment: a paid one without a receipt is taken as matched;
        else one whose outcome is unknown or that expired is probably the one the line paid."""
        amount = int(line.paid_in) if line.paid_in == int(line.paid_in) else None
        near = sorted(
            (
                payment
                for payment in self.stk_amounts.get(amount, [])
                if payment.id not in self.taken
                and -NEARBY_BEFORE <= line.at - payment.created_at <= NEARBY_AFTER
                and _could_be(line.other_party, payment.phone)
            ),
            key=lambda payment: abs(line.at - payment.created_at),
        )
        for payment in near:
            if payment.state == "paid" and payment.receipt is None:
                return self.take(Finding("matched", "amount_phone_time", line, payment=payment))
        for payment in near:
            if payment.state in ("unknown", "expired"):
                return self.take(Finding("never_reached", "amount_phone_time", line, payment=payment))
        return False

    def unexplained(self, line: Line) -> Finding:
        """Money in that the portal has no record of."""
        if self.wifi_words is not None and line.account and not STK_ACCOUNT.match(line.account.lower()):
            if c2b.is_for_wifi(line.account, self.wifi_words):
                return Finding("never_reached", "wifi_words", line)
            return Finding("not_wifi", "account_words", line)
        return Finding("never_reached", "unexplained", line)

    def missing(self, start: datetime, end: datetime) -> None:
        """Wi-Fi the portal sold within the statement's time that the statement does not list."""
        for payment in self.stk:
            if payment.state == "paid" and payment.id not in self.taken and start <= payment.paid_at <= end:
                self.found(Finding("missing", "payment", payment=payment))
        for received in self.by_hand:
            if (
                received.for_wifi
                and received.id not in self.by_hand_taken
                and start <= _time_of(received) <= end
            ):
                self.found(Finding("missing", "by_hand", by_hand=received))


def _agreed(line: Line, amount: int) -> str:
    return "matched" if line.paid_in == amount else "amount_differs"


def _time_of(by_hand: PaidByHand) -> datetime:
    return by_hand.transaction_time or by_hand.received_at


def _could_be(other_party: str, phone: str) -> bool:
    """Whether the payer the statement shows, as far as it shows their number ("2547****5678"), could be
    `phone` (2547XXXXXXXX). A line that shows no number can't tell."""
    shown = SHOWN_NUMBER.match(other_party.strip())
    if shown is None:
        return True
    number = shown.group().lstrip("+")
    if number.startswith("0"):
        number = "254" + number[1:]
    head, tail = re.match(r"\d*", number).group(), re.search(r"\d*$", number).group()
    if head == number:
        return number == phone
    return phone.startswith(head) and phone.endswith(tail)
