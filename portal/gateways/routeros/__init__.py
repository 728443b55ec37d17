"""MikroTik routers, driven through the RouterOS API: the transport (gateway.py), how RouterOS writes
times and speeds (durations.py, rates.py), the settings form (form.py), and the login page the router
fetches from the portal (templates/gateways/routeros/login.html)."""

from ..base import Kind
from .form import read_router, router_fields
from .gateway import RouterOSGateway

KIND = Kind(
    name="routeros",
    label="MikroTik (RouterOS API)",
    connect=RouterOSGateway,
    read_form=read_router,
    form_fields=router_fields,
    login_page="gateways/routeros/login.html",
)
