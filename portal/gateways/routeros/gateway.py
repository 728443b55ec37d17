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
flight; `_first_logins`). Anything else takes the long way, which reads what the router has first and
then writes what differs (`_converge_all`). Many devices go together, PIPELINE at a time: every step
is one round trip for all of them (500 grants at once, or 10,000 devices logged back in after a
reboot, cost the router a few hundred round trips, not thousands).

routeros-api is blocking and not thread-safe (one socket, one tag counter): each router gets one pool
and one single-thread executor, so its calls run one at a time, off the event loop.
"""

import asyncio
import ipaddress
import logging
import re
import secrets
import socket
import ssl
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, partial
from typing import Any
from urllib.parse import urlsplit

import routeros_api
from routeros_api.exceptions import RouterOsApiCommunicationError, RouterOsApiError

from ..base import Access, DeviceNotConnected, GatewayError, Grant, Health, Online, Plan, Snapshot, Target
from ..reach import Reach, address_within
from .durations import format_duration, parse_duration
from .rates import rate_limit

log = logging.getLogger(__name__)

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
# What a grant reads of a device's user and session: only that, as parsing the answers is most of what
# a batch costs us.
USER_PROPERTIES = ".id,comment,uptime,bytes-in,bytes-out"
SESSION_PROPERTIES = f".id,limit-bytes-total,{ONLINE_PROPERTIES}"
# Devices whose commands go out together, before any answer is read. routeros-api sends every command
# of a round trip before it reads an answer, so the answers must fit in our socket's receive buffer
# meanwhile (or the router stops, and then we do): 50 devices' answers are under 20 KB, where Linux
# buffers 128 KB by default. More would save little: at 50, the round trip is already a small part of
# each device's cost (its commands are encoded, run and answered one by one either way).
PIPELINE = 50


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


@cache
def tls_context() -> ssl.SSLContext:
    """For api-ssl. Routers carry self-signed certificates, or none at all, in which case RouterOS only
    speaks anonymous Diffie-Hellman (TLS 1.2, and OpenSSL allows it only at security level 0). So the
    link is encrypted but the router is not authenticated: keep the API on the LAN side. One context
    for every router and connection: it holds no state of a connection, and wraps sockets from any
    router's thread."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_ciphers("HIGH:!eNULL:@SECLEVEL=0")  # HIGH includes the anonymous suites
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    return context


@dataclass(frozen=True)
class Steps:
    """What one device needs written, and what it is then: `online` as read already, or, with
    `confirm`, the session the last write (a print after the login) lists."""

    writes: list[tuple[Callable[[], Any], bool]]  # (the command, whether "no such item" is fine)
    online: Online | None
    confirm: bool = False


class RouterOSGateway:
    def __init__(self, target: Target, reach: Reach):
        self.label = target.label
        self.hotspot_server = target.hotspot_server
        self._password = target.password
        self._host, self._port, self._reach = target.host, target.port, reach
        self._address = f"{target.host}:{target.port}"
        self._service = "api-ssl" if target.use_tls else "api"
        self._pool = routeros_api.RouterOsApiPool(
            target.host,
            target.username,
            target.password,
            target.port,
            plaintext_login=True,
            ssl_context=tls_context() if target.use_tls else None,
        )
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"router-{self.label}")
        # Touched only from the executor's thread: what this gateway knows of the router.
        self._profiles_seen: set[Plan] = set()
        self._astray: set[str] = set()  # devices whose last grant did not end in one round trip

    # -- the interface --

    async def grant(self, access: Access) -> Online:
        return settled(await self.grant_all([access]))

    async def grant_all(self, accesses: list[Access]) -> list[Online | GatewayError]:
        return await self._run(self._grant_all, accesses)

    async def extend(self, access: Access) -> Online | None:
        return settled(await self.extend_all([access]))

    async def extend_all(self, accesses: list[Access]) -> list[Online | GatewayError | None]:
        return await self._run(self._converge_all, accesses, False)

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
                failure = refusal(error)
            except (RouterOsApiError, OSError) as error:
                self._pool.disconnect()
                if reused and attempt == 1:
                    continue
                failure = self._outage(error)
            raise failure
        raise AssertionError("unreachable")

    def _connect(self) -> Any:
        if self._pool.connected:
            return self._pool.get_api()
        # Checked at every new connection, and the address checked is the one connected to: a name
        # pointed elsewhere since it was typed is refused too.
        self._pool.host = address_within(self._host, self._port, self._reach.networks)
        failure: GatewayError | None = None
        try:
            # A silent router must not hold a grant for routeros-api's default 15 s, nor one that never
            # takes the connection for as long as an answer may take.
            self._pool.socket_timeout = self._reach.connect_timeout
            api = self._pool.get_api()
            self._pool.set_timeout(self._reach.timeout)
            # Each round trip's commands leave in one go (Nagle's algorithm would hold the last one
            # for the router's delayed ACK, ~40 ms).
            self._pool.socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._pool.socket.socket = Corked(self._pool.socket.socket)
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
        """Refused, timed out, a TLS handshake that failed, a conversation broken off: to an owner all
        mean the same, and what to check is the same. What exactly happened goes to the log."""
        detail = f"{type(error).__name__}: {error}"
        if self._password:
            detail = detail.replace(self._password, "***")
        log.warning(
            "router unreachable",
            extra={"fields": {"router": self.label, "address": self._address, "detail": detail}},
        )
        return GatewayError(
            f"no RouterOS API answered at {self._address}: is the {self._service} service enabled"
            " and reachable from this box?",
            outage=True,
        )

    # -- the work, on the router's thread --

    def _grant_all(self, api: Any, accesses: list[Access]) -> list[Online | GatewayError]:
        """The usual grants each in one round trip (`_first_logins`, PIPELINE at a time); the others,
        and those that did not go through so, the long way (`_converge_all`)."""
        outcomes: dict[int, Online | GatewayError] = {}
        quick = [
            number
            for number, access in enumerate(accesses)
            # Astray until this works: a retry (the device away, an answer lost) takes the long way,
            # which reads before it writes and never logs a device in twice.
            if access.ip and access.plan in self._profiles_seen and access.mac not in self._astray
        ]
        for chunk in in_groups(quick, PIPELINE):
            for number, online in zip(
                chunk, self._first_logins(api, [accesses[n] for n in chunk]), strict=True
            ):
                if online is not None:
                    outcomes[number] = online
        rest = [number for number in range(len(accesses)) if number not in outcomes]
        converged = self._converge_all(api, [accesses[number] for number in rest], require_login=True)
        for number, outcome in zip(rest, converged, strict=True):
            assert outcome is not None  # a grant ends online or in an error, never away
            outcomes[number] = outcome
        return [outcomes[number] for number in range(len(accesses))]

    def _first_logins(self, api: Any, accesses: list[Access]) -> list[Online | None]:
        """Usual grants, all in one round trip: each device with no user of ours (its first purchase,
        or its last access revoked) gets its user, its login and the check of it, and every command of
        every device is sent before any answer is read. None for a device where the router is
        otherwise (a user there already, the device away): `_converge_all` then reads what is there and
        puts it right (the user this may have added is removed again first)."""
        users, active = api.get_resource(USERS), api.get_resource(ACTIVE)
        calls = []
        for access in accesses:
            name, password = access.mac, secrets.token_hex(12)
            self._astray.add(name)
            fields = self._user_fields(access, password, used=0, cap=access.data_cap_bytes)
            login = {"user": name, "password": password, "mac-address": name, "ip": access.ip}
            calls += [
                partial(users.add_async, name=name, **fields),
                partial(active.call_async, "login", login),
                lookup(active, ONLINE_PROPERTIES, user=name),
            ]
        answers = pipelined(calls)
        outcomes: list[Online | None] = []
        leftovers = []
        for access, (added, logged_in, confirmed) in zip(accesses, in_groups(answers, 3), strict=True):
            failed = isinstance(logged_in, RouterOsApiCommunicationError)
            if failed and not isinstance(added, RouterOsApiCommunicationError):
                leftovers.append(added.done_message["ret"])  # the device is away: leave nothing behind
            if failed or isinstance(added, RouterOsApiCommunicationError) or not confirmed:
                outcomes.append(None)
            else:
                self._astray.discard(access.mac)
                outcomes.append(as_online(confirmed[0]))
        # A leftover the router will not remove is still marked as ours: the long way takes it over.
        pipelined([partial(users.remove_async, id=entry_id) for entry_id in leftovers])
        return outcomes

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

    def _converge_all(
        self, api: Any, accesses: list[Access], require_login: bool
    ) -> list[Online | GatewayError | None]:
        """Grants or extensions step by step, PIPELINE devices at a time, each step one round trip for
        all of them: read what the router has, then change what differs. None for a device that is
        away (an extension waits for it)."""
        outcomes: list[Online | GatewayError | None] = []
        for chunk in in_groups(accesses, PIPELINE):
            outcomes += self._converge_chunk(api, list(chunk), require_login)
        return outcomes

    def _converge_chunk(
        self, api: Any, accesses: list[Access], require_login: bool
    ) -> list[Online | GatewayError | None]:
        hosts, users, active = (api.get_resource(path) for path in (HOSTS, USERS, ACTIVE))
        # First, and before anything is written: a device that left the Wi-Fi may stay away for days,
        # and each try at its grant then costs the router one read, not a config write.
        found = pipelined([lookup(hosts, "address", mac_address=access.mac) for access in accesses])
        outcomes: dict[int, Online | GatewayError | None] = {}
        here = []
        for number, access in enumerate(accesses):
            if require_login and not found[number]:
                outcomes[number] = DeviceNotConnected(access.mac)
            else:
                here.append(number)
        for plan in dict.fromkeys(accesses[number].plan for number in here):
            self._ensure_profile(api, plan)
        read = pipelined(
            [
                call
                for number in here
                for call in (
                    lookup(users, USER_PROPERTIES, name=accesses[number].mac),
                    lookup(active, SESSION_PROPERTIES, user=accesses[number].mac),
                )
            ]
        )
        steps: dict[int, Steps] = {}
        for number, (existing, sessions) in zip(here, in_groups(read, 2), strict=True):
            try:
                steps[number] = self._steps(
                    accesses[number], found[number], existing, sessions, require_login, users, active
                )
            except GatewayError as error:
                outcomes[number] = error
        answers = pipelined([call for each in steps.values() for call, _ in each.writes])
        position = 0
        for number, each in steps.items():
            mine = answers[position : position + len(each.writes)]
            position += len(each.writes)
            refused = next(
                (
                    answer
                    for (_, quiet), answer in zip(each.writes, mine, strict=True)
                    if isinstance(answer, RouterOsApiCommunicationError)
                    and not (quiet and "no such item" in trap_text(answer))
                ),
                None,
            )
            last = mine[-1] if mine else None
            access = accesses[number]
            if refused is not None:
                # The profile may be gone although this gateway made sure of it before (a router reset,
                # a spare swapped in, deleted by hand): the next try checks it again.
                self._profiles_seen.discard(access.plan)
                outcomes[number] = refusal(refused)
            elif each.confirm and not last:
                message = f"the router accepted the login of {access.mac} but lists no session"
                outcomes[number] = GatewayError(message, outage=False)
            else:
                outcomes[number] = as_online(last[0]) if each.confirm else each.online
                self._astray.discard(access.mac)
        return [outcomes[number] for number in range(len(accesses))]

    def _steps(
        self,
        access: Access,
        found: list[dict[str, str]],
        existing: list[dict[str, str]],
        sessions: list[dict[str, str]],
        require_login: bool,
        users: Any,
        active: Any,
    ) -> Steps:
        """What to write for one device, given what the router has (raises GatewayError when it must
        not be touched)."""
        name = access.mac
        owner = session_of(existing[0].get("comment")) if existing else None
        if existing and owner is None:
            raise GatewayError(
                f"the router has a hotspot user {name} that portal did not create", outage=False
            )
        writes: list[tuple[Callable[[], Any], bool]] = []  # (the command, whether "no such item" is fine)
        if existing and owner != access.session_id:
            # An earlier session's user (it ended or moved away; its revoke has not run yet). This one
            # starts on a fresh user, so the time and bytes the router counts on it, which its limits
            # are measured against, are this session's alone.
            writes += [(partial(active.remove_async, id=row["id"]), True) for row in sessions]
            writes.append((partial(users.remove_async, id=existing[0]["id"]), True))
            existing, sessions = [], []
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
            return Steps([], online=None)
        password = secrets.token_hex(12)
        fields = self._user_fields(access, password, used, cap)
        if existing:
            writes.append((partial(users.call_async, "set", {"id": existing[0]["id"], **fields}), False))
        else:
            writes.append((partial(users.add_async, name=name, **fields), False))
        # A session fixes its limits at login; one that already has enough time left, and the data cap
        # wanted now, is kept (this is also how a retried grant, whose first answer got lost, avoids a
        # second login).
        for row in sessions:
            if (
                row.get("mac-address") == name
                and time_left(row) >= access.seconds
                and row.get("limit-bytes-total", "0") == fields["limit_bytes_total"]
            ):
                return Steps(writes, online=as_online(row))
        if not found:
            return Steps(writes, online=None)
        address = next(
            (row["address"] for row in found if row.get("address") == access.ip), found[0]["address"]
        )
        writes += [(partial(active.remove_async, id=row["id"]), True) for row in sessions]
        login = {"user": name, "password": password, "mac-address": name, "ip": address}
        writes.append((partial(active.call_async, "login", login), False))
        writes.append((lookup(active, ONLINE_PROPERTIES, user=name), False))
        return Steps(writes, online=None, confirm=True)

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
        changes.append(self._ensure_walled_garden(api, portal_url))
        for directory in self._html_directories(api):
            destination = f"{directory}/login.html"
            try:
                api.get_resource("/tool").call("fetch", {"url": login_page_url, "dst-path": destination})
            except RouterOsApiCommunicationError as error:
                message = f"the router could not fetch {login_page_url}: {trap_text(error)}"
                raise GatewayError(message, outage=False) from None
            changes.append(f"login page fetched from {login_page_url} into {destination}")
        return changes

    def _ensure_walled_garden(self, api: Any, portal_url: str) -> str:
        """Devices that have not paid may reach the customers' pages, and only them: the port of the
        portal's URL, not the admin's (which listens on a port of its own on the same box)."""
        parts = urlsplit(portal_url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            wanted = {"dst_address": str(ipaddress.ip_address(host))}
        except ValueError:
            wanted = {"dst_host": host}
        wanted |= {"protocol": "tcp", "dst_port": str(port)}
        wanted |= {"action": "accept", "comment": WALLED_GARDEN_MARK}
        portal_host = f"{host}:{port}"
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


class Corked:
    """The socket routeros-api talks through, after the login. The library writes every word with a
    send() of its own, and reads each word with two recv() calls (its length's first byte, then the
    rest): 30 system calls for one row of a print, each a packet or a wait for the interpreter's lock.
    Here what it writes is held until it reads (so a round trip's commands go out together, whatever
    their number), and what it reads comes from a buffer filled 64 KB at a time."""

    def __init__(self, raw: socket.socket):
        self._raw = raw
        self._out: list[bytes] = []
        self._in = b""
        self._read = 0  # how much of `_in` has been handed out

    def sendall(self, data: bytes) -> None:
        self._out.append(data)

    def recv(self, size: int) -> bytes:
        if self._out:
            out, self._out = b"".join(self._out), []
            self._raw.sendall(out)
        if self._read == len(self._in):
            self._in, self._read = self._raw.recv(65536), 0
        data = self._in[self._read : self._read + size]
        self._read += len(data)
        return data

    def settimeout(self, timeout: float | None) -> None:
        self._raw.settimeout(timeout)

    def close(self) -> None:
        self._out = []
        self._raw.close()


def in_groups(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def lookup(resource: Any, properties: str, **query: str) -> Callable[[], Any]:
    """A print of just these properties (comma-separated) of the entries matching `query`, to send."""
    return partial(resource.call_async, "print", {".proplist": properties}, query)


def pipelined(calls: list[Callable[[], Any]]) -> list[Any]:
    """Sends every command (a routeros-api `…_async` call) before reading any answer, one round trip
    for all, then reads every answer, so the conversation stays in step; a refused command's answer
    is its trap (RouterOsApiCommunicationError)."""
    promises = [call() for call in calls]
    answers = []
    for promise in promises:
        try:
            answers.append(promise.get())
        except RouterOsApiCommunicationError as error:
            answers.append(error)
    return answers


def settled(outcomes: list[Any]) -> Any:
    """The one outcome of a batch of one, raised if it is an error."""
    (outcome,) = outcomes
    if isinstance(outcome, GatewayError):
        raise outcome
    return outcome


def trap_text(error: RouterOsApiCommunicationError) -> str:
    return error.original_message.decode("utf-8", "replace")


def refusal(error: RouterOsApiCommunicationError) -> GatewayError:
    """A trap: the router is fine, it refused this. Its message is the router's own words; str(error)
    would also hold our command, passwords included."""
    return GatewayError(f"the router refused: {trap_text(error)}", outage=False)


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
