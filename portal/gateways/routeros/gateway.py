"""The MikroTik transport: hotspot users logged in through the RouterOS API with `routeros-api`.

A plan is a hotspot user profile, `portal-p<package id>` (its speed the `rate-limit`, `shared-users=1`).
Grant = a hotspot user named after the MAC (so only that MAC can use it), a fresh random password, the
plan's profile, `limit-uptime` = the time already used + the paid time left + a little grace (the
router's own cap if portal dies), `limit-bytes-total` = the data the session has left for this device
(its data cap: a user profile has no byte limit), a comment that marks it as ours, then
`/ip/hotspot/active/login` with the device's address. The password is never stored: each login sets a
new one first.

Our mark is the comment `portal:s=<access session id>;exp=<UTC time>`. Only entries carrying it are
ever changed or removed, and a revoke only removes the user when the mark names the session being
revoked (a newer purchase by the same device owns the user from then on).

The usual grant (a device with no user of ours, on the hotspot now) is one round trip: the user, the
login and the check are sent together, tagged, before any answer is read (the API allows commands in
flight; `_first_login`). Anything else takes the long way, which reads what the router has first.

routeros-api is blocking and not thread-safe (one socket, one tag counter): each router gets one pool
and one single-thread executor, so its calls run one at a time, off the event loop.
"""

import asyncio
import ipaddress
import re
import secrets
import socket
import ssl
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import routeros_api
from routeros_api.exceptions import RouterOsApiCommunicationError, RouterOsApiError

from ..base import Access, DeviceNotConnected, GatewayError, Grant, Health, Online, Plan, Snapshot, Target
from .durations import format_duration, parse_duration
from .rates import rate_limit

GRACE_SECONDS = 120  # the router's cap runs this far past the paid time; portal ends access before it
MARK = re.compile(r"^portal:s=(\d+)(?:;|$)")
WALLED_GARDEN_MARK = "portal:walled-garden"
PROFILE_MARK = "portal:package"
USERS = "/ip/hotspot/user"
PROFILES = "/ip/hotspot/user/profile"
ACTIVE = "/ip/hotspot/active"
HOSTS = "/ip/hotspot/host"
COOKIES = "/ip/hotspot/cookie"
ONLINE_PROPERTIES = "mac-address,address,uptime,session-time-left,bytes-in,bytes-out"


def mark(session_id: int, until: datetime) -> str:
    return f"portal:s={session_id};exp={until.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}"


def session_of(comment: str | None) -> int | None:
    """The access session a user's comment names, or None when portal did not create the user."""
    match = MARK.match(comment or "")
    return int(match.group(1)) if match else None


def profile_name(plan: Plan) -> str:
    """Each package is one hotspot user profile on every router of its tenant (live routers carry
    these names: they must not change)."""
    return f"portal-p{plan.package_id}"


def tls_context() -> ssl.SSLContext:
    """For api-ssl. Routers carry self-signed certificates, or none at all, in which case RouterOS only
    speaks anonymous Diffie-Hellman (TLS 1.2, and OpenSSL allows it only at security level 0). So the
    link is encrypted but the router is not authenticated: keep the API on the LAN side."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_ciphers("HIGH:!eNULL:@SECLEVEL=0")  # HIGH includes the anonymous suites
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    return context


class RouterOSGateway:
    def __init__(self, target: Target, timeout: float):
        self.label = target.label
        self.hotspot_server = target.hotspot_server
        self._password = target.password
        self._pool = routeros_api.RouterOsApiPool(
            target.host,
            target.username,
            target.password,
            target.port,
            plaintext_login=True,
            ssl_context=tls_context() if target.use_tls else None,
        )
        # A silent router must not hold a grant for routeros-api's default 15 s.
        self._pool.socket_timeout = timeout
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"router-{self.label}")
        # Touched only from the executor's thread: what this gateway knows of the router.
        self._profiles_seen: set[Plan] = set()
        self._astray: set[str] = set()  # devices whose last grant did not end in one round trip

    # -- the interface --

    async def grant(self, access: Access) -> Online:
        online = await self._run(self._ensure_access, access, True)
        assert online is not None
        return online

    async def extend(self, access: Access) -> Online | None:
        return await self._run(self._ensure_access, access, False)

    async def revoke(self, mac: str, session_id: int) -> int:
        return await self._run(self._revoke, mac, session_id)

    async def usage(self, mac: str, session_id: int) -> int:
        return await self._run(self._usage, mac, session_id) or 0

    async def online(self) -> list[Online]:
        return await self._run(
            lambda api: [as_online(row) for row in print_only(api, ACTIVE, ONLINE_PROPERTIES)]
        )

    async def devices_at(self, address: str) -> set[str]:
        return await self._run(self._devices_at, address)

    async def snapshot(self) -> Snapshot:
        return await self._run(self._snapshot)

    async def health(self) -> Health:
        return await self._run(self._health)

    async def apply_plans(self, plans: list[Plan]) -> list[str]:
        return await self._run(self._apply_plans, plans)

    async def provision(self, plans: list[Plan], portal_url: str, login_page_url: str) -> list[str]:
        return await self._run(self._provision, plans, portal_url, login_page_url)

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._pool.disconnect)
        self._executor.shutdown(wait=False)

    # -- running blocking calls --

    async def _run(self, work: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._call, work, args)

    def _call(self, work: Callable[..., Any], args: tuple) -> Any:
        """Runs `work(api, *args)` on the router's thread; a connection that went stale (the router
        rebooted, a link dropped) is replaced and the work tried once more, which is safe because every
        operation converges."""
        for attempt in (1, 2):
            reused = self._pool.connected
            api = self._connect()
            failure: GatewayError | None = None
            try:
                return work(api, *args)
            except RouterOsApiCommunicationError as error:
                # A trap: the router is fine, it refused this. Its message is the router's own words;
                # str(error) would also hold our command, passwords included.
                failure = GatewayError(f"the router refused: {trap_text(error)}", outage=False)
            except (RouterOsApiError, OSError) as error:
                self._pool.disconnect()
                if reused and attempt == 1:
                    continue
                failure = self._outage(error)
            raise failure
        raise AssertionError("unreachable")

    def _connect(self) -> Any:
        failure: GatewayError | None = None
        try:
            if self._pool.connected:
                return self._pool.get_api()
            api = self._pool.get_api()
            # routeros-api writes every word with its own send(); with Nagle's algorithm each command
            # then waits for the router's delayed ACK (~40 ms instead of well under 1 ms).
            self._pool.socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return api
        except RouterOsApiCommunicationError:
            # The login's exception text holds the password: say what it means instead.
            failure = GatewayError(
                "the router refused the API login (check the user and password)", outage=True
            )
        except (RouterOsApiError, OSError) as error:
            failure = self._outage(error)
        # A failed login leaves routeros-api's socket open.
        self._pool.disconnect()
        raise failure

    def _outage(self, error: BaseException) -> GatewayError:
        if isinstance(error, ssl.SSLError):
            reason = f"TLS failed ({error.reason or type(error).__name__})"
        elif isinstance(error, routeros_api.exceptions.RouterOsApiConnectionClosedError):
            reason = "the router closed the connection"
        elif isinstance(error, routeros_api.exceptions.RouterOsApiConnectionError | OSError):
            reason = str(error.args[0] if error.args else type(error).__name__) or type(error).__name__
        else:
            reason = "the router broke off the API conversation"
        message = f"router {self.label} unreachable: {reason}"
        if self._password:
            message = message.replace(self._password, "***")
        return GatewayError(message, outage=True)

    # -- the work, on the router's thread --

    def _ensure_access(self, api: Any, access: Access, require_login: bool) -> Online | None:
        try:
            return self._write_access(api, access, require_login)
        except RouterOsApiCommunicationError:
            # The router refused: the profile may be gone although this gateway made sure of it before
            # (a router reset, a spare swapped in, deleted by hand). The next try checks it again.
            self._profiles_seen.discard(access.plan)
            raise

    def _write_access(self, api: Any, access: Access, require_login: bool) -> Online | None:
        if (
            require_login
            and access.ip
            and access.plan in self._profiles_seen
            and access.mac not in self._astray
        ):
            # Astray until this works: a retry (the device away, an answer lost) takes the long way,
            # which reads before it writes and never logs a device in twice.
            self._astray.add(access.mac)
            online = self._first_login(api, access)
            if online is not None:
                self._astray.discard(access.mac)
                return online
        online = self._converge(api, access, require_login)
        self._astray.discard(access.mac)
        return online

    def _first_login(self, api: Any, access: Access) -> Online | None:
        """The usual grant in one round trip: a device with no user of ours (its first purchase, or its
        last access revoked) gets its user, its login and the check of it, all sent before any answer is
        read. None when the router is otherwise (a user there already, the device away): `_converge`
        then reads what is there and puts it right (the user this may have added is marked as ours)."""
        name, password = access.mac, secrets.token_hex(12)
        users, active = api.get_resource(USERS), api.get_resource(ACTIVE)
        sent = [
            users.add_async(
                name=name, **self._user_fields(access, password, used=0, cap=access.data_cap_bytes)
            ),
            active.call_async(
                "login", {"user": name, "password": password, "mac-address": name, "ip": access.ip}
            ),
            active.get_async(user=name),
        ]
        answers = []
        for promise in sent:  # every answer is read, so the conversation stays in step
            try:
                answers.append(promise.get())
            except RouterOsApiCommunicationError:
                answers.append(None)
        added, logged_in, confirmed = answers
        if added is not None and logged_in is None:
            remove_quietly(users, added.done_message["ret"])  # the device is away: leave nothing behind
        if added is None or logged_in is None or not confirmed:
            return None
        return as_online(confirmed[0])

    def _user_fields(self, access: Access, password: str, used: int, cap: int | None) -> dict[str, str]:
        return {
            "password": password,
            "profile": profile_name(access.plan),
            "mac_address": access.mac,
            "limit_uptime": str(used + access.seconds + GRACE_SECONDS),
            "limit_bytes_total": "0" if cap is None else str(cap),  # 0: no limit
            "comment": mark(access.session_id, access.until),
            "server": self.hotspot_server,
            "disabled": "no",
        }

    def _converge(self, api: Any, access: Access, require_login: bool) -> Online | None:
        """A grant or an extension step by step: read what the router has, then change what differs."""
        name = access.mac
        # First, and before anything is written: a device that left the Wi-Fi may stay away for days,
        # and each try at its grant then costs the router one read, not a config write.
        found = api.get_resource(HOSTS).get(mac_address=name)
        if require_login and not found:
            raise DeviceNotConnected(name)
        self._ensure_profile(api, access.plan)
        users = api.get_resource(USERS)
        existing = users.get(name=name)
        owner = session_of(existing[0].get("comment")) if existing else None
        if existing and owner is None:
            raise GatewayError(
                f"the router has a hotspot user {name} that portal did not create", outage=False
            )
        active = api.get_resource(ACTIVE)
        if existing and owner != access.session_id:
            # An earlier session's user (it ended or moved away; its revoke has not run yet). This one
            # starts on a fresh user, so the time and bytes the router counts on it, which its limits
            # are measured against, are this session's alone.
            for row in active.get(user=name):
                remove_quietly(active, row["id"])
            remove_quietly(users, existing[0]["id"])
            existing = []
        sessions = active.get(user=name)
        # limit-uptime and limit-bytes-total count all the user's online time and traffic: what its
        # earlier logins used stays on it.
        used = sum(parse_duration(row.get("uptime", "0s")) for row in existing + sessions)
        moved = sum(bytes_moved(row) for row in existing + sessions)
        cap = access.data_cap_bytes
        if cap is not None and moved >= cap:
            # Its data is used up, so the router would refuse the login: it stays off (and nothing is
            # written) until more is bought.
            if require_login:
                raise GatewayError(f"device {name} has used up its data", outage=False)
            return None
        password = secrets.token_hex(12)
        fields = self._user_fields(access, password, used, cap)
        if existing:
            users.set(id=existing[0]["id"], **fields)
        else:
            users.add(name=name, **fields)
        # A session fixes its limits at login; one that already has enough time left, and the data cap
        # wanted now, is kept (this is also how a retried grant, whose first answer got lost, avoids a
        # second login).
        for row in sessions:
            if (
                row.get("mac-address") == name
                and time_left(row) >= access.seconds
                and row.get("limit-bytes-total", "0") == fields["limit_bytes_total"]
            ):
                return as_online(row)
        if not found:
            return None
        address = next(
            (row["address"] for row in found if row.get("address") == access.ip), found[0]["address"]
        )
        for row in sessions:
            remove_quietly(active, row["id"])
        active.call("login", {"user": name, "password": password, "mac-address": name, "ip": address})
        confirmed = active.get(user=name)
        if not confirmed:
            raise GatewayError(f"the router accepted the login of {name} but lists no session", outage=False)
        return as_online(confirmed[0])

    def _ensure_profile(self, api: Any, plan: Plan, changes: list[str] | None = None) -> None:
        if plan in self._profiles_seen and changes is None:
            return
        profiles = api.get_resource(PROFILES)
        name = profile_name(plan)
        found = profiles.get(name=name)
        current = found[0] if found else {}
        wanted = {
            "rate_limit": rate_limit(plan.speed, current.get("rate-limit", "")),
            "shared_users": "1",
            "comment": PROFILE_MARK,
        }
        if not found:
            profiles.add(name=name, **wanted)
            if changes is not None:
                changes.append(f"profile {name} created (rate limit {wanted['rate_limit'] or 'none'})")
        else:
            differs = {
                key: value for key, value in wanted.items() if current.get(key.replace("_", "-"), "") != value
            }
            if differs:
                profiles.set(id=current["id"], **differs)
            if changes is not None:
                changes.append(f"profile {name} {'updated' if differs else 'up to date'}")
        self._profiles_seen.add(plan)

    def _usage(self, api: Any, mac: str, session_id: int) -> int | None:
        """The bytes the access moved: its user's earlier logins, and the login active now. None when
        the user is someone else's, or a newer purchase's: not ours to end."""
        users = api.get_resource(USERS).get(name=mac)
        if any(session_of(user.get("comment")) != session_id for user in users):
            return None
        active = api.get_resource(ACTIVE).get(user=mac)
        return sum(bytes_moved(row) for row in users) + sum(bytes_moved(row) for row in active)

    def _revoke(self, api: Any, mac: str, session_id: int) -> int:
        moved = self._usage(api, mac, session_id)
        if moved is None:
            return 0
        # Removing the user does not end its session or forget its cookie: both go explicitly.
        for path, key in ((USERS, "name"), (ACTIVE, "user"), (COOKIES, "user")):
            resource = api.get_resource(path)
            for row in resource.get(**{key: mac}):
                remove_quietly(resource, row["id"])
        return moved

    def _devices_at(self, api: Any, address: str) -> set[str]:
        """The host table's devices at the address, as the hotspot knows it or as it translates it:
        both asked before either answer is read, so one round trip."""
        hosts = api.get_resource(HOSTS)
        sent = [hosts.get_async(address=address), hosts.get_async(to_address=address)]
        return {row["mac-address"] for promise in sent for row in promise.get()}

    def _snapshot(self, api: Any) -> Snapshot:
        # Only what a sync compares: on a busy router these prints are most of its cost.
        grants = [
            Grant(session_id, row["name"])
            for row in print_only(api, USERS, "name,comment")
            if (session_id := session_of(row.get("comment"))) is not None
        ]
        # A session is under one of our grants when its user is the device's MAC (see `grant`).
        sessions = print_only(api, ACTIVE, "user,mac-address")
        online = {row["mac-address"] for row in sessions if row.get("user") == row["mac-address"]}
        present = {row["mac-address"] for row in print_only(api, HOSTS, "mac-address")}
        return Snapshot(grants, online, present)

    def _health(self, api: Any) -> Health:
        identity = api.get_resource("/system/identity").get()[0]["name"]
        resource = api.get_resource("/system/resource").get()[0]
        comments = print_only(api, USERS, "comment")
        version = resource.get("version", "").removesuffix(" (stable)")
        board = resource.get("board-name") or "an unknown board"
        uptime = format_duration(parse_duration(resource.get("uptime", "0s")))
        ours = sum(session_of(row.get("comment")) is not None for row in comments)

        def count(path: str) -> int:
            return int(api.get_resource(path).call("print", {"count-only": None}).done_message["ret"])

        return Health(
            identity=identity,
            summary=[
                f"RouterOS {version} on {board}, up {uptime}",
                f"Hotspot users: {len(comments)} ({ours} made by portal)",
                f"Online now: {count(ACTIVE)} · devices on the hotspot: {count(HOSTS)}",
            ],
        )

    def _apply_plans(self, api: Any, plans: list[Plan]) -> list[str]:
        changes: list[str] = []
        for plan in plans:
            self._ensure_profile(api, plan, changes)
        return changes

    def _provision(self, api: Any, plans: list[Plan], portal_url: str, login_page_url: str) -> list[str]:
        changes = self._apply_plans(api, plans)
        changes.append(self._ensure_walled_garden(api, urlsplit(portal_url).hostname or ""))
        for directory in self._html_directories(api):
            destination = f"{directory}/login.html"
            try:
                api.get_resource("/tool").call("fetch", {"url": login_page_url, "dst-path": destination})
            except RouterOsApiCommunicationError as error:
                message = f"the router could not fetch {login_page_url}: {trap_text(error)}"
                raise GatewayError(message, outage=False) from None
            changes.append(f"login page fetched from {login_page_url} into {destination}")
        return changes

    def _ensure_walled_garden(self, api: Any, portal_host: str) -> str:
        """Devices that have not paid may reach the portal (layer 3, so any port and HTTPS too)."""
        try:
            wanted = {"dst_address": str(ipaddress.ip_address(portal_host))}
        except ValueError:
            wanted = {"dst_host": portal_host}
        wanted |= {"action": "accept", "comment": WALLED_GARDEN_MARK}
        garden = api.get_resource("/ip/hotspot/walled-garden/ip")
        entries = garden.get(comment=WALLED_GARDEN_MARK)
        for extra in entries[1:]:
            remove_quietly(garden, extra["id"])
        if not entries:
            garden.add(**wanted)
            return f"walled garden opened to {portal_host}"
        current = entries[0]
        if all(current.get(key.replace("_", "-")) == value for key, value in wanted.items()):
            return f"walled garden already open to {portal_host}"
        # Only one of dst-address / dst-host may stay.
        stale = {key: None for key in ("dst_address", "dst_host") if key not in wanted}
        garden.set(id=current["id"], **wanted, **stale)
        return f"walled garden moved to {portal_host}"

    def _html_directories(self, api: Any) -> list[str]:
        """Where our hotspot servers read their pages: each one's server profile's html-directory."""
        servers = api.get_resource("/ip/hotspot").get()
        if self.hotspot_server != "all":
            servers = [row for row in servers if row.get("name") == self.hotspot_server]
        if not servers:
            raise GatewayError(f"the router has no hotspot server {self.hotspot_server}", outage=False)
        directories = []
        server_profiles = api.get_resource("/ip/hotspot/profile")
        for server in servers:
            found = server_profiles.get(name=server.get("profile", "default"))
            directory = (found[0].get("html-directory") if found else None) or "hotspot"
            if directory not in directories:
                directories.append(directory)
        return directories


def trap_text(error: RouterOsApiCommunicationError) -> str:
    return error.original_message.decode("utf-8", "replace")


def remove_quietly(resource: Any, entry_id: str) -> None:
    """Removes one entry; one that is already gone counts as removed."""
    try:
        resource.remove(id=entry_id)
    except RouterOsApiCommunicationError as error:
        if "no such item" not in trap_text(error):
            raise


def print_only(api: Any, path: str, properties: str) -> list[dict[str, str]]:
    """Every row of `path` with just these properties (comma-separated)."""
    return api.get_resource(path).call("print", {".proplist": properties})


def time_left(row: dict[str, str]) -> int:
    return parse_duration(row["session-time-left"]) if "session-time-left" in row else 0


def bytes_moved(row: dict[str, str]) -> int:
    """Both ways, as a user or an active session counts them (0 for entries that count none)."""
    return int(row.get("bytes-in", "0")) + int(row.get("bytes-out", "0"))


def as_online(row: dict[str, str]) -> Online:
    """An active session; the router's bytes-in are what it received, so what the device sent."""
    return Online(
        mac=row.get("mac-address", ""),
        ip=row.get("address", ""),
        uptime=parse_duration(row.get("uptime", "0s")),
        time_left=parse_duration(row["session-time-left"]) if "session-time-left" in row else None,
        bytes_up=int(row.get("bytes-in", "0")),
        bytes_down=int(row.get("bytes-out", "0")),
    )
