"""What a customer types on the reconnect page, turned into access for the device in front of us.

One field takes every kind of code, because customers can't be expected to know which is which: the
access code the success page gave them, the receipt in the SMS of an M-Pesa payment (one made through
the prompt, or by hand to the PayBill or Till: C2B), or a voucher bought over the counter. A code that
has not bought anything yet (a voucher, a C2B receipt) buys its package once. A code that has bought
time moves that time to this device, for as long as it lasts: that is how a customer whose phone
changed its MAC address, or who switches to a laptop, keeps what they paid for. So the codes are what
proves a customer's time is theirs, never the MAC address a request claims; the caller throttles
tries, so none of them can be guessed.
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
    bought = await tx.fetchone(
        "SELECT id, state FROM access_sessions WHERE tenant_id = ? AND id IN ("
        " SELECT id FROM access_sessions WHERE access_code_hash = ?"
        " UNION ALL SELECT access_session_id FROM payments WHERE receipt = ?"
        " UNION ALL SELECT access_session_id FROM vouchers WHERE code_hash = ?"
        " UNION ALL SELECT access_session_id FROM c2b_payments WHERE receipt = ?)",
        (tenant_id, fingerprint(code), code, fingerprint(code), code),
    )
    if bought is not None:
        if bought["state"] not in ("pending", "active"):
            raise CodeRefused("code_used_up")
        try:
            await sessions.move_session(tx, clock, bought["id"], **device)
        except sessions.SessionError:
            raise CodeRefused("device_has_time") from None
        return bought["id"]
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
        " UNION ALL SELECT 1 FROM c2b_payments WHERE tenant_id = ? AND receipt = ?"
        " UNION ALL SELECT 1 FROM payments WHERE tenant_id = ? AND receipt = ?",
        (tenant_id, fingerprint(code), tenant_id, code, tenant_id, code),
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
