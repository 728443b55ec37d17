"""What gave each session its time: M-Pesa payments, vouchers, money paid by hand (C2B), and time an
admin gave by hand (the audit log says who), first first."""

from dataclasses import dataclass
from datetime import datetime

from ..store import Connection
from ..tenancy import audit
from . import c2b, payments, vouchers


@dataclass(frozen=True)
class Purchase:
    kind: str  # payment | voucher | by hand | given
    id: int | None  # the payment's id (the others are found by `name`)
    name: str  # the payment's ref, the voucher's batch, the receipt of money paid by hand, the admin's email
    at: datetime
    phone: str | None = None  # who paid, for a payment
    reversed: bool = False  # a payment the owner has given back since


def paid_by(db: Connection, session_ids: list[int]) -> dict[int, list[Purchase]]:
    """Each table is read from its own index on access_session_id, the audit log from its index on the
    target."""
    found: list[tuple[int, Purchase]] = []
    for payment in payments.for_sessions(db, session_ids):
        bought = Purchase(
            "payment",
            payment.id,
            payment.ref,
            payment.paid_at,
            phone=payment.phone,
            reversed=payment.state == "reversed",
        )
        found.append((payment.access_session_id, bought))
    for session_id, batch, used_at in vouchers.for_sessions(db, session_ids):
        found.append((session_id, Purchase("voucher", None, batch, used_at)))
    for session_id, receipt, spent_at in c2b.for_sessions(db, session_ids):
        found.append((session_id, Purchase("by hand", None, receipt, spent_at)))
    targets = [f"session:{id}" for id in session_ids]
    for target, actor, at in audit.done_to(db, targets, audit.GOODWILL_ACTIONS):
        found.append((int(target.removeprefix("session:")), Purchase("given", None, actor, at)))
    by_session: dict[int, list[Purchase]] = {}
    for session_id, purchase in sorted(found, key=lambda item: (item[1].at, item[1].name)):
        by_session.setdefault(session_id, []).append(purchase)
    return by_session
