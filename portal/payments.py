"""Payments: the lifecycle of one M-Pesa payment (created → pending → paid | failed | expired; reversed)."""

import json

from . import audit
from .clock import Clock, to_text
from .db import Transaction

REVERSAL_REASON_MAX = 300


async def reverse_payment(
    tx: Transaction, clock: Clock, *, payment_id: int, tenant_id: int, reason: str, actor: str, source_ip: str
) -> bool:
    """The owner gave the money back (in the M-Pesa portal): the payment stops counting as earned.

    Only a `paid` payment can be reversed; False when it is not (any more). The access it bought is
    left alone: taking it away is a separate, deliberate act."""
    reason = " ".join(reason.split())
    if not reason:
        raise ValueError("Say why the payment was reversed.")
    if len(reason) > REVERSAL_REASON_MAX:
        raise ValueError(f"Keep the reason under {REVERSAL_REASON_MAX} characters.")
    now = to_text(clock.now())
    cursor = await tx.execute(
        "UPDATE payments SET state = 'reversed', reversed_reason = ?, updated_at = ?"
        " WHERE id = ? AND tenant_id = ? AND state = 'paid'",
        (reason, now, payment_id, tenant_id),
    )
    if cursor.rowcount != 1:
        return False
    await tx.execute(
        "INSERT INTO payment_events (payment_id, at, kind, source, detail)"
        " VALUES (?, ?, 'reversed', 'admin', ?)",
        (payment_id, now, json.dumps({"reason": reason, "by": actor})),
    )
    ref = await tx.fetchval("SELECT ref FROM payments WHERE id = ?", (payment_id,))
    await audit.record(
        tx,
        clock,
        tenant_id=tenant_id,
        actor=actor,
        action="payment_reversed",
        target=f"payment:{ref}",
        detail={"reason": reason},
        source_ip=source_ip,
    )
    return True
