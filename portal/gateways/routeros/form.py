"""The settings form of a MikroTik router: its name, where its API is, the user portal signs in as.

The password is write-only, and a blank one keeps the stored password only while it goes where it was
typed for: Check connection sends it in the API login, so a router re-pointed at another host, port,
TLS setting or user needs it typed again.
"""

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from ...typed_numbers import whole

NAME = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
API_PORT, API_TLS_PORT = 8728, 8729
RETYPE_PASSWORD = (
    "The address, port, TLS or user changed: type the password again. A stored password is only sent"  # noqa: S105
    " to the router and user it was typed for."
)


class StoredRouter(Protocol):
    name: str
    host: str
    port: int
    use_tls: bool
    username: str
    hotspot_server: str
    mpesa_account_id: int | None


@dataclass(frozen=True)
class RouterSpec:
    name: str
    host: str
    port: int
    use_tls: bool
    username: str
    password: str | None  # None: keep the stored one
    hotspot_server: str
    mpesa_account_id: int | None


def read_router(
    form: Mapping[str, str], *, stored: StoredRouter | None
) -> tuple[RouterSpec | None, dict[str, str]]:
    """The router a form describes, or what is wrong with each field. `stored` is the router being
    edited (None: a new one)."""
    errors = {}
    name = form.get("name", "").strip()
    if not NAME.match(name):
        errors["name"] = "Use letters, digits, dot, dash or underscore (up to 40), like cafe-main."
    host = form.get("host", "").strip()
    if not _is_host(host):
        errors["host"] = "Give the router's address on the network, like 192.168.88.1 or router.lan."
    use_tls = form.get("use_tls") == "on"
    port_text = form.get("port", "").strip()
    port = whole(port_text, 5)
    if not port_text:
        port = API_TLS_PORT if use_tls else API_PORT
    elif port is None or not 1 <= port <= 65535:
        errors["port"] = (
            f"A port is a number from 1 to 65535 (the API listens on {API_PORT}, or {API_TLS_PORT} with TLS)."
        )
    username = form.get("username", "").strip()
    if not username or len(username) > 64:
        errors["username"] = "Give the name of the router user the portal signs in as."
    moved = (
        stored is not None
        and not errors.keys() & {"host", "port", "username"}
        and (host, port, use_tls, username) != (stored.host, stored.port, stored.use_tls, stored.username)
    )
    password = form.get("password", "")
    if stored is None and not password:
        errors["password"] = "Give that user's password."  # noqa: S105 (a message, not a password)
    elif moved and not password:
        errors["password"] = RETYPE_PASSWORD
    elif len(password) > 200:
        errors["password"] = "That password is too long."  # noqa: S105
    hotspot_server = form.get("hotspot_server", "").strip() or "all"
    if not NAME.match(hotspot_server):
        errors["hotspot_server"] = "Give the hotspot server's name as the router shows it, or leave “all”."
    account = form.get("mpesa_account_id", "")
    if account and whole(account, 18) is None:
        errors["mpesa_account_id"] = "Pick an M-Pesa account from the list."
    if errors:
        return None, errors
    return (
        RouterSpec(
            name=name,
            host=host,
            port=port,
            use_tls=use_tls,
            username=username,
            password=password or None,
            hotspot_server=hotspot_server,
            mpesa_account_id=int(account) if account else None,
        ),
        {},
    )


def _is_host(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return bool(HOSTNAME.match(text))
    return True


def router_fields(router: StoredRouter | RouterSpec) -> dict[str, str]:
    """What the form shows of a router, stored or as read: never the password."""
    return {
        "name": router.name,
        "host": router.host,
        "port": str(router.port),
        "use_tls": "on" if router.use_tls else "",
        "username": router.username,
        "hotspot_server": router.hotspot_server,
        "mpesa_account_id": str(router.mpesa_account_id or ""),
    }
