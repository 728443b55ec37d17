"""A payment's whole story for the owner: what arrived and what was decided, then the access it bought
and every try at letting the device in, in time order."""

import json
from dataclasses import dataclass
from datetime import datetime

from ..access import outbox, routers, sessions
from ..catalog import packages
from ..store import Connection
from . import payments


@dataclass(frozen=True)
class Moment:
    at: datetime
    title: str
    detail: str = ""
    bad: bool = False


def timeline(db: Connection, payment: payments.Payment) -> list[Moment]:
    moments = [
        Moment(
            payment.created_at,
            "Payment created",
            f"{payment.amount} KES, {payment.api_charge or packages.get(db, payment.package_id).name}",
        )
    ]
    for event in payments.timeline(db, payment.id):
        moments.append(
            Moment(
                event.at,
                event.kind.replace("_", " ").capitalize() + (f" ({event.source})" if event.source else ""),
                _compact(event.detail),
                bad=event.kind in ("failed", "expired", "reversed", "error", "unknown"),
            )
        )
    if payment.paid_at:
        moments.append(Moment(payment.paid_at, "Paid", f"M-Pesa receipt {payment.receipt or '(none)'}"))
    if payment.access_session_id:
        moments.extend(_session_moments(db, sessions.get(db, payment.access_session_id)))
    return sorted(moments, key=lambda moment: moment.at)


def _session_moments(db: Connection, session: sessions.Session) -> list[Moment]:
    router = routers.names(db, [session.router_id]).get(session.router_id, "")
    moments = [Moment(session.created_at, "Access session created", f"{session.mac} on {router}")]
    if session.started_at:
        moments.append(Moment(session.started_at, "Online", f"router {router} confirmed access"))
    if session.ended_at:
        moments.append(Moment(session.ended_at, f"Session {session.state}", bad=session.state == "revoked"))
    for task, attempts in outbox.history(db, session.id):
        moments.append(Moment(task.created_at, f"Router task queued: {task.kind}"))
        for attempt in attempts:
            moments.append(
                Moment(
                    attempt.at,
                    f"Router task {task.kind}: {'done' if attempt.ok else 'failed'}",
                    attempt.error or "",
                    bad=not attempt.ok,
                )
            )
    return moments


def _compact(detail: dict) -> str:
    return "" if not detail else json.dumps(detail, ensure_ascii=False)[:2000]
