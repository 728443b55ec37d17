"""What a customer types on "Enter your code", turned into access for the device in front of us.

One field takes every kind of code, because customers can't be expected to know which is which: the
access code the success page gave them, the receipt in the SMS of an M-Pesa payment (one made through
the prompt, or by hand to the PayBill or Till: C2B), or a voucher bought over the counter. A voucher
buys its package once. A receipt paid by hand for Wi-Fi buys the dearest package its credit covers and
keeps the rest as credit; several receipts typed together add up, so a customer who paid too little
pays the difference and types both. A code that has bought time moves that time to this device, for
as long as it lasts: that is how a customer whose phone changed its MAC address, or who switches to a
laptop, keeps what they paid for; once that time is over, a receipt's credit buys more. So the codes
are what proves a customer's time is theirs, never the MAC address a request claims; the caller
throttles tries, so none of them can be guessed.
"""

from ..access import sessions
from ..catalog import packages
from ..clock import Clock
from ..store import Connection
from ..vault import Vault
from . import c2b, payments, vouchers


class CodeRefused(ValueError):
    """`reason`: code_empty | code_unknown | code_used_up | device_has_time | not_for_wifi |
    amount_too_small | no_packages; `values` fill in its words (amount_too_small: the credit, the
    cheapest price and how much more it needs)."""

    def __init__(self, reason: str, **values: int):
        super().__init__(reason)
        self.reason = reason
        self.values = values


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
    had started (a receipt whose credit can't buy anything keeps all of it)."""
    code = vouchers.normalize_code(typed)
    if not code:
        raise CodeRefused("code_empty")
    device = {"router_id": router_id, "mac": mac, "ip": ip}
    by_hand = c2b.by_receipt(db, tenant_id, code)
    bought, known = _what_it_bought(db, tenant_id, code, by_hand)
    if bought is not None and (bought.live or not (by_hand and by_hand.credit)):
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
    if by_hand is not None:
        return _spend(db, clock, vault, tenant_id, [by_hand], device)
    parts = dict.fromkeys(vouchers.normalize_code(part) for part in typed.replace(",", " ").split())
    if list(parts) != [code] and not known:  # receipts typed together, to add up their credit
        together = [c2b.by_receipt(db, tenant_id, part) for part in parts]
        if None not in together:
            return _spend(db, clock, vault, tenant_id, together, device)
    raise CodeRefused("code_used_up" if known else "code_unknown")


def _what_it_bought(
    db: Connection, tenant_id: int, code: str, by_hand: c2b.PaidByHand | None
) -> tuple[sessions.Session | None, bool]:
    """The session this code bought, if any, and whether the code is one of the business's at all."""
    candidates = [sessions.by_code(db, code)]
    payment = payments.by_receipt(db, tenant_id, code)
    is_voucher, voucher_session = vouchers.session_of_code(db, tenant_id, code)
    for session_id in (
        payment.access_session_id if payment else None,
        voucher_session,
        by_hand.access_session_id if by_hand else None,
    ):
        if session_id is not None:
            candidates.append(sessions.get(db, session_id))
    bought = next((session for session in candidates if session and session.tenant_id == tenant_id), None)
    return bought, bool(payment or is_voucher or by_hand)


def _spend(
    db: Connection, clock: Clock, vault: Vault, tenant_id: int, paid: list[c2b.PaidByHand], device: dict
) -> int:
    """The dearest package the receipts' credit covers, bought for the device; what is left stays."""
    if not all(each.for_wifi for each in paid):
        raise CodeRefused("not_for_wifi")
    credit = sum(each.credit for each in paid)
    if not credit:
        raise CodeRefused("code_used_up")
    package = packages.dearest_within(db, tenant_id, credit)
    if package is None:
        cheapest = packages.cheapest(db, tenant_id)
        if cheapest is None:
            raise CodeRefused("no_packages")
        more = cheapest.price - credit
        raise CodeRefused("amount_too_small", credit=credit, price=cheapest.price, more=more)
    session_id = _open(db, clock, vault, tenant_id, package, device)
    if not c2b.spend(db, clock, paid, package.price, session_id):
        raise CodeRefused("code_used_up")  # spent meanwhile: the access just opened is rolled back
    return session_id


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
