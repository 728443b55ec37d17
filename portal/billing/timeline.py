"""A payment's whole story for the owner: what arrived and what was decided, then the access it bought
and every try at letting the device in, in time order. Each moment is one line in plain words; what
arrived as it arrived (Daraja's fields, a router's error) is kept beside it as `detail`, for whoever
needs to look closer."""

import json
from dataclasses import dataclass
from datetime import datetime

from ..access import outbox, routers, sessions
from ..catalog import packages
from ..i18n.formats import money, phone
from ..mpesa import result_codes
from ..store import Connection
from . import payments

# What each router task asks of the router, to finish "The router was asked to …".
TASK_WORDS = {
    "grant": "let the device in",
    "extend": "give the device its new time",
    "revoke": "take the device off",
    "update_plans": "update its packages",
}


@dataclass(frozen=True)
class Moment:
    at: datetime
    title: str
    detail: str = ""  # the raw facts (JSON, an error as the router said it), folded away on the page
    bad: bool = False


def timeline(db: Connection, payment: payments.Payment) -> list[Moment]:
    bought = payment.api_charge or packages.get(db, payment.package_id).name
    events = payments.timeline(db, payment.id)
    moments = [_moment(event, payment, bought) for event in events]
    if not any(event.kind == "created" for event in events):  # payments older than their "created" event
        moments.append(Moment(payment.created_at, _started(payment, bought)))
    if payment.access_session_id:
        moments.extend(_session_moments(db, sessions.get(db, payment.access_session_id)))
    return sorted(moments, key=lambda moment: moment.at)


def _started(payment: payments.Payment, bought: str) -> str:
    return f"Payment started: {money(payment.amount)} for {bought}"


def _moment(event: payments.Event, payment: payments.Payment, bought: str) -> Moment:
    title, bad = _said(event, payment, bought)
    return Moment(event.at, title, _compact(event.detail), bad)


def _said(event: payments.Event, payment: payments.Payment, bought: str) -> tuple[str, bool]:
    """The event as one line the owner reads, and whether it went wrong."""
    detail, kind = event.detail, event.kind
    effect = str(detail.get("effect", ""))
    meaning = result_codes.describe(detail["result_code"]).meaning if detail.get("result_code") else ""
    if kind == "created":
        return _started(payment, bought), False
    if kind == "push":
        if effect == "failed":
            return f"M-Pesa prompt not sent: {result_codes.describe(detail.get('code', '')).meaning}", True
        if effect == "unknown":
            return f"M-Pesa prompt sent, but its answer was lost ({detail.get('error', '')})", True
        if effect == "pending":
            return "M-Pesa prompt sent to the customer's phone", False
        return "M-Pesa prompt accepted after the payment was settled", False
    if kind == "callback":
        if effect == "paid":
            return f"M-Pesa confirmed the payment: receipt {detail.get('receipt')}", False
        if effect == "failed":
            return f"M-Pesa said it failed: {meaning}", True
        if effect == "receipt stored":
            return f"M-Pesa sent the receipt: {detail.get('receipt')}", False
        if effect.startswith(("suspicious", "refused")):
            return f"An answer claiming to be M-Pesa's was refused: {effect.partition(': ')[2]}", True
        return f"M-Pesa's answer came again; nothing changed ({meaning or effect})", False
    if kind == "query":
        return _query(effect, meaning, detail)
    if kind == "receipt":
        return _receipt(event, effect)
    if kind == "owner":
        if effect == "paid":
            receipt = f", receipt {detail['receipt']}" if detail.get("receipt") else ""
            return f"{event.source} confirmed it paid{receipt}", False
        return f"{event.source} marked it not paid", True
    by = detail.get("by", event.source)
    simple = {
        "unknown": ("No answer to the prompt came: whether it was paid is unknown", True),
        "expired": ("Given up: M-Pesa never gave a final answer", True),
        "cancelled": ("The customer cancelled on the waiting page", False),
        "reversed": (f"Marked reversed by {by}: {detail.get('reason', '')}", True),
        "phone_differs": (f"Paid from another number: {phone(str(detail.get('phone', '')))}", True),
        "error": (f"Something went wrong: {detail.get('error', '')}", True),
    }
    return simple.get(kind, (kind.replace("_", " ").capitalize(), False))


def _query(effect: str, meaning: str, detail: dict) -> tuple[str, bool]:
    if effect == "error":
        return f"Could not ask M-Pesa: {detail.get('error', '')}", True
    said = {
        "pending": ("still waiting for the customer's PIN", False),
        "paid": ("paid", False),
        "failed": (meaning, True),
        "expired": ("no final answer, so the payment timed out", True),
        "not paid": ("not paid", True),
    }
    words, bad = said.get(effect, (f"nothing changed ({meaning or effect})", False))
    return f"Asked M-Pesa: {words}", bad


def _receipt(event: payments.Event, effect: str) -> tuple[str, bool]:
    detail = event.detail
    if "typed" in detail:
        return f"The customer typed receipt {detail['typed']}", False
    if "asked_mpesa" in detail:
        return f"{event.source} asked M-Pesa about receipt {detail['asked_mpesa']}", False
    if effect == "paid":
        return f"M-Pesa confirmed receipt {detail.get('receipt')}: paid", False
    if effect == "timed out":
        return "M-Pesa did not answer about the receipt", True
    return f"M-Pesa about receipt {detail.get('receipt')}: {detail.get('result_desc') or effect}", True


def _session_moments(db: Connection, session: sessions.Session) -> list[Moment]:
    router = routers.names(db, [session.router_id]).get(session.router_id, "")
    moments = [Moment(session.created_at, f"Access opened for device {session.mac} on {router}")]
    if session.started_at:
        moments.append(Moment(session.started_at, f"Online: {router} let the device in"))
    if session.ended_at:
        ended = {"expired": "Time up: access ended", "revoked": "Access ended by hand"}
        moments.append(Moment(session.ended_at, ended[session.state], bad=session.state == "revoked"))
    for task, attempts in outbox.history(db, session.id):
        words = TASK_WORDS.get(task.kind, task.kind)
        moments.append(Moment(task.created_at, f"The router was asked to {words}"))
        for attempt in attempts:
            if attempt.ok:
                moments.append(Moment(attempt.at, f"The router did it: {words}"))
            else:
                title = f"The router could not {words} yet; portal tries again"
                moments.append(Moment(attempt.at, title, attempt.error or "", bad=True))
    return moments


def _compact(detail: dict) -> str:
    return "" if not detail else json.dumps(detail, ensure_ascii=False, indent=1)[:2000]
