"""The router's own login page: what provisioning has each router fetch, so that it sends devices here."""

from litestar.datastructures import State
from litestar.params import FromQuery
from litestar.response import Template

from ...access.provisioning import LOGIN_PAGE_PATH
from ...gateways import registry
from .pages import readable, site_for


@readable(LOGIN_PAGE_PATH, media_type="text/html")
async def router_login_page(state: State, router: FromQuery[str]) -> Template:
    """What provisioning has each router fetch: the page of its kind that sends devices here, naming
    the router (an unknown name gets the RouterOS one, which is what routers fetch today)."""
    site = await site_for(state, router)
    return Template(
        template_name=registry.kind(site.router_kind if site else "routeros").login_page,
        context={"portal_url": state.services.settings.server.portal_url.rstrip("/"), "router_name": router},
    )
