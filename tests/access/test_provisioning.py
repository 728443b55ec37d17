"""Setting a router up (access/provisioning.py): adding it as a person typed it, its plans on the way
before it sells anything, and checking that it answers. Provisioning itself is proven from the admin
page (tests/web/admin/test_connections.py) and the command line (tests/cli/test_router_commands.py)."""

import pytest

from portal.access import provisioning, routers
from portal.access.routers import RouterError
from portal.gateways.base import GatewayError
from portal.gateways.registry import Gateways
from tests.access.conftest import add_site, profile, router_form
from tests.conftest import reach, rows, value


async def refused(store, clock, vault, tenant_id: int, fields: dict) -> RouterError:
    with pytest.raises(RouterError) as refusal:
        await store.write(provisioning.add_router_as_typed, clock, vault, tenant_id, fields)
    return refusal.value


async def test_a_router_typed_wrong_is_refused_with_the_field_named_and_nothing_is_written(
    store, clock, vault, site
):
    for field, wrong in (("host", "not a host!"), ("port", "70000"), ("password", "")):
        error = await refused(
            store, clock, vault, site.tenant_id, router_form("lounge", 8728) | {field: wrong}
        )
        assert error.field == field and str(error).startswith(f"{field}: ")
    error = await refused(store, clock, vault, site.tenant_id, router_form("cafe", 8728))
    assert error.field == "name"  # taken: a router's name is its identity in the splash page's link
    assert await value(store, "SELECT count(*) FROM routers") == 1
    assert await value(store, "SELECT count(*) FROM router_tasks") == 1  # the site's router's plans


async def test_a_new_router_gets_the_plans_of_every_package_before_it_sells(
    store, clock, vault, emulator, worker
):
    site = await store.write(add_site, clock, vault, emulator.port)
    [task] = await rows(store, "SELECT kind, state FROM router_tasks WHERE router_id = ?", (site.router_id,))
    assert (task["kind"], task["state"]) == ("update_plans", "queued")
    await worker.run_due_tasks()
    [plan] = emulator.console(
        "/ip/hotspot/user/profile/print", queries=[f"name={profile(site.package_id)}"]
    ).rows
    assert plan["rate-limit"] == "1M/2M"


async def test_checking_a_router_says_who_answered_or_notes_why_it_did_not(
    store, clock, vault, site, emulator
):
    gateways = Gateways(reach(timeout=0.5))
    router = await store.read(routers.get, site.router_id)
    await emulator.down()
    with pytest.raises(GatewayError, match=r"no RouterOS API answered at 127\.0\.0\.1:"):
        await provisioning.check(store, gateways, vault, clock, router)
    assert "no RouterOS API answered" in (await store.read(routers.get, site.router_id)).last_error
    await emulator.up()
    clock.advance(60)
    health = await provisioning.check(store, gateways, vault, clock, router)
    assert health.identity == "cafe-router"
    checked = await store.read(routers.get, site.router_id)
    assert (checked.last_error, checked.last_seen_at) == (None, clock.now())
    await gateways.close()
