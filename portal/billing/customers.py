"""Customers, as the owner knows them: a phone number that paid, its devices, payments and sessions.

There is no customers table: a customer is a number in the business's payments, found through the
index on business and phone, so a page about one costs what that number's own history costs, however
many payments the business has.
"""

from dataclasses import dataclass
from datetime import datetime

from ..access import sessions
from ..access.sessions import Session
from ..store import Connection
from ..tenancy.scope import Scope
from . import payments
from .payments import Payment, PhoneTotals

LISTED = 50  # the customers seen last, on the list; a search finds the others
LOOKED_THROUGH = 2000  # the newest payments whose numbers make that list
SHOWN = 50  # a customer's newest payments and sessions, on their page


@dataclass(frozen=True)
class Device:
    router_id: int
    mac: str
    last_seen: datetime
    online: bool  # a live session is on it now


@dataclass(frozen=True)
class History:
    totals: PhoneTotals
    payments: list[Payment]  # newest first, at most SHOWN
    sessions: list[Session]  # the last bought first, at most SHOWN
    devices: list[Device]  # the last seen first
    last_seen: datetime  # a payment started, or access began or ended, whichever came last
    online: bool


def seen_last(db: Connection, scope: Scope) -> list[PhoneTotals]:
    """The customers who last started a payment, the latest first."""
    phones = payments.phones_seen_last(db, scope, LISTED, LOOKED_THROUGH)
    found = {totals.phone: totals for totals in payments.totals_of_phones(db, scope, phones)}
    return [found[phone] for phone in phones]


def phone_of_payment(db: Connection, scope: Scope, payment_id: int) -> str | None:
    payment = payments.get(db, payment_id, scope)
    return payment.phone if payment else None


def history(db: Connection, scope: Scope, phone: str) -> History | None:
    """Everything the business knows of one number; None if it never paid the business."""
    [totals] = payments.totals_of_phones(db, scope, [phone]) or [None]
    if totals is None:
        return None
    bought = sessions.by_ids(db, payments.sessions_of_phone(db, scope, phone, SHOWN))
    found = sorted(bought.values(), key=lambda session: session.created_at, reverse=True)
    seen: dict[tuple[int, str], datetime] = {}
    for router_id, mac, at in payments.devices_of_phone(db, scope, phone):
        seen[router_id, mac] = at
    # Access may have moved to another device (a new phone, a new random MAC): that one is theirs too.
    for session in found:
        moments = [session.created_at, session.started_at, session.ended_at]
        latest = max(moment for moment in moments if moment is not None)
        seen[session.router_id, session.mac] = max(latest, seen.get((session.router_id, session.mac), latest))
    live = {(session.router_id, session.mac) for session in found if session.live}
    devices = [
        Device(router_id, mac, at, (router_id, mac) in live)
        for (router_id, mac), at in sorted(seen.items(), key=lambda item: item[1], reverse=True)
    ]
    return History(
        totals=totals,
        payments=payments.of_phone(db, scope, phone, SHOWN),
        sessions=found,
        devices=devices,
        last_seen=max([totals.last_at, *(device.last_seen for device in devices)]),
        online=bool(live),
    )
