"""The c2b_payments table: money sent by hand to a PayBill or Till, recorded as Daraja confirms it; and
c2b_spends, what that money bought, and when.

Daraja posts each payment to the URLs registered for the account (reference/daraja.md §7). The
payer's number comes hashed or masked, so a payment is found by its receipt code (TransID), which the
payer has in their M-Pesa message. A PayBill may take money for other things too (estates and hostels
take rent on the one they sell Wi-Fi on): a payment is Wi-Fi's only when the account the payer typed
is one of the business's words for Wi-Fi (a Till takes no account: all of its money is). What a
payment has not spent is its credit, which its receipt spends later, alone or with other receipts;
each spend is a row of its own, so that the money counts on the day it bought time.
"""

import logging
import re
from collections.abc import Collection
from datetime import datetime

from ..clock import Clock, from_text, to_text
from ..mpesa import accounts
from ..mpesa.callbacks import C2BPayment
from ..mpesa.daraja import KENYA, DarajaClient, DarajaError
from ..store import Connection, Record, Store, columns, marks
from ..tenancy import tenants
from ..tenancy.scope import Scope, of_tenant
from ..vault import Vault
from .payments import PaymentFilter
from .vouchers import normalize_code

log = logging.getLogger(__name__)

FILTER_COLUMNS = {"tenant": "tenant_id", "at": "received_at", "phone": "msisdn", "receipt": "receipt"}


class C2BError(ValueError):
    pass


class PaidByHand(Record, frozen=True):
    id: int
    tenant_id: int
    mpesa_account_id: int
    receipt: str
    amount: int
    bill_ref: str
    msisdn: str  # hashed or masked by Daraja: never the usable number
    payer_name: str
    transaction_time: datetime | None
    received_at: datetime
    claimed_at: datetime | None  # when a customer first spent it on Wi-Fi
    access_session_id: int | None  # the access it bought last: its receipt moves that time
    for_wifi: bool  # paid to one of the business's words for Wi-Fi (or to its Till)
    spent: int  # shillings of it spent on Wi-Fi

    @property
    def credit(self) -> int:
        """What it can still buy."""
        return self.amount - self.spent if self.for_wifi else 0


COLUMNS = columns(PaidByHand)


# -- telling Daraja where to post --


def urls(public_url: str, c2b_token: str) -> tuple[str, str]:
    """(confirmation, validation) URLs for an account; the token is hex, so free of words Daraja refuses."""
    base = f"{public_url}/hooks/c2b/{c2b_token}"
    return f"{base}/confirmation", f"{base}/validation"


async def register_urls(
    store: Store, clock: Clock, vault: Vault, daraja: DarajaClient, public_url: str, account_id: int
) -> tuple[str, str]:
    """Tells Daraja where to post the account's C2B payments; production allows this once per shortcode.
    It counts only when Daraja says it took them: otherwise DarajaError, in Daraja's words."""
    if not public_url:
        raise C2BError("C2B needs server.public_url: Daraja must be able to reach this box")
    account = await store.read(accounts.load, vault, account_id)
    stored = await store.read(accounts.get, account_id)
    confirmation, validation = urls(public_url, stored.c2b_token)
    await daraja.register_c2b_urls(account, confirmation_url=confirmation, validation_url=validation)
    await store.write(accounts.c2b_registered, clock, account_id)
    return confirmation, validation


async def register_due(
    store: Store, clock: Clock, vault: Vault, daraja: DarajaClient, public_url: str
) -> None:
    """Registers the C2B URLs of every account Daraja has not taken them for yet (run at start and then
    now and again, so a new account gets them without anyone asking). Needs a public URL. Why Daraja
    refused is kept for the owner; until it takes them, nobody is told to pay by hand."""
    if not public_url:
        return
    for account_id in await store.read(accounts.without_c2b_urls):
        try:
            await register_urls(store, clock, vault, daraja, public_url, account_id)
        except DarajaError as error:
            log.warning(
                "C2B URLs not registered", extra={"fields": {"account": account_id, "error": str(error)}}
            )
            await store.write(accounts.c2b_refused, account_id, str(error))


# -- the words that make money Wi-Fi's --

MAX_WORDS = 10
MAX_WORD = 20  # what M-Pesa's account number field takes
WORD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 -]*$")


class WordsRefused(ValueError):
    """`reason`: no_words | too_many_words | word_too_long | word_characters."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def read_words(typed: str) -> str:
    """The owner's words for Wi-Fi, as stored: comma-separated, each as typed, the same word once. The
    first is the one customers are told to type."""
    words: dict[str, str] = {}
    for word in typed.split(","):
        word = " ".join(word.split())
        if not word:
            continue
        if len(word) > MAX_WORD:
            raise WordsRefused("word_too_long")
        if not WORD.match(word):
            raise WordsRefused("word_characters")
        words.setdefault(normalize_code(word), word)
    if not words:
        raise WordsRefused("no_words")
    if len(words) > MAX_WORDS:
        raise WordsRefused("too_many_words")
    return ", ".join(words.values())


def first_word(words: str) -> str:
    return words.split(",")[0].strip()


def is_for_wifi(bill_ref: str, words: str) -> bool:
    """Payers type the account any way: "wi fi", "WiFi" and "wifi-" are all WIFI."""
    typed = normalize_code(bill_ref)
    return bool(typed) and typed in {normalize_code(word) for word in words.split(",")}


def set_words(db: Connection, tenant_id: int, words: str) -> int:
    """The business's new words for Wi-Fi (from `read_words`). The payments nothing was spent from yet
    follow them: money paid with a word the owner adds becomes usable, and with a word taken away, not.
    Returns how many payments changed."""
    tenants.set_wifi_words(db, tenant_id, words)
    tills = {account.id for account in accounts.in_scope(db, of_tenant(tenant_id)) if account.kind == "till"}
    changed = 0
    for row in db.all(
        "SELECT id, mpesa_account_id, bill_ref, for_wifi FROM c2b_payments WHERE tenant_id = ? AND spent = 0",
        (tenant_id,),
    ):
        wifi = row["mpesa_account_id"] in tills or is_for_wifi(row["bill_ref"], words)
        if wifi != bool(row["for_wifi"]):
            changed += db.execute(
                "UPDATE c2b_payments SET for_wifi = ? WHERE id = ? AND spent = 0", (int(wifi), row["id"])
            )
    return changed


# -- the money coming in, and spent --


def _utc(trans_time: str) -> str | None:
    """TransTime is YYYYMMDDHHmmss in Kenya time; stored, like every time, as UTC text."""
    try:
        return to_text(datetime.strptime(trans_time, "%Y%m%d%H%M%S").replace(tzinfo=KENYA))
    except ValueError:
        return None


def record(db: Connection, clock: Clock, *, account_id: int, tenant_id: int, payment: C2BPayment) -> bool:
    """Stores a confirmed payment, Wi-Fi's or not by the words of the day; False if it was stored
    before: Daraja may say it twice, it counts once."""
    till = accounts.get(db, account_id).kind == "till"
    for_wifi = till or is_for_wifi(payment.bill_ref, tenants.get(db, tenant_id).wifi_words)
    return bool(
        db.execute(
            "INSERT INTO c2b_payments (tenant_id, mpesa_account_id, receipt, amount, bill_ref, msisdn,"
            " payer_name, transaction_time, received_at, for_wifi) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (receipt) DO NOTHING",
            (
                tenant_id,
                account_id,
                payment.trans_id,
                payment.amount,
                payment.bill_ref,
                payment.msisdn,
                payment.payer_name,
                _utc(payment.trans_time),
                to_text(clock.now()),
                int(for_wifi),
            ),
        )
    )


def by_receipt(db: Connection, tenant_id: int, receipt: str) -> PaidByHand | None:
    return db.record(
        PaidByHand,
        f"SELECT {COLUMNS} FROM c2b_payments WHERE tenant_id = ? AND receipt = ?",
        (tenant_id, "".join(receipt.split()).upper()),
    )


def of_account_between(
    db: Connection, tenant_id: int, account_id: int, start: datetime, end: datetime
) -> list[PaidByHand]:
    """The money sent by hand to one M-Pesa account of the business and heard of between `start` and
    `end`: what an M-Pesa statement of that account is checked against (mpesa_statement.py)."""
    return db.records(
        PaidByHand,
        f"SELECT {COLUMNS} FROM c2b_payments WHERE tenant_id = ? AND received_at >= ? AND received_at < ?"
        " AND mpesa_account_id = ? ORDER BY received_at, id",
        (tenant_id, to_text(start), to_text(end), account_id),
    )


def spend(db: Connection, clock: Clock, paid: list[PaidByHand], price: int, session_id: int) -> bool:
    """Takes `price` from the payments' credit for the access `session_id`, oldest payment first, so
    that what is left stays on the newest receipt. False if one of them was spent meanwhile (each takes
    its part by compare-and-swap): the caller rolls back."""
    now = to_text(clock.now())
    left = price
    for each in sorted(paid, key=lambda payment: (payment.received_at, payment.id)):
        part = min(each.credit, left)
        if part <= 0:
            continue
        if not db.execute(
            "UPDATE c2b_payments SET spent = spent + ?, claimed_at = coalesce(claimed_at, ?),"
            " access_session_id = ? WHERE id = ? AND for_wifi = 1 AND spent = ?",
            (part, now, session_id, each.id, each.spent),
        ):
            return False
        db.execute(
            "INSERT INTO c2b_spends (tenant_id, c2b_payment_id, access_session_id, amount, spent_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (each.tenant_id, each.id, session_id, part, now),
        )
        left -= part
    return left == 0


def credit_of_session(db: Connection, session_id: int) -> int:
    """What is left on the payments that bought this access: the customer's credit, for their page."""
    return db.value(
        "SELECT coalesce(sum(amount - spent), 0) FROM c2b_payments WHERE for_wifi = 1 AND id IN"
        " (SELECT c2b_payment_id FROM c2b_spends WHERE access_session_id = ?)",
        (session_id,),
    )


# -- what the owner reads --


def search(db: Connection, scope: Scope, found: PaymentFilter, limit: int | None) -> list[PaidByHand]:
    """Money sent from the M-Pesa menu matching the filter (it has no state), newest first (limit None =
    all)."""
    where, params = found.where(scope, FILTER_COLUMNS)
    page, page_params = (" LIMIT ?", [limit]) if limit is not None else ("", [])
    return db.records(
        PaidByHand,
        f"SELECT {COLUMNS} FROM c2b_payments WHERE {where} ORDER BY received_at DESC, id DESC{page}",
        (*params, *page_params),
    )


def credit_outstanding(db: Connection, scope: Scope) -> int:
    """What customers can still spend of the Wi-Fi money they paid by hand."""
    where, params = scope.where("tenant_id")
    return db.value(
        f"SELECT coalesce(sum(amount - spent), 0) FROM c2b_payments WHERE {where} AND for_wifi = 1", params
    )


def for_sessions(db: Connection, session_ids: Collection[int]) -> list[tuple[int, str, datetime]]:
    """(session id, receipt, when it was first spent on it) of the payments that bought these sessions."""
    rows = db.all(
        "SELECT s.access_session_id, p.receipt, min(s.spent_at) AS spent_at FROM c2b_spends s"
        " JOIN c2b_payments p ON p.id = s.c2b_payment_id"
        f" WHERE s.access_session_id IN ({marks(session_ids)}) GROUP BY s.access_session_id, p.receipt",
        list(session_ids),
    )
    return [(row["access_session_id"], row["receipt"], from_text(row["spent_at"])) for row in rows]


class Spend(Record, frozen=True):
    """A part of a payment by hand that bought time: Wi-Fi money, on the day it was spent."""

    spent_at: datetime
    tenant_id: int
    access_session_id: int
    amount: int
    receipt: str
    msisdn: str


def spends(db: Connection, scope: Scope, start: datetime, end: datetime) -> list[Spend]:
    """Money by hand spent on Wi-Fi at or after `start` and before `end`, oldest first (few rows: by hand
    is rare)."""
    where, params = scope.where("s.tenant_id")
    return db.records(
        Spend,
        "SELECT s.spent_at, s.tenant_id, s.access_session_id, s.amount, p.receipt, p.msisdn"
        " FROM c2b_spends s JOIN c2b_payments p ON p.id = s.c2b_payment_id"
        f" WHERE {where} AND s.spent_at >= ? AND s.spent_at < ? ORDER BY s.spent_at, s.id",
        (*params, to_text(start), to_text(end)),
    )


def count_to_account(db: Connection, account_id: int) -> int:
    """How many payments by hand reached this M-Pesa account."""
    return db.value("SELECT count(*) FROM c2b_payments WHERE mpesa_account_id = ?", (account_id,))
