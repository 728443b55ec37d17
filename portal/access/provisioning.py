"""Setting a router up for portal: adding it, checking that it answers, and provisioning it.

Provisioning puts on the router what portal needs there (its kind decides how): the plans of the
tenant's packages, the portal reachable by devices that have not paid, and the login page that sends
them to the splash page, which the router fetches from the portal itself. Safe to repeat.
"""

import asyncio
from collections.abc import Iterable, Mapping
from urllib.parse import quote

from ..clock import Clock
from ..gateways import registry
from ..gateways.base import GatewayError, Health
from ..gateways.reach import Network, OutOfReach, address_within
from ..gateways.registry import Gateways
from ..store import Connection, Store
from ..vault import Vault
from . import plans, routers
from .routers import Router, RouterError

LOGIN_PAGE_PATH = "/hotspot/login.html"


def login_page_url(portal_url: str, router_name: str) -> str:
    return f"{portal_url.rstrip('/')}{LOGIN_PAGE_PATH}?router={quote(router_name)}"


def add_router(db: Connection, clock: Clock, vault: Vault, tenant_id: int, spec) -> int:
    """A new router, with its plans on the way: it can't grant anything before it has them."""
    router_id = routers.create(db, clock, vault, tenant_id, spec)
    plans.tell_routers(db, clock, tenant_id, router_id)
    return router_id


def read_as_typed(fields: Mapping[str, str], kind: str = "routeros"):
    """A router from what a person typed (`portal router add`, the demo, a test's site), checked as the
    admin form checks it; the first mistake is raised as a RouterError."""
    spec, errors = registry.kind(kind).read_form(fields, stored=None)
    if spec is None:
        field, message = next(iter(errors.items()))
        raise RouterError(field, f"{field}: {message}")
    return spec


def add_router_as_typed(
    db: Connection,
    clock: Clock,
    vault: Vault,
    tenant_id: int,
    fields: Mapping[str, str],
    kind: str = "routeros",
) -> int:
    return add_router(db, clock, vault, tenant_id, read_as_typed(fields, kind))


async def check_address(spec, networks: Iterable[Network]) -> None:
    """A router being added or changed must be where portal may reach routers (gateways/reach.py);
    raises RouterError naming the host field. Checked again at every connection."""
    try:
        await asyncio.to_thread(address_within, spec.host, spec.port, tuple(networks))
    except OutOfReach as error:
        raise RouterError("host", str(error)) from None


async def check(store: Store, gateways: Gateways, vault: Vault, clock: Clock, router: Router) -> Health:
    """Reaches the router and says what it is; raises GatewayError. Either way the dashboard learns
    when the router last answered, or why it did not."""
    try:
        health = await (await routers.gateway(gateways, vault, router)).health()
    except GatewayError as error:
        await store.write(routers.record_contact, clock, router.id, str(error))
        raise
    await store.write(routers.record_contact, clock, router.id)
    return health


async def provision(
    store: Store, gateways: Gateways, vault: Vault, clock: Clock, router: Router, portal_url: str
) -> list[str]:
    """Sets the router up for portal; returns what it did, or raises GatewayError."""
    tenant_plans = await store.read(plans.plans_of_tenant, router.tenant_id)
    try:
        gateway = await routers.gateway(gateways, vault, router)
        changes = await gateway.provision(tenant_plans, portal_url, login_page_url(portal_url, router.name))
    except GatewayError as error:
        await store.write(routers.record_contact, clock, router.id, str(error) if error.outage else None)
        raise
    await store.write(routers.record_contact, clock, router.id)
    return changes
