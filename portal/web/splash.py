"""The customer's pages: from the router's redirect to online."""

import ipaddress
import re
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from litestar import Request, get
from litestar.datastructures import State
from litestar.params import FromQuery, QueryParameter
from litestar.response import Template

from .. import packages
from . import words

MAC = re.compile(r"^[0-9A-F]{2}([:-]?[0-9A-F]{2}){5}$")


@dataclass(frozen=True)
class Device:
    """What the router told us about the customer's device, checked."""

    router: str
    mac: str
    ip: str
    link_orig: str = ""

    @classmethod
    def parse(
        cls, router: str | None, mac: str | None, ip: str | None, link_orig: str | None
    ) -> "Device | None":
        mac = (mac or "").strip().upper()
        if not router or not mac or not MAC.match(mac):
            return None
        try:
            ipaddress.ip_address((ip or "").strip())
        except ValueError:
            return None
        plain = mac.replace(":", "").replace("-", "")
        return cls(
            router=router.strip(),
            mac=":".join(plain[i : i + 2] for i in range(0, 12, 2)),
            ip=ip.strip(),
            link_orig=_http_only(link_orig),
        )

    def query(self, lang: str, **extra: str) -> str:
        return urlencode(
            {"router": self.router, "mac": self.mac, "ip": self.ip, "link-orig": self.link_orig, "lang": lang}
            | extra
        )


def _http_only(url: str | None) -> str:
    """Links we send the customer on to must be plain web addresses (never javascript: and the like)."""
    url = (url or "").strip()
    return url if url.startswith(("http://", "https://")) else ""


async def site_for(state: State, router_name: str):
    """The router the device is behind, with its tenant and the M-Pesa account that takes payments there."""
    return await state.services.db.fetchone(
        "SELECT routers.id AS router_id, routers.tenant_id, routers.mpesa_account_id,"
        " tenants.name, tenants.support_phone"
        " FROM routers JOIN tenants ON tenants.id = routers.tenant_id WHERE routers.name = ?",
        (router_name,),
    )


def page(name: str, lang: str, context: dict, *, status_code: int = 200, switch_url: str = "") -> Template:
    return Template(
        template_name=f"splash/{name}.html",
        context={
            "lang": lang,
            "t": lambda key, **values: words.say(lang, key, **values),
            "duration": lambda seconds: words.duration(lang, seconds),
            "speed": lambda rate: words.speed(lang, rate),
            "money": words.money,
            "other_language_url": switch_url,
        }
        | context,
        status_code=status_code,
    )


NOBODY = {"name": "Wi-Fi", "support_phone": ""}


@get("/")
async def splash(
    request: Request,
    state: State,
    router: FromQuery[str | None] = None,
    mac: FromQuery[str | None] = None,
    ip: FromQuery[str | None] = None,
    link_orig: Annotated[str | None, QueryParameter(name="link-orig")] = None,
    lang: FromQuery[str | None] = None,
) -> Template:
    lang = words.language(lang)
    device = Device.parse(router, mac, ip, link_orig)
    site = await site_for(state, device.router) if device else None
    if site is None:
        return page("not_a_customer", lang, {"tenant": NOBODY}, status_code=404)
    other = "sw" if lang == "en" else "en"
    return page(
        "index",
        lang,
        {
            "tenant": site,
            "device": device,
            "packages": await packages.for_sale(state.services.db, site["tenant_id"]),
            "can_pay": site["mpesa_account_id"] is not None,
            "chosen": None,
            "phone": "",
            "error": "",
            "reconnect_url": f"/reconnect?{device.query(lang)}",
        },
        switch_url=f"/?{device.query(other)}",
    )
