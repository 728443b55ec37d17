"""Packages as the routers enforce them: one plan per package, and telling the routers when they change.

Whoever creates or edits a package, or adds a router, calls `tell_routers` in the same transaction:
the outbox then brings every router of the tenant in line, whatever their kind.
"""

from ..catalog import packages
from ..clock import Clock
from ..gateways.base import Plan
from ..store import Connection
from . import outbox, routers


def plan_of(package: packages.Package) -> Plan:
    return Plan(package_id=package.id, speed=package.speed)


def plans_of_tenant(db: Connection, tenant_id: int) -> list[Plan]:
    return [plan_of(package) for package in packages.of_tenant(db, tenant_id)]


def tell_routers(db: Connection, clock: Clock, tenant_id: int, router_id: int | None = None) -> int:
    """Queues an update of the plans on each router of the tenant (or just `router_id`)."""
    router_ids = [router_id] if router_id is not None else routers.ids_of_tenant(db, tenant_id)
    return outbox.queue_plans(db, clock.now(), router_ids)
