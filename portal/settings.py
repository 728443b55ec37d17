"""Settings: a TOML file, overridden by PORTAL_* environment variables.

Every setting has a safe default, so an empty file (or none, for the demo) is a working configuration.
`PORTAL_SECTION_KEY` overrides `[section] key`. Secrets are never read from the TOML file or a plain
variable: they come from a file named by `PORTAL_SECTION_KEY_FILE` (or `key_file` in the TOML
section), or from systemd's `$CREDENTIALS_DIRECTORY/<section>.<key>`.
"""

import ipaddress
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .typed_numbers import is_digits

DEFAULT_CONFIG = Path("/etc/portal/portal.toml")

# Safaricom's published callback sources (Daraja "Getting Started") plus the two more that several
# libraries carry; reference/daraja.md §10.2.
SAFARICOM_CALLBACK_ADDRESSES = (
    "196.201.214.200", "196.201.214.206", "196.201.213.114", "196.201.214.207",
    "196.201.214.208", "196.201.213.44", "196.201.212.127", "196.201.212.138",
    "196.201.212.129", "196.201.212.136", "196.201.212.74", "196.201.212.69",
    "196.201.212.128", "196.201.212.132",
)  # fmt: skip

# Where routers are: the LAN's private ranges, carrier-grade NAT (a router reached over a mobile link)
# and IPv6 unique local addresses. Nothing public, and not the box itself (loopback).
PRIVATE_NETWORKS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")


class ConfigError(Exception):
    """A setting is missing or wrong; the message names the key and the source."""


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return value


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("must be a whole number")
    if isinstance(value, str):
        value = value.strip()
        if not is_digits(value.removeprefix("-")):
            raise ValueError(f"must be a whole number, not {value!r}")
    if not isinstance(value, int | str):
        raise ValueError("must be a whole number")
    return int(value)


def _positive(value: Any) -> int:
    number = _integer(value)
    if number <= 0:
        raise ValueError(f"must be greater than 0, not {number}")
    return number


def _port(value: Any) -> int:
    number = _integer(value)
    if not 0 <= number <= 65535:
        raise ValueError(f"must be a TCP port (0-65535), not {number}")
    return number


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {
        "1",
        "true",
        "yes",
        "on",
        "0",
        "false",
        "no",
        "off",
    }:
        return value.strip().lower() in {"1", "true", "yes", "on"}
    raise ValueError(f"must be true or false, not {value!r}")


def _path(value: Any) -> Path:
    return Path(_text(value)).expanduser()


def _zone(value: Any) -> ZoneInfo:
    try:
        return ZoneInfo(_text(value))
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"must be an IANA time zone such as Africa/Nairobi, not {value!r}") from error


def _public_url(value: Any) -> str:
    url = _text(value).strip().rstrip("/")
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError(f"must be an absolute http(s) URL such as https://wifi.example.co.ke, not {url!r}")
    return url


def _choice(*options: str) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        text = _text(value).strip().lower()
        if text not in options:
            raise ValueError(f"must be one of {', '.join(options)}, not {value!r}")
        return text

    return convert


def _networks(value: Any) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ValueError("must be a list of addresses or networks")
    try:
        return tuple(ipaddress.ip_network(str(item).strip()) for item in items if str(item).strip())
    except ValueError as error:
        raise ValueError(str(error)) from error


def setting(default: Any, convert: Callable[[Any], Any], help: str, secret: bool = False) -> Any:
    return field(default=default, metadata={"convert": convert, "help": help, "secret": secret})


@dataclass(frozen=True)
class Server:
    host: str = setting("0.0.0.0", _text, "address to listen on; the Wi-Fi clients must reach it")  # noqa: S104
    port: int = setting(8080, _port, "TCP port to listen on")
    portal_url: str = setting(
        "",
        _public_url,
        "address at which Wi-Fi customers reach this box, e.g. http://10.5.50.2:8080"
        " (provisioning points the routers' walled garden and login page at it)",
    )
    public_url: str = setting(
        "", _public_url, "HTTPS address at which Daraja can reach this box; empty = confirm payments by query"
    )
    trusted_proxies: tuple = setting(
        (), _networks, "reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed"
    )


@dataclass(frozen=True)
class Admin:
    """The admin pages and the API listen apart from the customers' pages: the router's walled garden
    opens only the customers' port to devices that have not paid."""

    host: str = setting("0.0.0.0", _text, "address the admin pages and the API listen on")  # noqa: S104
    port: int = setting(8443, _port, "TCP port of the admin pages and the API (HTTPS with a certificate)")
    tls_certificate: Path = setting(
        Path(""),
        _path,
        "the admin's TLS certificate (PEM); empty: systemd's credential admin.crt, which scripts/install"
        " makes; with neither, the admin is served over plain HTTP",
    )
    tls_key: Path = setting(Path(""), _path, "the private key of admin.tls_certificate (PEM)")


@dataclass(frozen=True)
class Store:
    data_dir: Path = setting(Path("/var/lib/portal"), _path, "where the database lives")
    database: Path = setting(Path(""), _path, "the SQLite file; default <data_dir>/portal.db")
    timezone: ZoneInfo = setting(ZoneInfo("Africa/Nairobi"), _zone, "zone in which times and days are shown")


@dataclass(frozen=True)
class Vault:
    key_file: Path = setting(
        Path("/etc/portal/vault.key"), _path, "Fernet keys that encrypt stored secrets, newest first"
    )


@dataclass(frozen=True)
class Mpesa:
    payment_timeout: int = setting(300, _positive, "seconds before an unanswered payment is expired")
    callback_allowlist: tuple = setting(
        _networks(SAFARICOM_CALLBACK_ADDRESSES), _networks, "addresses allowed to post callbacks"
    )
    enforce_allowlist: bool = setting(
        False, _boolean, "refuse callbacks from other addresses (else log them)"
    )


@dataclass(frozen=True)
class Limits:
    pushes_per_phone_per_hour: int = setting(6, _positive, "STK pushes one phone number may get per hour")
    pushes_per_device_per_hour: int = setting(
        10, _positive, "STK pushes not paid one device (the router vouching for it) may ask for per hour"
    )
    code_attempts_per_hour: int = setting(
        10, _positive, "wrong code, receipt and voucher tries per device before each next one waits longer"
    )


@dataclass(frozen=True)
class Api:
    requests_per_minute: int = setting(
        120, _positive, "calls an API client may make per minute, unless the platform admin sets its own"
    )
    pushes_per_month: int = setting(
        10000,
        _positive,
        "M-Pesa prompts an API client may send per month, unless the platform admin sets its own",
    )
    token_overlap_hours: int = setting(
        24, _positive, "hours a rotated API token keeps working beside its new one"
    )


@dataclass(frozen=True)
class Routers:
    api_timeout: int = setting(
        5, _positive, "seconds to wait for a router's answer before calling it unreachable"
    )
    connect_timeout: int = setting(3, _positive, "seconds to wait for a router to take a connection")
    sync_interval: int = setting(30, _positive, "seconds between two syncs of a router with the database")
    allowed_networks: tuple = setting(
        _networks(PRIVATE_NETWORKS),
        _networks,
        "networks a router's address must be in (a host name is resolved and each address checked)",
    )


@dataclass(frozen=True)
class Log:
    level: str = setting("info", _choice("debug", "info", "warning", "error"), "least severe level written")
    format: str = setting("text", _choice("text", "json"), "one line per event, as text or JSON")


@dataclass(frozen=True)
class Metrics:
    token: str = setting("", _text, "bearer token that /metrics requires (empty = open)", secret=True)


@dataclass(frozen=True)
class Settings:
    server: Server = Server()
    admin: Admin = Admin()
    store: Store = Store()
    vault: Vault = Vault()
    mpesa: Mpesa = Mpesa()
    limits: Limits = Limits()
    api: Api = Api()
    routers: Routers = Routers()
    log: Log = Log()
    metrics: Metrics = Metrics()
    source: str = "defaults"

    @property
    def database_path(self) -> Path:
        return (
            self.store.database
            if str(self.store.database) not in {"", "."}
            else (self.store.data_dir / "portal.db")
        )


SECTIONS = {f.name: f.type for f in fields(Settings) if f.name != "source"}
# Every variable the environment may set: each setting, each secret's file, and the config file itself.
VARIABLES = frozenset(
    {"PORTAL_CONFIG"}
    | {
        f"PORTAL_{name}_{spec.name}{suffix}".upper()
        for name, cls in SECTIONS.items()
        for spec in fields(cls)
        for suffix in (("", "_file") if spec.metadata["secret"] else ("",))
    }
)


def load(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read settings from `path` (default /etc/portal/portal.toml; it must exist when named)."""
    environ = os.environ if environ is None else environ
    explicit = path is not None or "PORTAL_CONFIG" in environ
    path = Path(path or environ.get("PORTAL_CONFIG") or DEFAULT_CONFIG)
    document: dict[str, Any] = {}
    if path.exists() or explicit:
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such config file") from None
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"{path}: cannot read config file: {error}") from None
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{path}: not valid TOML: {error}") from None
    return from_mapping(document, environ, source=str(path) if document or explicit else "defaults")


def from_mapping(document: Mapping[str, Any], environ: Mapping[str, str], source: str = "") -> Settings:
    for name, value in document.items():
        if name not in SECTIONS:
            raise ConfigError(f"{source}: unknown section [{name}] (known: {', '.join(SECTIONS)})")
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: [{name}] must be a table of settings")
    # A variable that names no setting is refused, as an unknown key in the file is: a typo must not
    # leave a setting silently at its default.
    for variable in environ:
        if variable.startswith("PORTAL_") and variable not in VARIABLES:
            raise ConfigError(
                f"{variable}: no such setting (variables are PORTAL_<SECTION>_<KEY>, e.g. PORTAL_SERVER_PORT;"
                " `portal check-config` lists the settings)"
            )
    sections = {
        name: _section(name, cls, document.get(name, {}), environ, source) for name, cls in SECTIONS.items()
    }
    settings = Settings(**sections, source=source)
    _check_together(settings, source)
    return settings


def _check_together(settings: Settings, source: str) -> None:
    """Settings that are each right but wrong together."""
    server, admin = settings.server, settings.admin
    if admin.port and admin.port == server.port:
        raise ConfigError(
            f"{source}: admin.port and server.port are both {admin.port}: the admin pages need a port of"
            " their own, apart from the customers' pages"
        )


def _is_set(path: Path) -> bool:
    return str(path) not in {"", "."}


def _section(name: str, cls: type, table: Mapping[str, Any], environ: Mapping[str, str], source: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    file_keys = {f"{key}_file" for key, f in known.items() if f.metadata["secret"]}
    for key in table:
        if key not in known and key not in file_keys:
            raise ConfigError(f"{source}: unknown setting {name}.{key} (known: {', '.join(known)})")
    values = {}
    for key, spec in known.items():
        env_name = f"PORTAL_{name}_{key}".upper()
        if spec.metadata["secret"]:
            if key in table or env_name in environ:
                where = env_name if env_name in environ else source
                raise ConfigError(
                    f"{where}: {name}.{key} is a secret: put it in a file and set {key}_file, "
                    f"or {env_name}_FILE, instead of writing it in the config or the environment"
                )
            raw, where = _secret(name, key, table.get(f"{key}_file"), environ, source)
        elif env_name in environ:
            raw, where = environ[env_name], env_name
        elif key in table:
            raw, where = table[key], f"{source}: {name}.{key}"
        else:
            values[key] = spec.default
            continue
        if raw is None:
            values[key] = spec.default
            continue
        try:
            values[key] = spec.metadata["convert"](raw)
        except ValueError as error:
            raise ConfigError(f"{where}: {error}") from None
    return cls(**values)


def _secret(section: str, key: str, configured: Any, environ: Mapping[str, str], source: str) -> tuple:
    env_name = f"PORTAL_{section}_{key}_FILE".upper()
    credentials = environ.get("CREDENTIALS_DIRECTORY")
    if env_name in environ:
        candidate, where = Path(environ[env_name]), env_name
    elif configured:
        candidate, where = Path(str(configured)), f"{source}: {section}.{key}_file"
    elif credentials and (Path(credentials) / f"{section}.{key}").exists():
        candidate, where = Path(credentials) / f"{section}.{key}", "$CREDENTIALS_DIRECTORY"
    else:
        return None, ""
    try:
        return candidate.read_text(encoding="utf-8").strip(), where
    except OSError as error:
        raise ConfigError(f"{where}: cannot read secret file {candidate}: {error.strerror}") from None


def vault_key_path(settings: Settings, environ: Mapping[str, str] | None = None) -> Path:
    """systemd's LoadCredential=vault.key wins over the configured key file."""
    environ = os.environ if environ is None else environ
    credentials = environ.get("CREDENTIALS_DIRECTORY")
    if credentials and (Path(credentials) / "vault.key").exists():
        return Path(credentials) / "vault.key"
    return settings.vault.key_file


def admin_tls_files(settings: Settings, environ: Mapping[str, str] | None = None) -> tuple[Path, Path] | None:
    """The admin listener's certificate and key: the configured files, else systemd's credentials
    admin.crt and admin.key (the unit hands over the ones scripts/install made, which the service's
    own user could not read), else None: plain HTTP."""
    environ = os.environ if environ is None else environ
    certificate, key = settings.admin.tls_certificate, settings.admin.tls_key
    if _is_set(certificate) != _is_set(key):
        raise ConfigError(
            f"{settings.source}: set admin.tls_certificate and admin.tls_key together, or neither"
        )
    if _is_set(certificate):
        return certificate, key
    if credentials := environ.get("CREDENTIALS_DIRECTORY"):
        files = Path(credentials) / "admin.crt", Path(credentials) / "admin.key"
        if all(path.exists() for path in files):
            return files
    return None


def describe(settings: Settings) -> list[tuple[str, str, str]]:
    """(key, effective value, help) for every setting, with secrets masked."""
    rows = []
    for name in SECTIONS:
        section = getattr(settings, name)
        for spec in fields(section):
            value = getattr(section, spec.name)
            if spec.metadata["secret"]:
                shown = "(set, hidden)" if value else "(not set)"
            elif isinstance(value, tuple):
                shown = ", ".join(str(item) for item in value) or "(none)"
            elif name == "store" and spec.name == "database":
                shown = str(settings.database_path)
            elif isinstance(value, Path) and not _is_set(value):
                shown = "(not set)"
            else:
                shown = str(value)
            rows.append((f"{name}.{spec.name}", shown, spec.metadata["help"]))
    return rows


def template() -> str:
    """A portal.toml with every setting commented out at its default: the installer's starting point.

    Made from the settings themselves, so it never drifts from what `load` accepts.
    """
    lines = [
        "# portal settings. Every line below is commented out and shows the default; uncomment to change.",
        "# Each setting can also come from the environment: [section] key -> PORTAL_SECTION_KEY.",
        "# Secrets are never written here: they come from <key>_file, PORTAL_SECTION_KEY_FILE or",
        "# systemd's LoadCredential=<section>.<key> (see `portal check-config` for what is in use).",
    ]
    for name, cls in SECTIONS.items():
        lines += ["", f"[{name}]"]
        for spec in fields(cls):
            lines.append(f"# {spec.metadata['help']}")
            if spec.metadata["secret"]:
                lines.append(
                    f"# (secret) the systemd unit passes /etc/portal/{name}.{spec.name} as a credential;"
                    f' elsewhere: {spec.name}_file = "<path>"'
                )
            else:
                lines.append(f"# {spec.name} = {_toml(spec.default)}")
    return "\n".join(lines) + "\n"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml(str(item)) for item in value) + "]"
    text = "" if str(value) == "." else str(value)  # Path("") is "."
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
