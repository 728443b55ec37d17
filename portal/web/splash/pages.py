"""What every customer page shares: the device the router named, the site it is at, and rendering."""

import ipaddress
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from litestar import Request, route
from litestar.datastructures import Cookie, State
from litestar.enums import HttpMethod
from litestar.response import Template

from ... import i18n
from ...access import routers
from ...access.presence import Asker
from ...billing import c2b
from ...catalog import packages
from ...i18n import formats
from ...mpesa import accounts
from ...store import Connection
from ...tenancy import tenants
from ..addresses import client_address

MAC = re.compile(r"^[0-9A-F]{2}([:-]?[0-9A-F]{2}){5}$")
# Where the customer was going is carried in every link and form of a page: a longer address (a
# tracking URL, or junk) would weigh the page down several times over on a slow line, so it is dropped.
LONGEST_LINK = 512
# What phones ask to learn whether the Wi-Fi is open: the router catches it and sends its address here as
# `link-orig`, yet it is no page a customer meant to open (a blank page, or "204 No Content"). By host, and
# by the path Google's checks share on any of its hosts.
CONNECTIVITY_CHECK_HOSTS = frozenset(
    {
        "connectivitycheck.gstatic.com",
        "connectivitycheck.android.com",
        "clients1.google.com",
        "clients3.google.com",
        "captive.apple.com",
        "www.msftconnecttest.com",
        "www.msftncsi.com",
        "msftconnecttest.com",
        "detectportal.firefox.com",
        "nmcheck.gnome.org",
        "connectivity-check.ubuntu.com",
        "network-test.debian.org",
        "connect.rom.miui.com",
        "connectivitycheck.platform.hicloud.com",
    }
)
CONNECTIVITY_CHECK_PATHS = ("/generate_204", "/gen_204", "/hotspot-detect.html", "/connecttest.txt")
# Where "Continue browsing" goes when the customer was going nowhere in particular: a page every phone
# opens and anyone knows how to go on from.
NEUTRAL_PAGE = "https://www.google.com/"
# The device's language, remembered for when the router sends it here afresh (links carry it meanwhile).
LANGUAGE_COOKIE = "lang"
# The payment whose time this device shows at "my time" (`/me`): its reference, as unguessable as the
# address of its page. Only a browser that was shown that page has it.
MY_PAYMENT_COOKIE = "me"
MY_TIME = "/me"
# In the address a code sends its device to: it has just arrived, and is no returning customer.
ARRIVED = "arrived"
A_YEAR = 365 * 86400


def readable(path: str, **options: Any):
    """A customer page, answering HEAD as well as GET: phones and link previews ask with HEAD."""
    return route(path, http_method=[HttpMethod.GET, HttpMethod.HEAD], **options)


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
            link_orig=http_only(link_orig),
        )

    @classmethod
    def read(cls, fields: Any) -> "Device | None":
        """The device named by a query string or a form: the router's redirect, passed along."""
        return cls.parse(fields.get("router"), fields.get("mac"), fields.get("ip"), fields.get("link-orig"))

    def query(self, lang: str, **extra: str) -> str:
        return urlencode(
            {"router": self.router, "mac": self.mac, "ip": self.ip, "link-orig": self.link_orig, "lang": lang}
            | extra
        )


def http_only(url: str | None) -> str:
    """Links we send the customer on to must be plain web addresses (never javascript: and the like),
    short enough to carry, and pages someone meant to open (never a phone's connectivity check)."""
    url = (url or "").strip()
    if not url.startswith(("http://", "https://")) or len(url) > LONGEST_LINK:
        return ""
    return "" if is_connectivity_check(url) else url


def is_connectivity_check(url: str) -> bool:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return host in CONNECTIVITY_CHECK_HOSTS or parts.path.lower().endswith(CONNECTIVITY_CHECK_PATHS)


@dataclass(frozen=True)
class Site:
    """The router a device is behind, its business, and the M-Pesa account that takes payments there."""

    router_id: int
    router_kind: str
    tenant_id: int
    name: str  # the business's, as customers know it
    support_phone: str
    mpesa_account_id: int | None
    wifi_word: str  # the account customers type to pay for Wi-Fi by hand


def find_site(db: Connection, router_name: str) -> Site | None:
    router = routers.by_name(db, router_name)
    if router is None or router.disabled_at is not None:  # a disabled router sells nothing
        return None
    tenant = tenants.get(db, router.tenant_id)
    account_id = router.mpesa_account_id or accounts.first_of_tenant(db, router.tenant_id)
    return Site(
        router.id,
        router.kind,
        tenant.id,
        tenant.name,
        tenant.support_phone,
        account_id,
        c2b.first_word(tenant.wifi_words),
    )


async def site_for(state: State, router_name: str) -> Site | None:
    return await state.services.store.read(find_site, router_name)


def language_of(request: Request, asked: str | None) -> str:
    """The language a link or form asks for, else the device's remembered one, else its phone's."""
    return i18n.language(asked, request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language"))


async def customer(request: Request, state: State, fields: Any) -> tuple[str, Device | None, Site | None]:
    """The language, device and site (tenant and router) a customer's request names; no site, no customer."""
    lang = language_of(request, fields.get("lang"))
    device = Device.read(fields)
    return lang, device, await site_for(state, device.router) if device else None


async def who_asks(request: Request, state: State, site: Site, device: Device) -> tuple[str, Asker]:
    """The address a customer's request came from, and who the router says it is: the device the page
    names, another device, or unknown (access/presence.py)."""
    services = state.services
    address = client_address(request, services.settings.server.trusted_proxies)
    return address, await services.presence.asker(site.router_id, address, device.mac)


def page(
    name: str,
    lang: str,
    context: dict,
    *,
    status_code: int = 200,
    switch_url: str = "",
    no_store=False,
    my_payment: str = "",
) -> Template:
    """A customer page, in `lang`, which the device remembers. One kept by no cache (`no_store`), the
    browser's included, is asked for afresh even on Back. `my_payment`: the payment "my time" shows."""
    remember = {LANGUAGE_COOKIE: lang} | ({MY_PAYMENT_COOKIE: my_payment} if my_payment else {})
    return Template(
        headers={"Cache-Control": "no-store"} if no_store else None,
        cookies=[
            Cookie(key=key, value=value, max_age=A_YEAR, httponly=True, samesite="lax")
            for key, value in remember.items()
        ],
        template_name=f"splash/{name}.html",
        context={
            "lang": lang,
            "t": lambda key, **values: i18n.say(lang, key, **values),
            "duration": lambda seconds: formats.duration(lang, seconds),
            "names_its_time": lambda package: formats.names_duration(package.name, package.duration_seconds),
            "package_name": lambda package: formats.package_name(
                lang, package.name, package.duration_seconds
            ),
            "speed": lambda package: formats.speed(lang, package.speed.download if package.speed else 0),
            "data_size": formats.data_size,
            "money": formats.money,
            "other_language_url": switch_url,
        }
        | context,
        status_code=status_code,
    )


NOBODY = {"name": "Wi-Fi", "support_phone": ""}


def not_a_customer(lang: str) -> Template:
    return page("not_a_customer", lang, {"tenant": NOBODY}, status_code=404)


def other(lang: str) -> str:
    return "sw" if lang == "en" else "en"


def device_context(lang: str, site: Site, device: Device) -> dict:
    """What every page about a device shows: the business, the device, and the ways on from the page."""
    return {
        "tenant": site,
        "device": device,
        "continue_url": device.link_orig or NEUTRAL_PAGE,
        "packages_url": f"/?{device.query(lang, more='1')}",  # the packages, whatever is open or online
        "reconnect_url": f"/reconnect?{device.query(lang)}",
        "my_time_url": my_time_url(lang),
    }


def my_time_url(lang: str) -> str:
    return f"{MY_TIME}?lang={lang}"


def payment_url(ref: str, lang: str, device: Device, **extra: str) -> str:
    return f"/pay/{ref}?" + urlencode({"lang": lang, "link-orig": device.link_orig} | extra)


def _by_hand_terms(db: Connection, site: Site) -> tuple[accounts.StoredAccount, list[packages.Package]]:
    """The account that takes money by hand, and the packages on sale."""
    return accounts.get(db, site.mpesa_account_id), packages.for_sale(db, site.tenant_id)


async def pay_by_hand(state: State, site: Site, lang: str) -> str:
    """How to pay from the M-Pesa menu, for when the prompt never comes: where, with which account, how
    much for each package, and that money beyond a package is kept; then the receipt is the code."""
    if site.mpesa_account_id is None:
        return ""
    account, on_sale = await state.services.store.read(_by_hand_terms, site)
    if account.c2b_registered_at is None or not on_sale:
        return ""  # Daraja would not tell us of the money, or it would buy nothing: nobody is sent
    if account.kind == "till":
        how = i18n.say(lang, "till_how", till=account.till_number or account.shortcode)
    else:
        how = i18n.say(lang, "paybill_how", shortcode=account.shortcode, account=site.wifi_word)
    prices = ", ".join(
        i18n.say(
            lang,
            "price_for",
            price=formats.money(package.price),
            package=formats.package_name(lang, package.name, package.duration_seconds),
        )
        for package in on_sale
    )
    return i18n.say(lang, "pay_by_hand", how=how, prices=prices)
