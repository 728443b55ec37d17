"""What `/metrics` tells Prometheus, and the instruments the payment and router code observe.

Two kinds of figure. Counts of things that live in the database (payments by state, queued and
failed router tasks, active sessions, router reachability) are read from it at each scrape, so
they are right after a restart and can never drift from the truth. Events that leave no row of
their own (how long Daraja took to take a push, which path confirmed a payment, each failed
router attempt) are counted in memory as they happen, by the code that sees them:

    services.metrics.stk_push_seconds.observe(seconds)
    services.metrics.confirmations.labels(path="callback").inc()   # or path="query"
    services.metrics.router_task_failures.labels(router=name, kind=task_kind).inc()

Each app has its own registry, never prometheus_client's global one: tests build many apps.
"""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest

from .clock import from_text
from .db import Database

# The text format that `generate_latest` writes.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Daraja usually answers a push in 1-3 s; the client gives up after 30 s.
STK_PUSH_BUCKETS = (0.25, 0.5, 1, 1.5, 2, 3, 5, 8, 13, 20, 30)

CONFIRMATION_PATHS = ("callback", "query")


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
            "Payments whose outcome was learnt, by the path that told: Daraja's callback or our query",
            ["path"],
            **instrument,
        )
        for path in CONFIRMATION_PATHS:  # both series exist from the start, so rates work at once
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
        self.router_tasks_failed = Gauge(
            "router_tasks_failed", "Router tasks given up on after their last retry", ["router"], **instrument
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

    async def exposition(self, db: Database) -> bytes:
        """The whole page, with the database figures read now."""
        payments = await db.fetchall(
            "SELECT tenants.slug, payments.state, count(*) FROM payments"
            " JOIN tenants ON tenants.id = payments.tenant_id GROUP BY tenants.slug, payments.state"
        )
        routers = await db.fetchall(
            "SELECT name, last_seen_at, last_error,"
            " (SELECT count(*) FROM router_tasks WHERE router_id = routers.id AND state = 'queued'),"
            " (SELECT count(*) FROM router_tasks WHERE router_id = routers.id AND state = 'failed'),"
            " (SELECT count(*) FROM access_sessions WHERE router_id = routers.id AND state = 'active')"
            " FROM routers"
        )
        # No await from here on: a scrape running beside this one never sees half-cleared gauges.
        for gauge in (self.payments, self.router_tasks_queued, self.router_tasks_failed, self.sessions_active,
                      self.router_up, self.router_last_seen):  # fmt: skip
            gauge.clear()  # a deleted router or a state with no payments left must not linger
        for tenant, state, count in payments:
            self.payments.labels(tenant=tenant, state=state).set(count)
        for name, last_seen_at, last_error, queued, failed, active in routers:
            self.router_tasks_queued.labels(router=name).set(queued)
            self.router_tasks_failed.labels(router=name).set(failed)
            self.sessions_active.labels(router=name).set(active)
            self.router_up.labels(router=name).set(1 if last_seen_at and not last_error else 0)
            if last_seen_at:
                self.router_last_seen.labels(router=name).set(from_text(last_seen_at).timestamp())
        return generate_latest(self.registry)
