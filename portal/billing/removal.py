"""Removing what a business no longer uses: a router, a package, an M-Pesa account.

What never took part in a sale is deleted. What the books name (payments, sessions, vouchers, receipts)
is kept, disabled and off the lists, so that payments, sessions and the audit log still read with its
name; the owner is told which before confirming (`Footprint`).
"""

from dataclasses import dataclass

from ..access import outbox, plans, routers, sessions
from ..access.routers import Router
from ..catalog import packages
from ..catalog.packages import Package
from ..clock import Clock
from ..mpesa import accounts
from ..mpesa.accounts import StoredAccount
from ..store import Connection
from . import c2b, payments, receipt_checks, vouchers


@dataclass(frozen=True)
class Footprint:
    """What removing or disabling something touches."""

    live: int  # sessions online or connecting through it now
    history: int  # rows of the books that name it: if any, it is kept rather than deleted
    routers: tuple[str, ...] = ()  # routers that take payments through it (an M-Pesa account)

    @property
    def kept(self) -> bool:
        return self.history > 0


def of_router(db: Connection, router_id: int) -> Footprint:
    live, every = sessions.counts_on_router(db, router_id)
    return Footprint(live, every + payments.count_naming(db, "router_id", router_id))


def of_package(db: Connection, package_id: int) -> Footprint:
    live, every = sessions.counts_of_package(db, package_id)
    history = (
        every
        + payments.count_naming(db, "package_id", package_id)
        + vouchers.count_of_package(db, package_id)
    )
    return Footprint(live, history)


def of_account(db: Connection, account_id: int) -> Footprint:
    history = (
        payments.count_naming(db, "mpesa_account_id", account_id)
        + c2b.count_to_account(db, account_id)
        + receipt_checks.count_through_account(db, account_id)
    )
    return Footprint(0, history, tuple(routers.taking_payments_for(db, account_id)))


def remove_router(db: Connection, clock: Clock, router: Router) -> Footprint:
    """Its live sessions, if any, end on time as they would have: only a kept router can have them."""
    found = of_router(db, router.id)
    if not found.kept:
        outbox.forget_router(db, router.id)  # its plans, queued when it was added
    routers.remove(db, clock, router.id, router.tenant_id, keep=found.kept)
    return found


def enable_router(db: Connection, clock: Clock, router: Router, enabled: bool) -> bool:
    """Disables or enables the router; enabled again, it is told the packages changed meanwhile."""
    changed = routers.set_disabled(db, clock, router.id, router.tenant_id, not enabled)
    if changed and enabled:
        plans.tell_routers(db, clock, router.tenant_id, router.id)
    return changed


def remove_package(db: Connection, clock: Clock, package: Package) -> Footprint:
    found = of_package(db, package.id)
    packages.remove(db, clock, package.id, package.tenant_id, keep=found.kept)
    plans.tell_routers(db, clock, package.tenant_id)
    return found


def enable_account(db: Connection, clock: Clock, account: StoredAccount, enabled: bool) -> bool:
    """Disables or enables the account. Routers that named a disabled one take payments through the
    business's first account in use from now on."""
    changed = accounts.set_disabled(db, clock, account.id, account.tenant_id, not enabled)
    if changed and not enabled:
        routers.forget_account(db, account.id)
    return changed


def remove_account(db: Connection, clock: Clock, account: StoredAccount) -> Footprint:
    found = of_account(db, account.id)
    routers.forget_account(db, account.id)
    accounts.remove(db, clock, account.id, account.tenant_id, keep=found.kept)
    return found
