"""Packages as the routers enforce them (access/plans.py): one plan per package, hidden ones included,
and every router of the tenant told when they change."""

from portal.access import plans, provisioning
from portal.catalog import packages
from portal.gateways.base import Speed
from portal.tenancy import tenants
from tests.access.conftest import add_package, router_form
from tests.conftest import rows


async def plan_updates(store) -> list[int]:
    """The routers with a plan update queued, by task."""
    queued = await rows(store, "SELECT router_id FROM router_tasks WHERE kind = 'update_plans' ORDER BY id")
    return [row["router_id"] for row in queued]


async def test_telling_the_routers_queues_one_plan_update_for_each_router_of_the_tenant_only(
    store, clock, vault
):
    def two_businesses(db):
        cafe, other = tenants.create(db, clock, "cafe", "Cafe"), tenants.create(db, clock, "other", "Other")
        front, back = (
            provisioning.add_router_as_typed(db, clock, vault, cafe, router_form(name, 8728))
            for name in ("front", "back")
        )
        elsewhere = provisioning.add_router_as_typed(db, clock, vault, other, router_form("elsewhere", 8728))
        return cafe, front, back, elsewhere

    cafe, front, back, elsewhere = await store.write(two_businesses)
    assert await plan_updates(store) == [front, back, elsewhere]  # each new router, its own
    assert await store.write(plans.tell_routers, clock, cafe) == 2
    assert (await plan_updates(store))[3:] == [front, back]
    assert await store.write(plans.tell_routers, clock, cafe, back) == 1
    assert (await plan_updates(store))[5:] == [back]


async def test_a_hidden_package_keeps_its_plan_for_the_sessions_that_bought_it(store, clock):
    def shop(db):
        tenant_id = tenants.create(db, clock, "cafe", "Cafe")
        hour = add_package(db, clock, tenant_id, rate="1M/2M")
        day = add_package(db, clock, tenant_id, name="1 day", seconds=86400, rate="")
        packages.set_hidden(db, clock, hour, tenant_id, True)
        return tenant_id, hour, day

    tenant_id, hour, day = await store.write(shop)
    tenant_plans = await store.read(plans.plans_of_tenant, tenant_id)
    assert [(plan.package_id, plan.speed) for plan in tenant_plans] == [
        (hour, Speed(1_000_000, 2_000_000)),
        (day, None),  # as fast as the line allows
    ]
