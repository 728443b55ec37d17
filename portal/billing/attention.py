"""What needs the owner's attention, at the top of the dashboard: a payment whose outcome is unknown (the
customer may have paid: only the owner or M-Pesa can tell), a customer who paid and is not online, a
router that does not answer, router tasks that keep failing, Daraja refusing payments."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from ..access import outbox, routers, sessions
from ..mpesa import result_codes
from ..store import Connection
from ..tenancy.scope import Scope
from . import payments

# A paid customer normally gets online within seconds; after this long, someone should look.
STUCK_AFTER = timedelta(minutes=2)
# Older than this, the customer has long gone; the payment stays findable in the payments list.
STUCK_LOOKBACK = timedelta(days=7)
STUCK_SHOWN = 20
UNKNOWN_SHOWN = 20  # the newest; the payments list (state "unknown") has them all
# Router tasks that failed this many times are shown as a problem (the worker keeps retrying).
TASK_ATTEMPTS_SHOWN = 3


@dataclass(frozen=True)
class Unconnected:
    """Paid, and the router has not confirmed access."""

    payment: payments.Payment
    router: str | None
    has_session: bool  # False: no session was opened; True: it waits for the router


@dataclass(frozen=True)
class FailingRouter:
    name: str
    count: int
    last_error: str | None


@dataclass(frozen=True)
class Attention:
    unknown: list[payments.Payment]  # newest first, however old: they never settle by themselves
    unconnected: list[Unconnected]
    routers_down: list[routers.Router]
    daraja_errors: list[payments.Failures]  # in the last 24 hours, by result code
    router_tasks: list[FailingRouter]

    def __bool__(self) -> bool:
        return bool(
            self.unknown or self.unconnected or self.routers_down or self.daraja_errors or self.router_tasks
        )


def attention(db: Connection, scope: Scope, now: datetime) -> Attention:
    waiting = sessions.pending_ids(db, scope)
    stuck = payments.paid_unconnected(
        db, scope, now - STUCK_LOOKBACK, now - STUCK_AFTER, waiting, STUCK_SHOWN
    )
    router_names = routers.names(db, {p.router_id for p in stuck})
    # A disabled router's tasks still run (its sessions end on time) but alarm no one.
    in_scope = {
        router.id: router.name for router in routers.in_scope(db, scope) if router.disabled_at is None
    }
    failing = outbox.failing(db, list(in_scope), TASK_ATTEMPTS_SHOWN)
    return Attention(
        unknown=payments.unknown_in(db, scope, UNKNOWN_SHOWN),
        unconnected=[
            Unconnected(p, router_names.get(p.router_id), p.access_session_id is not None) for p in stuck
        ],
        routers_down=routers.down(db, scope),
        daraja_errors=payments.failures(
            db, scope, now - timedelta(days=1), expired_too=False, leave_out=result_codes.payer_codes()
        ),
        router_tasks=sorted(
            (FailingRouter(in_scope[f.router_id], f.count, f.last_error) for f in failing),
            key=lambda f: f.name,
        ),
    )
