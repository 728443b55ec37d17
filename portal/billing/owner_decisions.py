"""What the owner decides about a payment, each audited: that its money was given back (a reversal), or,
for a payment whose outcome is unknown, that it was paid (checked in the M-Pesa app or on the
statement) or was not.

"Confirm paid" opens the access the payment bought, as a callback would (confirmation.mark_paid); the
device goes online through the router outbox. The receipt the owner read there is optional, but kept.
"""

from ..clock import Clock
from ..mpesa import result_codes
from ..store import Connection
from ..tenancy import audit
from ..tenancy.scope import Scope
from ..vault import Vault
from . import c2b, earnings, payments
from .confirmation import mark_paid
from .receipt_checks import receipt_code

REVERSAL_REASON_MAX = 300


class DecisionRefused(ValueError):
    """`reason`: no_reason | reason_too_long | not_a_receipt | receipt_used."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def reverse(
    db: Connection, clock: Clock, *, payment_id: int, tenant_id: int, reason: str, actor: str, source_ip: str
) -> bool:
    """The owner gave the money back (in the M-Pesa portal): the payment stops counting as earned.

    Only a `paid` payment can be reversed; False when it is not (any more). The access it bought is
    left alone: taking it away is a separate, deliberate act."""
    reason = " ".join(reason.split())
    if not reason:
        raise DecisionRefused("no_reason")
    if len(reason) > REVERSAL_REASON_MAX:
        raise DecisionRefused("reason_too_long")
    payment = payments.get(db, payment_id, Scope((tenant_id,)))
    if payment is None or not payments.transition(
        db, clock, payment_id, ("paid",), "reversed", reversed_reason=reason
    ):
        return False
    earnings.uncount_reversed(db, payment)
    payments.record(db, clock, payment_id, "reversed", "admin", reason=reason, by=actor)
    _audit(db, clock, payment, "payment_reversed", actor, source_ip, reason=reason)
    return True


def confirm_paid(
    db: Connection,
    clock: Clock,
    vault: Vault,
    *,
    payment_id: int,
    tenant_id: int,
    receipt: str,
    actor: str,
    source_ip: str,
) -> bool:
    """The owner found this unknown payment's money on M-Pesa: it is paid, and its access opens. False if
    it is not unknown (any more). Raises DecisionRefused for a receipt that can't be one, or is another
    payment's."""
    code = receipt_code(receipt) if receipt.strip() else None
    if receipt.strip() and code is None:
        raise DecisionRefused("not_a_receipt")
    payment = payments.get(db, payment_id, Scope((tenant_id,)))
    if payment is None or payment.state != "unknown":
        return False
    if code and (payments.receipt_of_another(db, code, payment_id) or c2b.by_receipt(db, tenant_id, code)):
        raise DecisionRefused("receipt_used")
    if not mark_paid(db, clock, vault, payment_id, receipt=code, desc="confirmed by the owner"):
        return False
    payments.record(db, clock, payment_id, "owner", actor, effect="paid", receipt=code)
    _audit(db, clock, payment, "payment_confirmed_paid", actor, source_ip, receipt=code)
    return True


def not_paid(
    db: Connection, clock: Clock, *, payment_id: int, tenant_id: int, actor: str, source_ip: str
) -> bool:
    """The owner found no such money on M-Pesa: the unknown payment failed. False if it is not unknown
    (any more)."""
    payment = payments.get(db, payment_id, Scope((tenant_id,)))
    if payment is None or payment.state != "unknown":
        return False
    desc = "the owner found no such payment on M-Pesa"
    if not payments.mark_failed(db, clock, payment_id, code=result_codes.NOT_PAID, desc=desc):
        return False
    payments.record(db, clock, payment_id, "owner", actor, effect="failed")
    _audit(db, clock, payment, "payment_marked_not_paid", actor, source_ip)
    return True


def _audit(
    db: Connection, clock: Clock, payment: payments.Payment, action: str, actor: str, source_ip: str, **detail
) -> None:
    audit.record(
        db,
        clock,
        tenant_id=payment.tenant_id,
        actor=actor,
        action=action,
        target=f"payment:{payment.ref}",
        detail=detail or None,
        source_ip=source_ip,
    )
