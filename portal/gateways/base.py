"""What portal asks of the box that lets devices onto the internet, whatever its make.

The portal decides (who has paid, until when, how fast, how much data); the gateway enforces. The
terms here are portal's, never one make's: a kind of gateway (RouterOS today; nftables on the box or
openNDS tomorrow) is a folder beside this file that turns them into its own commands, and
`registry.py` picks it by the router's `kind`.

Every operation converges: running it twice, or after a half-finished first try, leaves the gateway as
one successful run would. Errors say what happened in words safe to log and show (never a secret).
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

MAC = re.compile(r"^[0-9A-F]{2}(?::[0-9A-F]{2}){5}$")
# How owners write a speed (and RouterOS its rate limits): upload[/download], each a number with an
# optional k, M or G; one number limits both ways.
SPEED = re.compile(r"^(\d{1,6})([kKMG]?)(?:/(\d{1,6})([kKMG]?))?$")
SPEED_UNITS = {"": 1, "k": 1000, "K": 1000, "M": 1000**2, "G": 1000**3}


def normalize_mac(text: str) -> str:
    """`aa-bb-cc-dd-ee-ff` or `aa:bb:…` → `AA:BB:CC:DD:EE:FF`; raises ValueError for anything else."""
    mac = text.strip().upper().replace("-", ":")
    if not MAC.match(mac):
        raise ValueError(f"{text!r} is not a MAC address")
    return mac


class GatewayError(Exception):
    """A gateway operation that did not happen. The message is safe to log and show (no secrets).

    `outage` means the gateway can't be used at all right now (unreachable, timing out, refusing our
    login): every task for it should wait. Otherwise this one operation was refused and may be retried
    on its own.
    """

    def __init__(self, message: str, *, outage: bool):
        super().__init__(message)
        self.outage = outage


class DeviceNotConnected(GatewayError):
    """The device is not on the Wi-Fi now (it left); access waits until it is back."""

    def __init__(self, mac: str):
        super().__init__(f"device {mac} is not connected to the hotspot", outage=False)


@dataclass(frozen=True)
class Speed:
    """How fast a device may go, in bits per second as the customer sees it; 0 = no limit that way."""

    upload: int
    download: int

    @classmethod
    def parse(cls, text: str) -> "Speed | None":
        """`1M/2M` → Speed(1_000_000, 2_000_000); `512k` → 512k both ways; '' → None (no limit).
        Raises ValueError for anything else."""
        if not text:
            return None
        match = SPEED.match(text)
        if not match:
            raise ValueError(f"{text!r} is not a speed like 1M/2M")
        up = int(match[1]) * SPEED_UNITS[match[2]]
        down = int(match[3]) * SPEED_UNITS[match[4]] if match[3] else up
        return cls(upload=up, download=down)

    def notation(self) -> str:
        """Back to how people write it: Speed(1_000_000, 512_000) → `1M/512k`; 0 → `0`."""

        def compact(bits: int) -> str:
            unit = next((unit for unit in "GMk" if bits and bits % SPEED_UNITS[unit] == 0), "")
            return f"{bits // SPEED_UNITS[unit]}{unit}"

        return f"{compact(self.upload)}/{compact(self.download)}"


@dataclass(frozen=True)
class Plan:
    """A package as a gateway needs it: what every device that bought it gets, whatever its time."""

    package_id: int
    speed: Speed | None  # None: as fast as the line allows


@dataclass(frozen=True)
class Access:
    """One device's paid access, as the gateway should enforce it."""

    session_id: int
    mac: str
    ip: str | None  # where the portal last saw the device; the gateway's own view has the final say
    plan: Plan
    seconds: int  # paid time left, counted from now
    until: datetime  # when the portal will end it (a gateway may keep it for people to read)
    # Bytes both ways the device may move in all while the session is on it (what the session has left
    # of its data cap when it came to this device); None = no cap.
    data_cap_bytes: int | None = None


@dataclass(frozen=True)
class Online:
    """A device using the internet through the gateway now."""

    mac: str
    ip: str
    uptime: int  # seconds since it got in
    time_left: int | None  # seconds until the gateway itself ends it; None = no limit
    bytes_up: int  # what the device sent
    bytes_down: int  # what it received

    @property
    def bytes_used(self) -> int:
        return self.bytes_up + self.bytes_down


@dataclass(frozen=True)
class Grant:
    """Access the gateway holds for portal (whether or not the device is on it now)."""

    session_id: int
    mac: str


@dataclass(frozen=True)
class Snapshot:
    """Everything a sync compares with the database, read in one go."""

    grants: list[Grant]  # portal's only: anything else on the gateway is never touched
    online: set[str]  # MACs online under one of portal's grants
    present: set[str]  # MACs of every device on the Wi-Fi, paid or not


@dataclass(frozen=True)
class Health:
    """What "Check connection" shows: who answered, and what it holds, in its own terms."""

    identity: str  # the name the gateway gives itself
    summary: list[str]  # lines for a person: software and version, uptime, what is on it


@dataclass(frozen=True)
class Target:
    """Where and how to reach one router's gateway. The caller builds it, the password decrypted, so
    the gateways never see the vault."""

    kind: str  # the key of its Kind in registry.KINDS
    label: str  # the router's name, for messages
    host: str
    port: int
    use_tls: bool
    username: str
    password: str = field(repr=False)
    hotspot_server: str  # the hotspot server portal uses on it, or "all"


class Gateway(Protocol):
    async def grant(self, access: Access) -> Online:
        """Lets the device in for `access.seconds`; confirmed only when the gateway lists it online.
        Raises DeviceNotConnected when the device isn't on the Wi-Fi."""

    async def grant_all(self, accesses: list[Access]) -> list[Online | GatewayError]:
        """`grant` for many devices at once (faster than one by one): each one's outcome, in order, an
        error where that device's grant failed. Raises GatewayError when the gateway can't be used."""

    async def extend(self, access: Access) -> Online | None:
        """Brings the gateway up to date with the access (more time, another data cap or speed); lets
        the device in again if it is not online. None when the device is away (it gets in when a sync
        finds it back)."""

    async def extend_all(self, accesses: list[Access]) -> list[Online | GatewayError | None]:
        """`extend` for many devices at once, as `grant_all` is `grant`."""

    async def revoke(self, mac: str, session_id: int) -> int:
        """Ends the access that `session_id` gave `mac`; leaves alone whatever belongs to anyone else.
        Returns the bytes (both ways) the gateway had counted for that access; 0 if there was none."""

    async def usage(self, mac: str, session_id: int) -> int:
        """The bytes (both ways) counted for the access `session_id` gave `mac`, changing nothing: read
        before a revoke, and kept, it survives a revoke whose answer is lost."""

    async def online(self) -> list[Online]:
        """Every device online through the gateway now, paid through portal or not."""

    async def devices_at(self, address: str) -> set[str]:
        """The MACs of the devices the gateway sees at `address` now (the device's own address, or the
        one it translates it to): its word on which device a request from that address is. Empty when
        no device of its Wi-Fi is there (the asker is elsewhere, or behind a NAT)."""

    async def snapshot(self) -> Snapshot: ...

    async def health(self) -> Health: ...

    async def apply_plans(self, plans: list[Plan]) -> list[str]:
        """Makes what the gateway keeps per package (speeds) match `plans`; returns what it did."""

    async def provision(self, plans: list[Plan], portal_url: str, login_page_url: str) -> list[str]:
        """Sets the gateway up for portal (plans, the portal reachable before paying, the page that
        sends devices to the portal); returns what it did. Safe to repeat."""

    async def close(self) -> None: ...


@dataclass(frozen=True)
class Kind:
    """One kind of gateway, as its folder describes itself: how to reach it and how an owner sets it up."""

    name: str  # as routers.kind stores it
    label: str  # for people
    connect: Callable[[Target, Any], Gateway]  # (target, reach.Reach) → its gateway, unconnected
    # (form fields, stored=the router being edited or None) → its settings, or what is wrong by field
    read_form: Callable[..., tuple[Any, dict[str, str]]]
    form_fields: Callable[[Any], dict[str, str]]  # a stored router, or settings read → what the form shows
    login_page: str  # the template the gateway fetches to send devices to the splash page
