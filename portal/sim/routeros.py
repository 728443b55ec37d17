"""A MikroTik router as far as portal can tell: the RouterOS API over TCP, with hotspot semantics.

It speaks the binary API (length-prefixed words, tagged replies, `!trap` then `!done`, `!empty` from
7.18, plaintext and legacy logins) well enough for `routeros-api` and `librouteros`, keeps the menus a
hotspot billing box touches as tables with `*HEX` ids that are never reused, and runs the hotspot on an
injected clock: `limit-uptime` ends sessions when the clock passes it, `shared-users` is counted, and a
reboot forgets sessions and hosts but keeps users.

Where MikroTik's behaviour is not documented, the emulator takes the reading that is harder on its
client, so portal is tested against the worse case:
- a user's limits are fixed into a session at login; changing or removing the user later changes
  nothing for that session (only `active/remove` ends it);
- a reboot counts each session's uptime against its user, like a logout;
- `active/login` for a host that is not in the host table fails.

Test hooks are methods (`connect_device`, `reboot`, `drop_connections`, `hold_replies`, `inject_trap`,
`down`, ...); oracles are `has_access`, `active_sessions`, `logins`, `ended` and the `sentences` wire log.
"""

import asyncio
import contextlib
import hashlib
import itertools
import re
import secrets
import ssl
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from ..clock import Clock
from ..gateways.base import normalize_mac as as_mac
from ..gateways.routeros.durations import format_duration, parse_duration

MAX_WORD = 1 << 24  # a word longer than this is an attack or a bug, not a command
EMPTY_SINCE = (7, 18)  # RouterOS answers a print that matches nothing with `!empty` from 7.18 on
BAD_LOGIN = "invalid user name or password (6)"
PRINT_OPTIONS = {".proplist", "count-only", "detail", "without-paging", "terse", "brief", "stats", "follow"}


# -- the wire: words and sentences ---------------------------------------------------------------------


class ProtocolError(Exception):
    """The peer sent something that is not the API protocol; the connection is closed."""


def encode_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    if length < 0x4000:
        return (length | 0x8000).to_bytes(2, "big")
    if length < 0x200000:
        return (length | 0xC00000).to_bytes(3, "big")
    if length < 0x10000000:
        return (length | 0xE0000000).to_bytes(4, "big")
    return b"\xf0" + length.to_bytes(4, "big")


def encode_sentence(words: Iterable[str]) -> bytes:
    out = bytearray()
    for word in words:
        data = word.encode("utf-8", "surrogateescape")
        out += encode_length(len(data))
        out += data
    out += b"\x00"
    return bytes(out)


async def read_length(reader: asyncio.StreamReader) -> int:
    first = (await reader.readexactly(1))[0]
    if first < 0x80:
        return first
    if first < 0xC0:
        extra, value = 1, first & 0x3F
    elif first < 0xE0:
        extra, value = 2, first & 0x1F
    elif first < 0xF0:
        extra, value = 3, first & 0x0F
    elif first == 0xF0:
        extra, value = 4, 0
    else:
        raise ProtocolError(f"control byte {first:#04x}")
    for byte in await reader.readexactly(extra):
        value = value << 8 | byte
    return value


async def read_sentence(reader: asyncio.StreamReader) -> list[str]:
    """The words up to the next zero-length word; bytes are kept as they came (surrogateescape)."""
    words = []
    while length := await read_length(reader):
        if length > MAX_WORD:
            raise ProtocolError(f"word of {length} bytes")
        words.append((await reader.readexactly(length)).decode("utf-8", "surrogateescape"))
    return words


@dataclass
class Command:
    word: str  # e.g. /ip/hotspot/user/add
    args: dict[str, str] = field(default_factory=dict)
    queries: list[str] = field(default_factory=list)
    tag: str = ""

    @property
    def path(self) -> str:
        return self.word.rpartition("/")[0]

    @property
    def verb(self) -> str:
        return self.word.rpartition("/")[2]


def parse_command(words: list[str]) -> Command:
    command = Command(words[0])
    for word in words[1:]:
        if word.startswith("="):
            # `=name=value`, or `=name` for an empty value (routeros-api sends that); the value may hold `=`.
            name, _, value = word[1:].partition("=")
            command.args[name] = value
        elif word.startswith("?"):
            command.queries.append(word[1:])
        elif word.startswith(".tag="):
            command.tag = word[5:]
        # Other API attributes (`.name=`) mean nothing to us, and RouterOS ignores stray words too.
    return command


# -- values --------------------------------------------------------------------------------------------


class Seconds(int):
    """A duration, printed the RouterOS way (1w2d3h4m5s)."""


def as_duration(text: str) -> Seconds:
    return Seconds(parse_duration(text))


def as_bool(text: str) -> bool:
    if text.lower() in {"yes", "true"}:
        return True
    if text.lower() in {"no", "false"}:
        return False
    raise ValueError(text)


def as_count(text: str) -> int:
    if not text.isdigit():
        raise ValueError(text)
    return int(text)


def as_text(text: str) -> str:
    return text


def as_duration_or_none(text: str) -> str:
    return "none" if text == "none" else format_duration(parse_duration(text))


def render(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Seconds):
        return format_duration(value)
    return str(value)


def shown(value: Any) -> str:
    """A stored value as print shows it; an unset one counts as empty in queries."""
    return "" if value is None else render(value)


# -- tables --------------------------------------------------------------------------------------------


class Trap(Exception):
    """A command the router refuses: `!trap =message=...` then `!done`."""

    def __init__(self, message: str, category: int | None = None):
        super().__init__(message)
        self.message = message
        self.category = category


class Fatal(Exception):
    """The router ends the session: an untagged `!fatal` with a bare reason word, then it closes."""


@dataclass
class Reply:
    rows: list[dict[str, str]] = field(default_factory=list)
    ret: str | None = None
    listing: bool = False  # a print: nothing found means `!empty` on 7.18+


class Table:
    """One menu's entries. `fields` maps every property to the function that reads it from the wire;
    `readonly` ones are shown but not accepted in add/set."""

    def __init__(
        self,
        router: "RouterEmulator",
        fields: dict[str, Callable[[str], Any]],
        *,
        verbs: Iterable[str] = ("print", "getall", "add", "set", "remove", "enable", "disable"),
        readonly: Iterable[str] = (),
        defaults: dict[str, Any] | None = None,
        required: Iterable[str] = (),
        unique: tuple[str, str] | None = None,
        indexed: Iterable[str] = (),
    ):
        self.router = router
        self.fields = fields
        self.verbs = set(verbs)
        self.readonly = set(readonly)
        self.defaults = defaults or {}
        self.required = tuple(required)
        self.unique = unique  # (property, the trap when a second entry would share it)
        self.rows: dict[str, dict[str, Any]] = {}
        # Entries by the value of a property (by name wherever entries have one), so a router with
        # thousands of users, hosts and sessions finds one as fast as a router with ten: the time a
        # benchmark measures is then portal's, not the emulator's scans.
        keys = {*indexed, *(["name"] if "name" in fields else [])}
        self._index: dict[str, dict[Any, dict[str, dict[str, Any]]]] = {key: {} for key in keys}

    computed: frozenset[str] = frozenset()  # properties `show` works out when printing

    def parse(self, args: dict[str, str]) -> dict[str, Any]:
        values = {}
        for name, text in args.items():
            if name in {".id", "numbers"}:
                continue
            convert = self.fields.get(name)
            if convert is None or name in self.readonly:
                raise Trap(f"unknown parameter {name}")
            if text == "" and convert is not as_text:
                values[name] = None  # an empty value unsets the property
                continue
            try:
                values[name] = convert(text)
            except ValueError:
                raise Trap(f"invalid value for argument {name}", 1) from None
        return values

    def check(self, values: dict[str, Any], changing: list[dict[str, Any]]) -> None:
        """Refuses values that conflict with other entries (overridden for menu-specific rules)."""
        if self.unique and values.get(self.unique[0]) is not None:
            key, message = self.unique
            if key in self._index:
                if any(row not in changing for row in self.having(key, values[key])):
                    raise Trap(message)
            elif any(row.get(key) == values[key] for row in self.rows.values() if row not in changing):
                raise Trap(message)

    def add(self, args: dict[str, str]) -> dict[str, Any]:
        values = self.parse(args)
        missing = [name for name in self.required if values.get(name) in {None, ""}]
        if missing:
            raise Trap(f"missing value(s) of argument(s) {' '.join(missing)}", 1)
        values |= {name: value for name, value in self.defaults.items() if name not in values}
        self.check(values, [])
        return self.insert(values)

    def insert(self, values: dict[str, Any], row_id: str | None = None) -> dict[str, Any]:
        row = {".id": row_id or self.router.new_id()}
        row |= {key: value for key, value in values.items() if value is not None or key.startswith("_")}
        self.rows[row[".id"]] = row
        self._add_to_index(row)
        return row

    def _add_to_index(self, row: dict[str, Any]) -> None:
        for key, entries in self._index.items():
            if row.get(key) is not None:
                entries.setdefault(row[key], {})[row[".id"]] = row

    def _drop_from_index(self, row: dict[str, Any]) -> None:
        for key, entries in self._index.items():
            same = entries.get(row.get(key))
            if same is not None:
                same.pop(row[".id"], None)
                if not same:
                    del entries[row[key]]

    def having(self, key: str, value: Any) -> list[dict[str, Any]]:
        """The entries whose indexed property `key` is `value`, oldest first."""
        return list(self._index[key].get(value, {}).values())

    def named(self, name: str) -> dict[str, Any] | None:
        return next(iter(self._index["name"].get(name, {}).values()), None)

    def update(self, row: dict[str, Any], values: dict[str, Any]) -> None:
        """Changes an entry's properties (None unsets one), keeping the indexes right."""
        self._drop_from_index(row)
        for name, value in values.items():
            if value is None:
                row.pop(name, None)
            else:
                row[name] = value
        self._add_to_index(row)

    def resolve(self, args: dict[str, str]) -> list[dict[str, Any]]:
        """`.id` or `numbers`: a comma list of `*HEX` ids or, where entries have names, names."""
        reference = args.get(".id") or args.get("numbers") or ""
        rows = []
        for part in reference.split(","):
            row = self.rows.get(part) or (self.named(part) if part and "name" in self.fields else None)
            if row is None:
                raise Trap("no such item")
            rows.append(row)
        return rows

    def set(self, args: dict[str, str]) -> None:
        rows = self.resolve(args)
        values = self.parse(args)
        self.check(values, rows)
        for row in rows:
            self.update(row, values)

    def remove(self, args: dict[str, str]) -> None:
        for row in self.resolve(args):
            self.delete(row)

    def delete(self, row: dict[str, Any]) -> None:
        """What `remove` does to an entry (some menus do more than forget it)."""
        self.forget(row)

    def forget(self, row: dict[str, Any]) -> None:
        if self.rows.pop(row[".id"], None) is not None:
            self._drop_from_index(row)

    def clear(self) -> None:
        self.rows.clear()
        for entries in self._index.values():
            entries.clear()

    def show(self, row: dict[str, Any]) -> dict[str, str]:
        """The row as print shows it; keys starting with `_` are the emulator's own bookkeeping."""
        return {key: render(value) for key, value in row.items() if not key.startswith("_")}

    def candidates(self, queries: list[str]) -> list[dict[str, Any]]:
        """The rows that can pass `queries`, found without printing every row: a plain `?name=value`
        query word must hold when no `?#` operation can undo it. (An optimization for big tables; the
        full query still runs on what is left.)"""
        if any(query.startswith("#") for query in queries):
            return list(self.rows.values())
        wanted = []
        for query in queries:
            name, has_value, value = query.removeprefix("=").partition("=")
            if has_value and name[:1] not in {"-", "<", ">"} and name not in self.computed:
                wanted.append((name, self.normalize(name, value)))
        indexed = [(name, value) for name, value in wanted if name in self._index]
        rows = self.having(*indexed[0]) if indexed else list(self.rows.values())
        for name, value in wanted:
            rows = [
                row
                for row in rows
                if (stored := row.get(name)) == value or (type(stored) is not str and shown(stored) == value)
            ]
        return rows

    def normalize(self, name: str, value: str) -> str:
        """A query value in the form print shows, so `?mac-address=aa:bb:…` finds `AA:BB:…`."""
        convert = self.fields.get(name)
        if convert is None or convert is as_text:
            return value
        try:
            return render(convert(value))
        except ValueError:
            return value


class UserTable(Table):
    def check(self, values: dict[str, Any], changing: list[dict[str, Any]]) -> None:
        super().check(values, changing)
        profile = values.get("profile")
        if profile is not None and self.router.profiles.named(profile) is None:
            raise Trap("input does not match any value of profile", 1)


class ProfileTable(Table):
    def delete(self, row: dict[str, Any]) -> None:
        if row.get("default"):
            raise Trap("cannot remove default profile")
        super().delete(row)


class BindingTable(Table):
    def check(self, values: dict[str, Any], changing: list[dict[str, Any]]) -> None:
        mac = values.get("mac-address")
        if mac and any(row.get("mac-address") == mac for row in self.rows.values() if row not in changing):
            raise Trap("such client already exists")


class ActiveTable(Table):
    computed = frozenset(
        {"uptime", "session-time-left", "bytes-in", "bytes-out", "packets-in", "packets-out"}
    )

    def delete(self, row: dict[str, Any]) -> None:
        self.router.end_session(row, self.router.clock.now(), "admin-reset")

    def show(self, row: dict[str, Any]) -> dict[str, str]:
        now = self.router.clock.now()
        shown = super().show(row)
        shown["uptime"] = format_duration((now - row["_login_at"]).total_seconds())
        if row["_ends_at"] is not None:
            shown["session-time-left"] = format_duration((row["_ends_at"] - now).total_seconds())
        for name in ("bytes-in", "bytes-out", "packets-in", "packets-out"):
            shown[name] = str(row[f"_{name}"])
        return shown


class HostTable(Table):
    computed = frozenset({"uptime", "authorized", "bypassed"})

    def show(self, row: dict[str, Any]) -> dict[str, str]:
        shown = super().show(row)
        shown["uptime"] = format_duration((self.router.clock.now() - row["_since"]).total_seconds())
        shown["authorized"] = render(self.router.session_of_mac(row["mac-address"]) is not None)
        shown["bypassed"] = render(self.router.bypassed(row["mac-address"]))
        return shown


class CookieTable(Table):
    computed = frozenset({"expires-in"})

    def show(self, row: dict[str, Any]) -> dict[str, str]:
        shown = super().show(row)
        shown["expires-in"] = format_duration((row["_expires_at"] - self.router.clock.now()).total_seconds())
        return shown


# -- the router ----------------------------------------------------------------------------------------


@dataclass
class Console:
    """What a connection knows about itself: whether it has logged in, and the challenge it was given."""

    logged_in: bool = False
    challenge: bytes = b""


class _Connection:
    def __init__(self, router: "RouterEmulator", reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.router = router
        self.reader = reader
        self.writer = writer
        self.console = Console()
        self.held: list[bytes] = []
        self._outgoing: list[bytes] = []

    def send(self, data: bytes) -> None:
        """Answers go out once per turn of the event loop, together: commands a client sent in one go
        (pipelined) are all answered in one turn, and a system call per answer would cost a client in
        the same process (the tests, the benchmarks) a wait for the interpreter's lock each time."""
        if self.router.holding:
            self.held.append(data)
            return
        if not self._outgoing:
            asyncio.get_running_loop().call_soon(self.flush)
        self._outgoing.append(data)

    def flush(self) -> None:
        data, self._outgoing = b"".join(self._outgoing), []
        if data and not self.writer.is_closing():
            self.writer.write(data)

    def release(self) -> None:
        held, self.held = self.held, []
        if not self.writer.is_closing():
            for data in held:
                self.writer.write(data)

    async def serve(self) -> None:
        try:
            while True:
                words = await read_sentence(self.reader)
                if not words:
                    continue  # empty sentences are ignored
                self.router.sentences.append(words)
                try:
                    command = parse_command(words)
                    answer = await self.router.answer(self.console, command)
                    self.send(b"".join(map(encode_sentence, answer)))
                except Fatal as fatal:
                    self.send(encode_sentence(["!fatal", str(fatal)]))
                    return
                await self.writer.drain()
        except (asyncio.IncompleteReadError, ProtocolError, OSError):
            return
        finally:
            self.flush()
            self.router.connections.discard(self)
            self.writer.close()


class RouterEmulator:
    def __init__(
        self,
        clock: Clock,
        *,
        users: dict[str, str] | None = None,
        identity: str = "MikroTik",
        version: str = "7.18.2",
        login_mode: str = "modern",
        ssl_context: ssl.SSLContext | None = None,
    ):
        if login_mode not in {"modern", "legacy", "both"}:
            raise ValueError("login_mode is modern (6.45.1+), both (6.43-6.45.0) or legacy (before 6.43)")
        self.clock = clock
        self.accounts = dict(users if users is not None else {"admin": "secret"})
        self.identity = identity
        self.version = version
        self.login_mode = login_mode
        self.ssl_context = ssl_context
        self.sentences: deque[list[str]] = deque(maxlen=10_000)  # every sentence received, newest last
        self.logins: list[dict[str, Any]] = []  # every session that started: user, mac, at
        self.ended: list[dict[str, Any]] = []  # every session that ended: user, mac, cause, at, uptime
        self.files: dict[str, bytes] = {}
        self.connections: set[_Connection] = set()
        self.holding = False
        self.port = 0
        self._host = "127.0.0.1"
        self._server: asyncio.Server | None = None
        self._ticker: asyncio.Task | None = None
        self._handlers: set[asyncio.Task] = set()
        self._traps: dict[str, Trap] = {}
        self._fatal: dict[str, str] = {}
        self._hold_after: str | None = None
        self._next_end: datetime | None = None  # the earliest time a session ends by itself
        self._ids = itertools.count(1)
        self._booted_at = clock.now()
        self._build_tables()

    def _build_tables(self) -> None:
        time, count, text, flag, mac = as_duration, as_count, as_text, as_bool, as_mac
        self.servers = Table(
            self,
            {"name": text, "interface": text, "address-pool": text, "profile": text, "disabled": flag},
            verbs=("print", "getall"),
        )
        self.servers.insert(
            {"name": "hotspot1", "interface": "bridge", "address-pool": "hs-pool-1", "profile": "hsprof1"}
            | {"idle-timeout": "5m", "keepalive-timeout": "none", "disabled": False}
        )
        self.server_profiles = Table(
            self,
            {"name": text, "html-directory": text, "login-by": text, "hotspot-address": text}
            | {"dns-name": text, "use-radius": flag, "default": flag},
            readonly=("default",),
            required=("name",),
            unique=("name", "failure: profile with the same name already exists"),
        )
        self.server_profiles.insert({"name": "default", "html-directory": "hotspot", "default": True})
        self.server_profiles.insert(
            {"name": "hsprof1", "html-directory": "flash/hotspot", "login-by": "cookie,http-chap,http-pap"}
            | {"hotspot-address": "10.5.50.1", "dns-name": "", "use-radius": False, "default": False}
        )
        self.profiles = ProfileTable(
            self,
            {"name": text, "rate-limit": text, "shared-users": count, "session-timeout": time}
            | {"idle-timeout": as_duration_or_none, "keepalive-timeout": as_duration_or_none}
            | {"status-autorefresh": time, "add-mac-cookie": flag, "mac-cookie-timeout": time}
            | {"on-login": text, "on-logout": text, "address-list": text, "comment": text}
            | {"transparent-proxy": flag, "open-status-page": text, "default": flag},
            verbs=("print", "getall", "add", "set", "remove"),
            readonly=("default",),
            defaults={"shared-users": 1, "add-mac-cookie": True, "mac-cookie-timeout": Seconds(3 * 86400)},
            required=("name",),
            unique=("name", "failure: profile with the same name already exists"),
        )
        self.profiles.insert(
            {
                "name": "default",
                "default": True,
                "shared-users": 1,
                "idle-timeout": "none",
                "keepalive-timeout": "2m",
                "status-autorefresh": Seconds(60),
                "add-mac-cookie": True,
                "mac-cookie-timeout": Seconds(3 * 86400),
                "transparent-proxy": True,
                "open-status-page": "always",
            },
            row_id="*0",
        )
        self.users = UserTable(
            self,
            {"name": text, "password": text, "profile": text, "server": text, "mac-address": mac}
            | {"limit-uptime": time, "limit-bytes-in": count, "limit-bytes-out": count}
            | {"limit-bytes-total": count, "comment": text, "email": text, "disabled": flag}
            | {"address": text, "routes": text, "uptime": time, "bytes-in": count, "bytes-out": count}
            | {"packets-in": count, "packets-out": count, "dynamic": flag},
            readonly=("uptime", "bytes-in", "bytes-out", "packets-in", "packets-out", "dynamic"),
            defaults={"server": "all", "profile": "default", "disabled": False, "uptime": Seconds(0)}
            | {"bytes-in": 0, "bytes-out": 0, "packets-in": 0, "packets-out": 0, "dynamic": False},
            required=("name",),
            unique=("name", "failure: already have user with this name for this server"),
        )
        self.hosts = HostTable(
            self,
            {"mac-address": mac, "address": text, "to-address": text, "server": text, "comment": text}
            | {"idle-time": time, "bytes-in": count, "bytes-out": count, "found-by": text},
            verbs=("print", "getall", "remove"),
            indexed=("mac-address", "address"),
        )
        self.bindings = BindingTable(
            self,
            {"mac-address": mac, "address": text, "to-address": text, "server": text, "comment": text}
            | {"type": as_binding_type, "disabled": flag},
            defaults={"server": "all", "disabled": False},
        )
        self.active = ActiveTable(
            self,
            {"server": text, "user": text, "address": text, "mac-address": mac, "login-by": text}
            | {"uptime": time, "idle-time": time, "session-time-left": time, "radius": flag, "blocked": flag}
            | {"bytes-in": count, "bytes-out": count, "packets-in": count, "packets-out": count},
            verbs=("print", "getall", "remove", "login"),
            indexed=("user", "mac-address"),
        )
        self.cookies = CookieTable(
            self,
            {"user": text, "domain": text, "mac-address": mac, "expires-in": time, "mac-cookie": flag},
            verbs=("print", "getall", "remove"),
            indexed=("user", "mac-address"),
        )
        self.walled_garden = Table(
            self,
            {"dst-host": text, "path": text, "method": text, "action": as_allow_deny, "server": text}
            | {"src-address": text, "dst-port": text, "comment": text, "disabled": flag},
            defaults={"action": "allow", "disabled": False},
        )
        self.walled_garden_ip = Table(
            self,
            {"dst-address": text, "dst-host": text, "dst-port": text, "protocol": text, "server": text}
            | {"src-address": text, "action": as_accept_drop, "comment": text, "disabled": flag},
            defaults={"action": "accept", "disabled": False},
        )
        self.file_table = Table(
            self,
            {"name": text, "type": text, "size": count, "creation-time": text, "contents": text},
            verbs=("print", "getall", "remove"),
        )
        self.menus: dict[str, Table] = {
            "/ip/hotspot": self.servers,
            "/ip/hotspot/profile": self.server_profiles,
            "/ip/hotspot/user/profile": self.profiles,
            "/ip/hotspot/user": self.users,
            "/ip/hotspot/host": self.hosts,
            "/ip/hotspot/ip-binding": self.bindings,
            "/ip/hotspot/active": self.active,
            "/ip/hotspot/cookie": self.cookies,
            "/ip/hotspot/walled-garden": self.walled_garden,
            "/ip/hotspot/walled-garden/ip": self.walled_garden_ip,
            "/file": self.file_table,
        }

    def new_id(self) -> str:
        return f"*{next(self._ids):X}"

    # -- serving --

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        await self._listen(port)
        self._ticker = asyncio.create_task(self._tick_forever())

    async def _listen(self, port: int) -> None:
        self._server = await asyncio.start_server(self._accept, self._host, port, ssl=self.ssl_context)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._ticker:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        await self.down()
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=5)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = _Connection(self, reader, writer)
        self.connections.add(connection)
        task = asyncio.current_task()
        self._handlers.add(task)
        try:
            await connection.serve()
        finally:
            self._handlers.discard(task)

    async def _tick_forever(self) -> None:
        while True:
            await self.clock.sleep(1)
            self.tick()

    # -- test hooks --

    async def down(self) -> None:
        """Unreachable: connections are cut and new ones refused until `up()`."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        self.drop_connections()
        if server is not None:
            await server.wait_closed()

    async def up(self) -> None:
        if self._server is None:
            await self._listen(self.port)

    def drop_connections(self) -> None:
        for connection in list(self.connections):
            connection.held.clear()
            connection.writer.transport.abort()
        self.connections.clear()

    def hold_replies(self, after: str | None = None) -> None:
        """Commands still run, but their answers wait for `release_replies()`: a client with a short
        socket timeout gives up although the router did what it asked. With `after`, holding starts
        with the answer to the next such command (e.g. /ip/hotspot/active/login)."""
        if after is None:
            self.holding = True
        self._hold_after = after

    def release_replies(self) -> None:
        self.holding = False
        for connection in list(self.connections):
            connection.release()

    def inject_trap(self, command: str, message: str, category: int | None = None) -> None:
        """The next `command` (e.g. /ip/hotspot/active/login) is refused with `message`."""
        self._traps[command] = Trap(message, category)

    def inject_fatal(self, command: str, reason: str = "session terminated on request") -> None:
        """The next `command` gets an untagged `!fatal` with a bare reason word, and the connection ends."""
        self._fatal[command] = reason

    def reboot(self) -> None:
        """Sessions, hosts and cookies are gone; users, profiles and the rest of the setup stay."""
        now = self.clock.now()
        self.tick()
        for row in list(self.active.rows.values()):
            self.end_session(row, now, "reboot")
        self.hosts.clear()
        self.cookies.clear()
        self.drop_connections()
        self._booted_at = now

    def connect_device(
        self, mac: str, ip: str, server: str = "hotspot1", to_address: str | None = None
    ) -> dict[str, str]:
        """A Wi-Fi client appears in the host table (or moves to a new address). `to_address`: the
        address the hotspot translates it to (a server with an address pool); its own by default."""
        mac = as_mac(mac)
        found = self.hosts.having("mac-address", mac)
        if not found:
            row = self.hosts.insert(
                {"mac-address": mac, "address": ip, "to-address": to_address or ip, "server": server}
                | {"found-by": "DHCP", "idle-time": Seconds(0), "_since": self.clock.now()}
            )
        else:
            row = found[0]
            self.hosts.update(row, {"address": ip, "to-address": to_address or ip, "server": server})
        return self.hosts.show(row)

    def traffic(self, mac: str, bytes_in: int, bytes_out: int) -> None:
        """The device moves bytes through its session; a user's byte limits end it."""
        session = self.session_of_mac(as_mac(mac))
        if session is None:
            return
        session["_bytes-in"] += bytes_in
        session["_bytes-out"] += bytes_out
        session["_packets-in"] += max(1, bytes_in // 1500)
        session["_packets-out"] += max(1, bytes_out // 1500)
        moved_before = session["_moved-before"]
        if self._over_byte_limit(
            session, moved_before[0] + session["_bytes-in"], moved_before[1] + session["_bytes-out"]
        ):
            self.end_session(session, self.clock.now(), "traffic-limit")

    def console(self, word: str, args: dict[str, str] | None = None, queries: Iterable[str] = ()) -> Reply:
        """Runs a command as an operator at the router's terminal would (no wire, no login)."""
        self.tick()
        return self.execute(Command(word, dict(args or {}), list(queries)))

    # -- oracles --

    def has_access(self, mac: str) -> bool:
        self.tick()
        mac = as_mac(mac)
        return self.session_of_mac(mac) is not None or self.bypassed(mac)

    def active_sessions(self) -> list[dict[str, str]]:
        self.tick()
        return [self.active.show(row) for row in self.active.rows.values()]

    # -- hotspot --

    def session_of_mac(self, mac: str) -> dict[str, Any] | None:
        return next(iter(self.active.having("mac-address", mac)), None)

    def bypassed(self, mac: str) -> bool:
        return any(
            row.get("mac-address") == mac and row.get("type") == "bypassed" and not row["disabled"]
            for row in self.bindings.rows.values()
        )

    def tick(self) -> None:
        """Ends the sessions whose time is up; runs on every command, every clock tick and every oracle."""
        now = self.clock.now()
        if self._next_end is None or now < self._next_end:
            return
        self._next_end = None
        for row in list(self.active.rows.values()):
            if row["_ends_at"] is not None and row["_ends_at"] <= now:
                self.end_session(row, row["_ends_at"], row["_end_cause"])
            elif row["_ends_at"] is not None:
                self._next_end = min(self._next_end or row["_ends_at"], row["_ends_at"])

    def end_session(self, row: dict[str, Any], at: datetime, cause: str) -> None:
        """Logs a session out: its uptime and bytes count against its user (if the user still exists)."""
        self.active.forget(row)
        uptime = Seconds(max(0, (at - row["_login_at"]).total_seconds()))
        if user := self.users.named(row["user"]):
            user["uptime"] = Seconds(user.get("uptime", 0) + uptime)
            for name in ("bytes-in", "bytes-out", "packets-in", "packets-out"):
                user[name] = user.get(name, 0) + row[f"_{name}"]
        for cookie in self.cookies.having("mac-address", row["mac-address"]):
            self.cookies.forget(cookie)
        self.ended.append(
            {
                "user": row["user"],
                "mac-address": row["mac-address"],
                "cause": cause,
                "at": at,
                "uptime": uptime,
            }
        )

    def login(self, args: dict[str, str]) -> None:
        """`/ip/hotspot/active/login`: logs a host that the hotspot has seen into a user."""
        host = next(iter(self.hosts.having("address", args.get("ip"))), None)
        if host is None:
            raise Trap("no such host")
        if args.get("mac-address") and as_mac_or_none(args["mac-address"]) != host["mac-address"]:
            raise Trap("no such host")
        name = args.get("user", "")
        user = self.users.named(name)
        if (
            user is None
            or user["disabled"]
            or user.get("password", "") != args.get("password", "")
            or user["server"] not in {"all", host["server"]}
        ):
            raise Trap("invalid username or password")
        if as_mac_or_none(name) not in {None, host["mac-address"]}:
            raise Trap(f"invalid username ({name}): this MAC address is not yours")
        if user.get("mac-address") not in {None, host["mac-address"]}:
            raise Trap(f"user {name} is not allowed to log in from this MAC address")
        left = None
        if user.get("limit-uptime"):
            left = user["limit-uptime"] - user.get("uptime", 0)
            if left <= 0:
                raise Trap(f"user {name} has reached uptime limit")
        if self._over_byte_limit(user, user.get("bytes-in", 0), user.get("bytes-out", 0)):
            raise Trap(f"user {name} has reached traffic limit")
        profile = self.profiles.named(user["profile"]) or self.profiles.rows["*0"]
        replaced = self.session_of_mac(host["mac-address"])
        others = [row for row in self.active.having("user", name) if row is not replaced]
        if len(others) >= profile.get("shared-users", 1):
            raise Trap(f"no more sessions are allowed for user {name}")
        if replaced is not None:
            self.end_session(replaced, self.clock.now(), "admin-reset")
        self._open_session(host, user, profile, left)

    def _open_session(self, host: dict, user: dict, profile: dict, left: int | None) -> None:
        now = self.clock.now()
        ends_at, cause = None, None
        if left is not None:
            ends_at, cause = now + timedelta(seconds=left), "uptime-limit"
        if profile.get("session-timeout"):
            timeout_at = now + timedelta(seconds=profile["session-timeout"])
            if ends_at is None or timeout_at < ends_at:
                ends_at, cause = timeout_at, "session-timeout"
        session = {
            "server": host["server"],
            "user": user["name"],
            "address": host["address"],
            "mac-address": host["mac-address"],
            "login-by": "http-chap",
            "idle-time": Seconds(0),
            "radius": False,
            "blocked": False,
            "_login_at": now,
            "_ends_at": ends_at,
            "_end_cause": cause,
        }
        session |= {f"_{name}": 0 for name in ("bytes-in", "bytes-out", "packets-in", "packets-out")}
        # Byte limits are fixed at login like the uptime limit, counted from what the user had moved.
        session["_moved-before"] = (user.get("bytes-in", 0), user.get("bytes-out", 0))
        for limit in ("limit-bytes-in", "limit-bytes-out", "limit-bytes-total"):
            if user.get(limit):
                session[limit] = user[limit]
        self.active.insert(session)
        self.logins.append({"user": user["name"], "mac-address": host["mac-address"], "at": now})
        if ends_at is not None and (self._next_end is None or ends_at < self._next_end):
            self._next_end = ends_at
        if profile.get("add-mac-cookie"):
            self.cookies.insert(
                {"user": user["name"], "domain": "", "mac-address": host["mac-address"], "mac-cookie": True}
                | {"_expires_at": now + timedelta(seconds=profile.get("mac-cookie-timeout", 0))}
            )

    @staticmethod
    def _over_byte_limit(limits: dict, bytes_in: int, bytes_out: int) -> bool:
        """Whether what was moved reaches one of the byte limits in `limits` (a user, or a session's own
        from its login)."""
        moved = {"bytes-in": bytes_in, "bytes-out": bytes_out, "bytes-total": bytes_in + bytes_out}
        return any(limits.get(f"limit-{name}") and moved[name] >= limits[f"limit-{name}"] for name in moved)

    # -- commands --

    async def answer(self, console: Console, command: Command) -> list[list[str]]:
        """The reply sentences to one command, tagged as it was."""
        self.tick()
        if command.word == self._hold_after:
            self.holding, self._hold_after = True, None
        try:
            if command.word in self._fatal:
                raise Fatal(self._fatal.pop(command.word))
            if command.word == "/quit":
                raise Fatal("session terminated on request")
            if command.word == "/login":
                reply = self.login_api(console, command.args)
            elif not console.logged_in:
                raise Trap("not logged in")
            elif command.word == "/tool/fetch":
                reply = await self.fetch(command.args)
            else:
                reply = self.execute(command)
            sentences = [["!re", *(f"={k}={v}" for k, v in row.items())] for row in reply.rows]
            if reply.listing and not reply.rows and self.emits_empty:
                sentences.append(["!empty"])
            sentences.append(["!done"] if reply.ret is None else ["!done", f"=ret={reply.ret}"])
        except Trap as trap:
            sentences = [["!trap", f"=message={trap.message}"], ["!done"]]
            if trap.category is not None:
                sentences[0].append(f"=category={trap.category}")
        if command.tag:
            for sentence in sentences:
                sentence.append(f".tag={command.tag}")
        return sentences

    @property
    def emits_empty(self) -> bool:
        numbers = tuple(int(part) for part in re.findall(r"\d+", self.version)[:2])
        return numbers >= EMPTY_SINCE

    def login_api(self, console: Console, args: dict[str, str]) -> Reply:
        name = args.get("name")
        if name is None or (self.login_mode == "legacy" and "password" in args):
            # A bare /login gets a challenge on every version (a 6.47 still answers it); a legacy router
            # answers a plaintext login the same way, and routeros-api then falls back to MD5.
            console.challenge = secrets.token_bytes(16)
            return Reply(ret=console.challenge.hex())
        if "password" in args:
            if self.accounts.get(name) != args["password"]:
                raise Trap(BAD_LOGIN)
        elif "response" in args:
            if self.login_mode == "modern" or not self._response_ok(console, name, args["response"]):
                raise Trap(BAD_LOGIN if self.login_mode != "legacy" else "cannot log in")
        else:
            raise Trap(BAD_LOGIN)
        console.logged_in = True
        return Reply()

    def _response_ok(self, console: Console, name: str, response: str) -> bool:
        password = self.accounts.get(name)
        if password is None or not console.challenge:
            return False
        digest = hashlib.md5(b"\x00" + password.encode() + console.challenge).hexdigest()  # noqa: S324
        return secrets.compare_digest(response, "00" + digest)

    def execute(self, command: Command) -> Reply:
        if trap := self._traps.pop(command.word, None):
            raise trap
        if command.path == "/system/identity":
            return self._identity(command)
        if command.word == "/system/resource/print":
            return Reply([self.resource()], listing=True)
        if command.word == "/cancel":
            return Reply()  # commands run one at a time here, so there is never one left to cancel
        table = self.menus.get(command.path)
        if table is None:
            raise Trap("no such command prefix")
        verb = command.verb
        if verb not in table.verbs:
            raise Trap("no such command")
        if verb in {"print", "getall"}:
            return self._print(table, command)
        if verb == "login":
            self.login(command.args)
        elif verb == "add":
            return Reply(ret=table.add(command.args)[".id"])
        elif verb == "set":
            table.set(command.args)
        elif verb == "remove":
            table.remove(command.args)
        elif verb in {"enable", "disable"}:
            table.set({**command.args, "disabled": "yes" if verb == "disable" else "no"})
        return Reply()

    def _identity(self, command: Command) -> Reply:
        if command.verb in {"print", "getall"}:
            return Reply([{"name": self.identity}], listing=True)
        if command.verb == "set" and set(command.args) <= {"name"} and command.args.get("name"):
            self.identity = command.args["name"]
            return Reply()
        raise Trap("no such command")

    def resource(self) -> dict[str, str]:
        return {
            "uptime": format_duration((self.clock.now() - self._booted_at).total_seconds()),
            "version": f"{self.version} (stable)",
            "build-time": "2025-02-26 13:24:13",
            "factory-software": "7.1",
            "free-memory": "201277440",
            "total-memory": "268435456",
            "cpu": "ARMv7",
            "cpu-count": "4",
            "cpu-frequency": "716",
            "cpu-load": "3",
            "free-hdd-space": "3846144",
            "total-hdd-space": "16777216",
            "write-sect-since-reboot": "310",
            "write-sect-total": "48211",
            "bad-blocks": "0",
            "architecture-name": "arm",
            "board-name": "hAP ac^2",
            "platform": "MikroTik",
        }

    def _print(self, table: Table, command: Command) -> Reply:
        unknown = set(command.args) - PRINT_OPTIONS
        if unknown:
            raise Trap(f"unknown parameter {sorted(unknown)[0]}")
        candidates = table.candidates(command.queries)
        rows = [row for row in map(table.show, candidates) if matches(table, row, command.queries)]
        if "count-only" in command.args:
            return Reply(ret=str(len(rows)))
        if proplist := command.args.get(".proplist"):
            wanted = set(proplist.split(","))
            rows = [{key: value for key, value in row.items() if key in wanted} for row in rows]
        return Reply(rows, listing=True)

    async def fetch(self, args: dict[str, str]) -> Reply:
        """`/tool/fetch url=... dst-path=...`: the router downloads a file (portal sends its login page
        this way)."""
        unknown = set(args) - {"url", "dst-path", "mode", "keep-result", "check-certificate", "http-method"}
        if unknown:
            raise Trap(f"unknown parameter {sorted(unknown)[0]}")
        url = args.get("url", "")
        if not url.startswith(("http://", "https://")):
            raise Trap("failure: unsupported URL", 1)
        path = args.get("dst-path") or url.split("?")[0].rsplit("/", 1)[-1]
        started = self.clock.now()
        try:
            async with httpx.AsyncClient(timeout=10) as http:
                response = await http.get(url)
        except httpx.TimeoutException:
            raise Trap("failure: connection timeout") from None
        except httpx.HTTPError:
            raise Trap("failure: connection failed") from None
        if response.status_code != 200:
            raise Trap(f"failure: closing connection: <{response.status_code} {response.reason_phrase}>")
        self.store_file(path, response.content)
        size = str(len(response.content) // 1024)
        duration = format_duration((self.clock.now() - started).total_seconds())
        return Reply([{"status": "finished", "downloaded": size, "total": size, "duration": duration}])

    def store_file(self, name: str, content: bytes) -> None:
        self.files[name] = content
        row = self.file_table.named(name) or self.file_table.insert({"name": name})
        row.update(
            {"type": f".{name.rsplit('.', 1)[-1]} file" if "." in name else "file", "size": len(content)}
            | {"creation-time": self.clock.now().strftime("%Y-%m-%d %H:%M:%S")}
        )
        # RouterOS shows the contents of small files only.
        if len(content) < 4096:
            row["contents"] = content.decode("utf-8", "replace")
        else:
            row.pop("contents", None)


def as_mac_or_none(text: str) -> str | None:
    try:
        return as_mac(text)
    except ValueError:
        return None


def as_binding_type(text: str) -> str:
    if text not in {"regular", "bypassed", "blocked"}:
        raise ValueError(text)
    return text


def as_allow_deny(text: str) -> str:
    if text not in {"allow", "deny"}:
        raise ValueError(text)
    return text


def as_accept_drop(text: str) -> str:
    if text not in {"accept", "drop", "reject"}:
        raise ValueError(text)
    return text


# -- queries -------------------------------------------------------------------------------------------


def matches(table: Table, row: dict[str, str], queries: list[str]) -> bool:
    """RouterOS's query stack machine: each word pushes a truth or combines the stack (`?#`); the row
    passes unless a false is left anywhere. The stack starts as endless trues."""
    stack: list[bool] = []
    for query in queries:
        if query.startswith("#"):
            apply_operations(stack, query[1:])
            continue
        if query.startswith("-"):
            stack.append(query[1:] not in row)
            continue
        operator = "="
        if query[:1] in {"=", "<", ">"}:
            operator, query = query[0], query[1:]
        name, has_value, value = query.partition("=")
        if not has_value:
            stack.append(name in row)
            continue
        actual, value = row.get(name, ""), table.normalize(name, value)
        if operator == "=":
            stack.append(actual == value)
        else:
            order = compare(table, name, actual, value)
            stack.append(order < 0 if operator == "<" else order > 0)
    return all(stack)


def compare(table: Table, name: str, left: str, right: str) -> int:
    """Numbers and durations compare by value, everything else as text."""
    try:
        if table.fields.get(name) is as_duration:
            a, b = parse_duration(left), parse_duration(right)
        else:
            a, b = int(left), int(right)
    except ValueError:
        a, b = left, right  # type: ignore[assignment]
    return (a > b) - (a < b)


def apply_operations(stack: list[bool], operations: str) -> None:
    """`?#`: digits name a stack entry (0 = top) and push a copy of it, or, at the end of the word, make
    it the whole stack; `!` negates the top; `&` and `|` combine the top two; `.` copies the top."""

    def pop() -> bool:
        return stack.pop() if stack else True

    position, after_index = 0, False
    while position < len(operations):
        character = operations[position]
        if character.isdigit():
            end = position
            while end < len(operations) and operations[end].isdigit():
                end += 1
            index = int(operations[position:end])
            value = stack[-1 - index] if index < len(stack) else True
            if end == len(operations):
                stack[:] = [value]
            else:
                stack.append(value)
            position, after_index = end, True
            continue
        if character == "!":
            stack.append(not pop())
        elif character in "&|":
            a, b = pop(), pop()
            stack.append((a and b) if character == "&" else (a or b))
        elif character == ".":
            if not after_index:
                stack.append(stack[-1] if stack else True)
        else:
            raise Trap(f"unknown query operation {character}")
        position, after_index = position + 1, False
