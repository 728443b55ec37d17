"""Customers: the numbers seen last, found by any way of typing them, and one number's devices,
payments and sessions, with time to add where its access is live (the sessions' own form)."""

from litestar import Request, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template

from ... import i18n
from ...access import routers
from ...billing import customers
from ...phones import PhoneError, normalize
from ...store import Connection
from ...tenancy.scope import Scope
from .base import Shown, Tenants, page, row_id, services
from .payments import with_names


@get("/customers")
async def customer_list(request: Request, tenants: Tenants) -> Template | Redirect:
    typed = request.query_params.get("phone", "").strip()
    error = ""
    if typed:
        try:
            phone = normalize(typed)
        except PhoneError as refused:
            error = i18n.say("en", refused.reason, **refused.values)
        else:
            found = await services(request).store.read(customers.history, tenants, phone)
            if found is not None:
                return Redirect(f"/admin/customers/{found.totals.first_id}", status_code=303)
            error = "Nobody paid from this number."
    listed = await services(request).store.report(customers.seen_last, tenants)
    return await page(
        request, "customers", status_code=400 if error else 200, customers=listed, typed=typed, error=error
    )


@get("/customers/{customer:str}")
async def customer_detail(request: Request, tenants: Tenants, customer: FromPath[str]) -> Template:
    """`customer` is a number, typed any way, or the id of one of its payments (the page's own links,
    which keep the number out of addresses staff see)."""
    try:
        phone = normalize(customer)
    except PhoneError:
        phone = await services(request).store.read(customers.phone_of_payment, tenants, row_id(customer))
    found = phone and await services(request).store.report(_customer_page, tenants, phone)
    if not found:
        raise NotFoundException()
    return await page(request, "customer", **found)


def _customer_page(db: Connection, tenants: Scope, phone: str) -> dict | None:
    found = customers.history(db, tenants, phone)
    if found is None:
        return None
    # Every session's device is among the devices, so their routers are named too.
    names = routers.names(db, {device.router_id for device in found.devices})
    return {
        "customer": found,
        "phone": phone,
        "payments": with_names(db, found.payments),
        "devices": [Shown(device, router=names[device.router_id]) for device in found.devices],
        "sessions": [Shown(session, router=names[session.router_id]) for session in found.sessions],
    }


handlers = [customer_list, customer_detail]
