"""The c2b_payments table: money sent by hand to a PayBill or Till, recorded as Daraja confirms it,
claimable once.

Daraja posts each payment to the URLs registered for the account (reference/daraja.md §7). The
payer's number comes hashed or masked, so a payment is found by its receipt code (TransID), which the
payer has in their M-Pesa message; `claim` lets exactly one claim have it.
"""

import logging
from collections.abc import Collection
from datetime import datetime

from ..clock import Clock, to_text
from ..mpesa import accounts
from ..mpesa.callbacks import C2BPayment
from ..mpesa.daraja import KENYA, DarajaClient, DarajaError
from ..store import Connection, Record, Store, columns, marks
from ..tenancy.scope import Scope
from ..vault import Vault
from .payments import PaymentFilter

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
    claimed_at: datetime | None  # when a customer typed its receipt for Wi-Fi
    access_session_id: int | None


COLUMNS = columns(PaidByHand)


# -- telling Daraja where to post --


def urls(public_url: str, c2b_token: str) -> tuple[str, str]:
    """(confirmation, validation) URLs for an account; the token is hex, so free of words Daraja refuses."""
    base = f"{public_url}/hooks/c2b/{c2b_token}"
    return f"{base}/confirmation", f"{base}/validation"


async def register_urls(
    store: Store, clock: Clock, vault: Vault, daraja: DarajaClient, public_url: str, account_id: int
) -> tuple[str, str]:
    """Tells Daraja where to post the account's C2B payments; production allows this once per shortcode."""
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
    now and again, so a new account gets them without anyone asking). Needs a public URL."""
    if not public_url:
        return
    for account_id in await store.read(accounts.without_c2b_urls):
        try:
            await register_urls(store, clock, vault, daraja, public_url, account_id)
        except DarajaError as error:
            log.warning(
                "C2B URLs not registered", extra={"fields": {"account": account_id, "error": str(error)}}
            )


# -- the money coming in, and claimed --


def _utc(trans_time: str) -> str | None:
    """TransTime is YYYYMMDDHHmmss in Kenya time; stored, like every time, as UTC text."""
    try:
        return to_text(datetime.strptime(trans_time, "%Y%m%d%H%M%S").replace(tzinfo=KENYA))
    except ValueError:
        return None


def record(db: Connection, clock: Clock, *, account_id: int, tenant_id: int, payment: C2BPayment) -> bool:
    """Stores a confirmed payment; False if it was stored before: Daraja may say it twice, it counts once."""
    return bool(
        db.execute(
            "INSERT INTO c2b_payments (tenant_id, mpesa_account_id, receipt, amount, bill_ref, msisdn,"
            " payer_name, transaction_time, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
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
            ),
        )
    )


def claim(db: Connection, clock: Clock, *, tenant_id: int, receipt: str) -> PaidByHand | None:
    """Marks the payment with this receipt code claimed and returns it; None if there is none for this
    business or it was claimed before. The caller links what it grants (`link_session`) in `db`."""
    receipt = "".join(receipt.split()).upper()
    claimed = db.execute(
        "UPDATE c2b_payments SET claimed_at = ? WHERE tenant_id = ? AND receipt = ? AND claimed_at IS NULL",
        (to_text(clock.now()), tenant_id, receipt),
    )
    return by_receipt(db, tenant_id, receipt) if claimed else None


def by_receipt(db: Connection, tenant_id: int, receipt: str) -> PaidByHand | None:
    return db.record(
        PaidByHand,
        f"SELECT {COLUMNS} FROM c2b_payments WHERE tenant_id = ? AND receipt = ?",
        (tenant_id, receipt),
    )


def link_session(db: Connection, c2b_id: int, session_id: int) -> None:
    db.execute("UPDATE c2b_payments SET access_session_id = ? WHERE id = ?", (session_id, c2b_id))


# -- what the owner reads --


def search(db: Connection, scope: Scope, found: PaymentFilter, limit: int) -> list[PaidByHand]:
    """Money sent from the M-Pesa menu matching the filter (it has no state), newest first."""
    where, params = found.where(scope, FILTER_COLUMNS)
    return db.records(
        PaidByHand,
        f"SELECT {COLUMNS} FROM c2b_payments WHERE {where} ORDER BY received_at DESC, id DESC LIMIT ?",
        (*params, limit),
    )


def for_sessions(db: Connection, session_ids: Collection[int]) -> list[PaidByHand]:
    return db.records(
        PaidByHand,
        f"SELECT {COLUMNS} FROM c2b_payments WHERE access_session_id IN ({marks(session_ids)})",
        list(session_ids),
    )


def claimed_sums(db: Connection, scope: Scope, bounds: list[datetime]) -> list[tuple]:
    """Money claimed for Wi-Fi between consecutive `bounds`, as (range number, session id, amount): a
    claim counts on the day it was claimed, for what its session bought (few rows: by hand is rare)."""
    where, params = scope.where("tenant_id")
    ranges = " ".join(f"WHEN claimed_at < ? THEN {n - 1}" for n in range(1, len(bounds)))
    rows = db.all(
        f"SELECT CASE {ranges} END AS n, access_session_id, amount FROM c2b_payments"
        f" WHERE {where} AND claimed_at >= ? AND claimed_at < ? AND access_session_id IS NOT NULL",
        (*[to_text(bound) for bound in bounds[1:]], *params, to_text(bounds[0]), to_text(bounds[-1])),
    )
    return [(row["n"], row["access_session_id"], row["amount"]) for row in rows]
