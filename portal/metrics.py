"""What `/metrics` tells Prometheus, and the instruments the payment and router code observe.

Two kinds of figure. Counts of things that live in the database (payments by state, queued router
tasks, active sessions, router reachability) are read from it at each scrape (`Figures`), so
they are right after a restart and can never drift from the truth. Events that leave no row of
their own (how long Daraja took to take a push, which path confirmed a payment, each failed
router attempt) are counted in memory as they happen, by the code that sees them:

    metrics.stk_push_seconds.time()                               # billing/checkout.py
    metrics.confirmations.labels(path="callback").inc()           # query, status, owner: app.py, when paid
    metrics.router_task_failures.labels(router=name, kind=kind).inc()   # access/worker.py

Each app has its own registry, never prometheus_client's global one: tests build many apps.
"""

from dataclasses import dataclass
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest

# The text format that `generate_latest` writes.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Daraja usually answers a push in 1-3 s; the client gives up after 30 s.
STK_PUSH_BUCKETS = (0.25, 0.5, 1, 1.5, 2, 3, 5, 8, 13, 20, 30)

CONFIRMATION_PATHS = ("callback", "query", "status", "owner")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)  # memory, CPU, open files, start time (restarts)
        instrument = {"namespace": "portal", "registry": self.registry}

        self.stk_push_seconds = Histogram(
            "stk_push_seconds",
            "Time Daraja took to accept or refuse an STK push request",
            buckets=STK_PUSH_BUCKETS,
            **instrument,
        )
        self.confirmations = Counter(
            "payment_confirmations",
            "Payments whose outcome was learnt, by the path that told: Daraja's callback, our query, M-Pesa's"
            " answer about a receipt (status), or the owner",
            ["path"],
            **instrument,
        )
        for path in CONFIRMATION_PATHS:  # every series exists from the start, so rates work at once
            self.confirmations.labels(path=path)
        self.router_task_failures = Counter(
            "router_task_failures",
            "Router task attempts that failed (each is retried with back-off)",
            ["router", "kind"],
            **instrument,
        )

        self.payments = Gauge(
            "payments", "Payments in the database, by tenant and state", ["tenant", "state"], **instrument
        )
        self.router_tasks_queued = Gauge(
            "router_tasks_queued", "Router tasks waiting to be done (queue depth)", ["router"], **instrument
        )
        self.sessions_active = Gauge(
            "access_sessions_active", "Devices with paid access now, by router", ["router"], **instrument
        )
        self.router_up = Gauge(
            "router_up", "1 if portal's last contact with the router worked, else 0", ["router"], **instrument
        )
        self.router_last_seen = Gauge(
            "router_last_seen_timestamp_seconds",
            "When portal last reached the router (Unix time; absent if never)",
            ["router"],
            **instrument,
        )

    def exposition(self, figures: "Figures") -> bytes:
        """The whole page, with the database figures just read."""
        for gauge in (self.payments, self.router_tasks_queued, self.sessions_active, self.router_up,
                      self.router_last_seen):  # fmt: skip
            gauge.clear()  # a deleted router or a state with no payments left must not linger
        for tenant, state, count in figures.payments:
            self.payments.labels(tenant=tenant, state=state).set(count)
        for router in figures.routers:
            self.router_tasks_queued.labels(router=router.name).set(router.queued)
            self.sessions_active.labels(router=router.name).set(router.active)
            self.router_up.labels(router=router.name).set(
                1 if router.last_seen_at and not router.last_error else 0
            )
            if router.last_seen_at:
                self.router_last_seen.labels(router=router.name).set(router.last_seen_at.timestamp())
        return generate_latest(self.registry)


@dataclass(frozen=True)
class RouterFigures:
    name: str
    queued: int  # router tasks waiting
    active: int  # devices with paid access now
    last_seen_at: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class Figures:
    """What the database says at a scrape (read by web/metrics.py)."""

    payments: list[tuple[str, str, int]]  # (tenant slug, state, count)
    routers: list[RouterFigures]
