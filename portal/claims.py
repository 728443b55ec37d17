"""What a customer types on the reconnect page, turned into access for the device in front of us.

One field takes three kinds of code, because customers can't be expected to know which is which: the
access code the success page gave them (its session moves to this device), a voucher bought over the
counter, or the receipt of an M-Pesa payment they made by hand to the PayBill or Till (C2B). Each is
good once; the caller throttles failures, so none of them can be guessed.
"""

from . import c2b, sessions, vouchers
from .clock import Clock
from .db import Transaction
from .vault import Vault, fingerprint


class CodeRefused(ValueError):
    """`reason` names what the customer is told (a key of web/words.py)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


async def use_code(
    tx: Transaction,
    clock: Clock,
    vault: Vault,
    *,
    tenant_id: int,
    router_id: int,
    mac: str,
    ip: str,
    typed: str,
) -> int:
    """The session the code gives this device; raises CodeRefused. Call within the transaction that must
    roll back with it (a claimed receipt that can't buy anything stays unclaimed)."""
    code = vouchers.normalize_code(typed)
    if not code:
        raise CodeRefused("code_empty")
    device = {"router_id": router_id, "mac": mac, "ip": ip}
    session = await tx.fetchone(
        "SELECT id, state FROM access_sessions WHERE tenant_id = ? AND access_code_hash = ?",
        (tenant_id, fingerprint(code)),
    )
    if session is not None:
        if session["state"] not in ("pending", "active"):
            raise CodeRefused("code_used_up")
        try:
            await sessions.move_session(tx, clock, session["id"], **device)
        except sessions.SessionError:
            raise CodeRefused("device_has_time") from None
        return session["id"]
    voucher = await vouchers.redeem(tx, clock, tenant_id, code)
    if voucher is not None:
        session_id = await _open(tx, clock, vault, tenant_id, voucher["package_id"], device)
        await tx.execute(
            "UPDATE vouchers SET access_session_id = ? WHERE id = ?", (session_id, voucher["id"])
        )
        return session_id
    received = await c2b.claim_c2b(tx, clock, tenant_id=tenant_id, receipt=code)
    if received is not None:
        package_id = await _package_for_amount(tx, tenant_id, received.amount)
        if package_id is None:
            raise CodeRefused("amount_too_small")
        session_id = await _open(tx, clock, vault, tenant_id, package_id, device)
        await tx.execute(
            "UPDATE c2b_payments SET access_session_id = ? WHERE id = ?", (session_id, received.id)
        )
        return session_id
    if await tx.fetchval(
        "SELECT 1 FROM vouchers WHERE tenant_id = ? AND code_hash = ?"
        " UNION ALL SELECT 1 FROM c2b_payments WHERE tenant_id = ? AND receipt = ?",
        (tenant_id, fingerprint(code), tenant_id, code),
    ):
        raise CodeRefused("code_used_up")
    raise CodeRefused("code_unknown")


async def _package_for_amount(tx: Transaction, tenant_id: int, amount: int) -> int | None:
    """The dearest package the money covers (a customer paying by hand pays a package's price)."""
    return await tx.fetchval(
        "SELECT id FROM packages WHERE tenant_id = ? AND price <= ? ORDER BY hidden, price DESC, id LIMIT 1",
        (tenant_id, amount),
    )


async def _open(
    tx: Transaction, clock: Clock, vault: Vault, tenant_id: int, package_id: int, device: dict
) -> int:
    seconds = await tx.fetchval("SELECT duration_seconds FROM packages WHERE id = ?", (package_id,))
    return await sessions.open_session(
        tx, clock, vault, tenant_id=tenant_id, package_id=package_id, seconds=seconds, **device
    )
