"""Money sent by hand to a PayBill or Till (C2B): recorded as Daraja confirms it, claimable once.

Daraja posts each payment to the URLs registered for the account (reference/daraja.md §7). The
payer's number comes hashed or masked, so a payment is found by its receipt code (TransID), which the
payer has in their M-Pesa message; `claim_c2b` lets exactly one claim have it.
"""

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from .clock import Clock, to_text
from .db import Database, Transaction
from .mpesa.accounts import load_account
from .mpesa.callbacks import C2BPayment
from .mpesa.daraja import KENYA, DarajaError

if TYPE_CHECKING:
    from .app import Services


log = logging.getLogger(__name__)


class C2BError(ValueError):
    pass


@dataclass(frozen=True)
class Received:
    id: int
    tenant_id: int
    mpesa_account_id: int
    receipt: str
    amount: int
    bill_ref: str
    received_at: str


def urls(public_url: str, c2b_token: str) -> tuple[str, str]:
    """(confirmation, validation) URLs for an account; the token is hex, so free of words Daraja refuses."""
    base = f"{public_url}/hooks/c2b/{c2b_token}"
    return f"{base}/confirmation", f"{base}/validation"


async def register_urls(services: "Services", account_id: int) -> tuple[str, str]:
    """Tells Daraja where to post the account's C2B payments; production allows this once per shortcode."""
    public_url = services.settings.server.public_url
    if not public_url:
        raise C2BError("C2B needs server.public_url: Daraja must be able to reach this box")
    token = await services.db.fetchval("SELECT c2b_token FROM mpesa_accounts WHERE id = ?", (account_id,))
    account = await load_account(services.db, services.vault, account_id)
    confirmation, validation = urls(public_url, token)
    await services.daraja.register_c2b_urls(account, confirmation_url=confirmation, validation_url=validation)
    async with services.db.transaction() as tx:
        await tx.execute(
            "UPDATE mpesa_accounts SET c2b_registered_at = ? WHERE id = ?",
            (to_text(services.clock.now()), account_id),
        )
    return confirmation, validation


async def register_due(services: "Services") -> None:
    """Registers the C2B URLs of every account Daraja has not taken them for yet (run at start and
    then now and again, so a new account gets them without anyone asking). Needs a public URL."""
    if not services.settings.server.public_url:
        return
    for row in await services.db.fetchall("SELECT id FROM mpesa_accounts WHERE c2b_registered_at IS NULL"):
        try:
            await register_urls(services, row["id"])
        except DarajaError as error:
            log.warning(
                "C2B URLs not registered", extra={"fields": {"account": row["id"], "error": str(error)}}
            )


def _utc(trans_time: str) -> str | None:
    """TransTime is YYYYMMDDHHmmss in Kenya time; stored, like every time, as UTC text."""
    try:
        return to_text(datetime.strptime(trans_time, "%Y%m%d%H%M%S").replace(tzinfo=KENYA))
    except ValueError:
        return None


async def account_for_token(db: Database, token: str) -> tuple[int, int] | None:
    """(account id, tenant id) of the account whose C2B URLs carry this token."""
    row = await db.fetchone("SELECT id, tenant_id FROM mpesa_accounts WHERE c2b_token = ?", (token,))
    return (row["id"], row["tenant_id"]) if row else None


async def record_c2b(
    tx: Transaction, clock: Clock, *, account_id: int, tenant_id: int, payment: C2BPayment
) -> bool:
    """Stores a confirmed payment; False if it was stored before: Daraja may say it twice, it counts once."""
    cursor = await tx.execute(
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
    return cursor.rowcount == 1


async def claim_c2b(tx: Transaction, clock: Clock, *, tenant_id: int, receipt: str) -> Received | None:
    """Marks the payment with this receipt code claimed and returns it; None if there is none for this
    business or it was claimed before. The caller links what it grants (access_session_id) in `tx`."""
    receipt = "".join(receipt.split()).upper()
    cursor = await tx.execute(
        "UPDATE c2b_payments SET claimed_at = ? WHERE tenant_id = ? AND receipt = ? AND claimed_at IS NULL",
        (to_text(clock.now()), tenant_id, receipt),
    )
    if cursor.rowcount != 1:
        return None
    row = await tx.fetchone(
        "SELECT id, tenant_id, mpesa_account_id, receipt, amount, bill_ref, received_at FROM c2b_payments"
        " WHERE receipt = ?",
        (receipt,),
    )
    return Received(**dict(row))
