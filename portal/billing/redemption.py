"""What a customer types on "Enter your code", turned into access for the device in front of us.

One field takes every kind of code, because customers can't be expected to know which is which: the
access code the success page gave them, the receipt in the SMS of an M-Pesa payment (one made through
the prompt, or by hand to the PayBill or Till: C2B), or a voucher bought over the counter. A code that
has not bought anything yet (a voucher, a C2B receipt) buys its package once. A code that has bought
time moves that time to this device, for as long as it lasts: that is how a customer whose phone
changed its MAC address, or who switches to a laptop, keeps what they paid for. So the codes are what
proves a customer's time is theirs, never the MAC address a request claims; the caller throttles
tries, so none of them can be guessed.
"""

from ..access import sessions
from ..catalog import packages
from ..clock import Clock
from ..store import Connection
from ..vault import Vault
from . import c2b, payments, vouchers


class CodeRefused(ValueError):
    """`reason`: code_empty | code_unknown | code_used_up | device_has_time | amount_too_small."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def redeem_code(
    db: Connection,
    clock: Clock,
    vault: Vault,
    *,
    tenant_id: int,
    router_id: int,
    mac: str,
    ip: str,
    typed: str,
) -> int:
    """The session the code gives this device; raises CodeRefused, which rolls back whatever the code
    had started (a claimed receipt that can't buy anything stays unclaimed)."""
    code = vouchers.normalize_code(typed)
    if not code:
        raise CodeRefused("code_empty")
    device = {"router_id": router_id, "mac": mac, "ip": ip}
    bought, known = _what_it_bought(db, tenant_id, code)
    if bought is not None:
        if not bought.live:
            raise CodeRefused("code_used_up")
        try:
            sessions.move_session(db, clock, bought.id, **device)
        except sessions.SessionError:
            raise CodeRefused("device_has_time") from None
        return bought.id
    voucher = vouchers.redeem(db, clock, tenant_id, code)
    if voucher is not None:
        session_id = _open(db, clock, vault, tenant_id, packages.get(db, voucher.package_id), device)
        vouchers.link_session(db, voucher.id, session_id)
        return session_id
    received = c2b.claim(db, clock, tenant_id=tenant_id, receipt=code)
    if received is not None:
        package = packages.dearest_within(db, tenant_id, received.amount)
        if package is None:
            raise CodeRefused("amount_too_small")
        session_id = _open(db, clock, vault, tenant_id, package, device)
        c2b.link_session(db, received.id, session_id)
        return session_id
    raise CodeRefused("code_used_up" if known else "code_unknown")


def _what_it_bought(db: Connection, tenant_id: int, code: str) -> tuple[sessions.Session | None, bool]:
    """The session this code bought, if any, and whether the code is one of the business's at all."""
    candidates = [sessions.by_code(db, code)]
    payment = payments.by_receipt(db, tenant_id, code)
    is_voucher, voucher_session = vouchers.session_of_code(db, tenant_id, code)
    by_hand = c2b.by_receipt(db, tenant_id, code)
    for session_id in (
        payment.access_session_id if payment else None,
        voucher_session,
        by_hand.access_session_id if by_hand else None,
    ):
        if session_id is not None:
            candidates.append(sessions.get(db, session_id))
    bought = next((session for session in candidates if session and session.tenant_id == tenant_id), None)
    return bought, bool(payment or is_voucher or by_hand)


def _open(
    db: Connection, clock: Clock, vault: Vault, tenant_id: int, package: packages.Package, device: dict
) -> int:
    return sessions.open_session(
        db,
        clock,
        vault,
        tenant_id=tenant_id,
        package_id=package.id,
        seconds=package.duration_seconds,
        **device,
    )
