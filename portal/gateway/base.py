"""What portal asks of the box that lets devices onto the internet, whatever its make.

The portal decides (who has paid, until when); the gateway enforces. Every operation converges: running
it twice, or after a half-finished first try, leaves the router as one successful run would.
"""

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

MAC = re.compile(r"^[0-9A-F]{2}(?::[0-9A-F]{2}){5}$")


def normalize_mac(text: str) -> str:
    """`aa-bb-cc-dd-ee-ff` or `aa:bb:…` → `AA:BB:CC:DD:EE:FF`; raises ValueError for anything else."""
    mac = text.strip().upper().replace("-", ":")
    if not MAC.match(mac):
        raise ValueError(f"{text!r} is not a MAC address")
    return mac


class GatewayError(Exception):
    """A router operation that did not happen. The message is safe to log and show (no secrets).

    `outage` means the router can't be used at all right now (unreachable, timing out, refusing our
    login): every task for it should wait. Otherwise this one operation was refused and may be retried
    on its own.
    """

    def __init__(self, message: str, *, outage: bool):
        super().__init__(message)
        self.outage = outage


class DeviceNotConnected(GatewayError):
    """The device is not on the hotspot now (it left the Wi-Fi); access waits until it is back."""

    def __init__(self, mac: str):
        super().__init__(f"device {mac} is not connected to the hotspot", outage=False)


@dataclass(frozen=True)
class Profile:
    """A package's settings on the router."""

    name: str
    rate_limit: str  # rx/tx from the router's side, e.g. 1M/2M (upload/download); '' = unlimited


@dataclass(frozen=True)
class Access:
    """One device's paid access, as the router should see it."""

    session_id: int
    mac: str
    ip: str | None  # where the portal last saw the device; the router's host table has the final say
    profile: Profile
    seconds: int  # paid time left, counted from now
    expires_at: datetime  # when the portal will end it (written on the router for people to read)
    # Bytes both ways the device may move in all while the session is on it (what the session has left
    # of its data cap when it came to this device); None = no cap.
    data_cap_bytes: int | None = None


@dataclass(frozen=True)
class ActiveSession:
    user: str
    mac: str
    ip: str
    uptime: int  # seconds
    time_left: int | None  # seconds until the router itself ends it; None = no limit
    bytes_in: int  # from the router's side: what the device uploaded
    bytes_out: int


@dataclass(frozen=True)
class RouterUser:
    """A hotspot user that portal created, and the access session it belongs to."""

    name: str
    session_id: int


@dataclass(frozen=True)
class Host:
    mac: str
    ip: str
    authorized: bool


@dataclass(frozen=True)
class Snapshot:
    """Everything a sync compares with the database, read in one go."""

    users: list[RouterUser]  # ours only
    active: list[ActiveSession]  # all of them
    hosts: list[Host]


@dataclass(frozen=True)
class Health:
    identity: str
    version: str
    uptime: int  # seconds since the router booted
    board: str
    users: int
    our_users: int
    active: int
    hosts: int


class Gateway(Protocol):
    async def grant(self, access: Access) -> ActiveSession:
        """Lets the device in for `access.seconds`; confirmed only when the router lists the session.
        Raises DeviceNotConnected when the device isn't on the hotspot."""

    async def extend(self, access: Access) -> ActiveSession | None:
        """Brings the router up to date with more paid time; logs the device in again if its session is
        shorter than that or gone. None when the device is away (it gets in when a sync finds it back)."""

    async def revoke(self, mac: str, session_id: int) -> int:
        """Ends the access that `session_id` gave `mac`; leaves alone whatever belongs to anyone else.
        Returns the bytes (both ways) the router had counted for that access; 0 if there was none."""

    async def usage(self, mac: str, session_id: int) -> int:
        """The bytes (both ways) the router has counted for the access `session_id` gave `mac`, changing
        nothing: read before a revoke, and kept, it survives a revoke whose answer is lost."""

    async def active_sessions(self) -> list[ActiveSession]: ...

    async def hosts(self) -> list[Host]: ...

    async def snapshot(self) -> Snapshot: ...

    async def health(self) -> Health: ...

    async def sync_profiles(self, profiles: list[Profile]) -> list[str]:
        """Creates or updates the hotspot user profiles of the tenant's packages; returns what it did."""

    async def provision(self, profiles: list[Profile], portal_url: str, login_page_url: str) -> list[str]:
        """Sets the router up for portal (profiles, walled garden, login page); returns what it did."""

    async def close(self) -> None: ...
