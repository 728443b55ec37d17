"""The `portal` command."""

import argparse
import asyncio
import contextlib
import getpass
import ipaddress
import secrets
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import uvicorn

from . import __version__, config, logs
from .backups import restore_backup, take_backup
from .clock import SystemClock
from .config import ConfigError, Settings
from .db import Database, StoreError
from .gateway.base import GatewayError, normalize_mac
from .gateway.routeros import format_duration
from .migrations import migrate
from .numbers import whole
from .routers import Gateways, RouterError, add_router, provision, record_contact, router_by_name
from .tenants import TenantError, create_admin, create_tenant, tenant_id_for_slug
from .vault import Vault, VaultError, add_key, reencrypt_all, retire_old_keys, write_new_key_file


class CommandError(Exception):
    """Ends the command with one line on stderr and exit code 2."""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        return args.run(args) or 0
    except (CommandError, ConfigError, StoreError, VaultError, TenantError, RouterError) as error:
        print(f"portal: {error}", file=sys.stderr)
        return 2
    except sqlite3.OperationalError as error:  # disk full, read-only folder, locked by another program
        print(f"portal: database: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        type=Path,
        default=argparse.SUPPRESS,
        help=f"settings file (default {config.DEFAULT_CONFIG}, or $PORTAL_CONFIG)",
    )
    parser = argparse.ArgumentParser(
        prog="portal",
        description="Wi-Fi hotspot billing for MikroTik routers, paid with M-Pesa.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"portal {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(name: str, run: Callable, help: str, parent=commands) -> argparse.ArgumentParser:
        sub = parent.add_parser(name, help=help, description=help, parents=[common])
        sub.set_defaults(run=run)
        return sub

    command("serve", cmd_serve, "run the portal (web pages, callbacks, jobs) in one process")
    command("migrate", cmd_migrate, "bring the database schema up to date (also done at start)")
    command("check-config", cmd_check_config, "print the effective settings, secrets masked")
    command("config-template", cmd_config_template, "print a portal.toml with every setting at its default")

    backup = command(
        "backup", cmd_backup, "copy the database, consistently, while portal runs; the copy is checked"
    )
    backup.add_argument("path", type=Path, help="a file, or a folder to hold dated copies (portal-<time>.db)")
    backup.add_argument(
        "--keep", type=_positive_int, metavar="N", help="with a folder: delete all but the N newest copies"
    )
    restore = command(
        "restore",
        cmd_restore,
        "replace the database with a checked backup; the old one is kept beside it (stop portal first)",
    )
    restore.add_argument("path", type=Path, help="a backup made by `portal backup`")

    demo = command("demo", cmd_demo, "run the whole system on built-in simulators, on fresh demo data")
    demo.add_argument("--port", type=int, default=8080, help="port for the portal (default 8080)")
    demo.add_argument("--data-dir", type=Path, help="where demo data goes (default: a new temporary folder)")
    demo.add_argument(
        "--time-scale", type=float, default=1.0, help="seconds of package time per real second (default 1)"
    )

    sim = command("sim-daraja", cmd_sim_daraja, "run the Daraja simulator and its fake phone on their own")
    sim.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sim.add_argument("--port", type=int, default=8090, help="port to listen on (default 8090)")
    sim.add_argument(
        "--prompt-timeout", type=float, default=60, help="seconds a prompt waits for the payer (default 60)"
    )
    sim.add_argument(
        "--pending-style",
        choices=["4999", "legacy500"],
        default="4999",
        help="how the STK query says 'still pending' (default 4999)",
    )
    sim.add_argument(
        "--callback-delay", type=float, default=0, help="seconds from the payer's answer to the callback"
    )

    keys = commands.add_parser("keys", help="manage the vault keys that encrypt stored secrets")
    key_commands = keys.add_subparsers(title="commands", metavar="COMMAND", required=True)
    generate = command("generate", cmd_keys_generate, "create a new vault key file", key_commands)
    generate.add_argument("--output", type=Path, help="where to write it (default: vault.key_file)")
    command(
        "rotate",
        cmd_keys_rotate,
        "add a new key, re-encrypt every stored secret, drop old keys",
        key_commands,
    )

    tenant = commands.add_parser("tenant", help="manage tenants (hotspot businesses)")
    tenant_commands = tenant.add_subparsers(title="commands", metavar="COMMAND", required=True)
    create = command("create", cmd_tenant_create, "add a tenant", tenant_commands)
    create.add_argument("--slug", required=True, help="short name: lowercase letters, digits, dashes")
    create.add_argument("--name", required=True, help="the business name customers see")
    create.add_argument("--support-phone", default="", help="phone number customers can call")

    admin = commands.add_parser("admin", help="manage admin users")
    admin_commands = admin.add_subparsers(title="commands", metavar="COMMAND", required=True)
    create = command(
        "create",
        cmd_admin_create,
        "add an admin user; the password is prompted for or read from stdin",
        admin_commands,
    )
    create.add_argument("--tenant", help="tenant slug (omit for a platform admin)")
    create.add_argument("--email", required=True)
    create.add_argument("--role", choices=["owner", "staff", "platform"], help="default: owner, or platform")

    router = commands.add_parser("router", help="manage MikroTik routers (hotspot sites)")
    router_commands = router.add_subparsers(title="commands", metavar="COMMAND", required=True)
    add = command(
        "add",
        cmd_router_add,
        "add a router; the API user's password is prompted for or read from stdin",
        router_commands,
    )
    add.add_argument("--tenant", required=True, help="slug of the tenant that owns the router")
    add.add_argument("--name", required=True, help="the router's name in portal (goes into the splash URL)")
    add.add_argument("--host", required=True, help="address of the router's API")
    add.add_argument("--port", type=int, help="API port (default 8728, or 8729 with --tls)")
    add.add_argument("--user", required=True, help="RouterOS API user (policy read,write,api)")
    add.add_argument("--tls", action="store_true", help="use api-ssl (encrypted; see the README)")
    add.add_argument(
        "--hotspot-server", default="all", help="the hotspot server customers use (default: all)"
    )
    check = command(
        "check", cmd_router_check, "reach a router and show its version, identity and counts", router_commands
    )
    check.add_argument("name", help="router name")
    provision = command(
        "provision",
        cmd_router_provision,
        "set a router up for portal: package profiles, walled garden, login page (safe to repeat)",
        router_commands,
    )
    provision.add_argument("name", help="router name")
    provision.add_argument(
        "--portal-url",
        type=http_url,
        help="this portal as Wi-Fi clients reach it (default: server.portal_url)",
    )

    sim = command("sim-router", cmd_sim_router, "run the RouterOS API emulator (for trying portal out)")
    sim.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sim.add_argument("--port", type=int, default=8728, help="port to listen on (default 8728; 0 = any free)")
    sim.add_argument("--user", default="admin", help="API user name (default admin)")
    sim.add_argument("--password", help="API password (default: a random one, printed)")
    sim.add_argument("--identity", default="MikroTik", help="the router's identity")
    sim.add_argument(
        "--device",
        action="append",
        default=[],
        metavar="MAC,IP",
        help="a Wi-Fi client already on the hotspot (repeat for more)",
    )
    return parser


def http_url(text: str) -> str:
    parts = urlsplit(text.strip())
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise argparse.ArgumentTypeError(f"{text!r} is not an http(s) URL such as http://10.5.50.2:8080")
    return text.strip().rstrip("/")


def load_settings(args: argparse.Namespace) -> Settings:
    return config.load(getattr(args, "config", None))


def load_vault(settings: Settings) -> Vault:
    return Vault.from_file(config.vault_key_path(settings))


async def open_store(settings: Settings) -> Database:
    """The database, migrated: every command can run on a fresh box."""
    db = await Database.open(settings.database_path)
    try:
        await migrate(db)
    except BaseException:
        await db.close()
        raise
    return db


def cmd_serve(args: argparse.Namespace) -> None:
    from .app import create_app

    settings = load_settings(args)
    logs.configure(settings.log.level, settings.log.format)
    vault = load_vault(settings)
    asyncio.run(_migrate(settings))  # errors here are one clear line, not a traceback from the server
    app = create_app(settings, clock=SystemClock(), vault=vault)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C or SIGINT: uvicorn has already shut down cleanly
        asyncio.run(serve(app, settings.server.host, settings.server.port))


def _server(app, host: str, port: int) -> uvicorn.Server:
    # proxy_headers off: the app itself decides whom to believe (settings.server.trusted_proxies).
    return uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, proxy_headers=False)
    )


async def serve(app, host: str, port: int) -> None:
    """Serves until Ctrl-C or SIGTERM."""
    server = _server(app, host, port)
    await server.serve()
    if not server.started:
        raise CommandError(f"could not listen on {host}:{port} (is another program using the port?)")


@contextlib.asynccontextmanager
async def background(app, host: str, port: int) -> AsyncIterator[str]:
    """Serves an ASGI app in this event loop while the block runs (the demo's simulator, the tests'
    peers); yields its base URL once it accepts connections. Port 0 takes any free port."""
    server = _server(app, host, port)
    server.capture_signals = contextlib.nullcontext  # Ctrl-C belongs to whoever runs the loop
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(10):
        while not server.started:
            if task.done():
                task.result()
                raise CommandError(f"could not listen on {host}:{port} (is another program using the port?)")
            await asyncio.sleep(0.005)
    port = port or server.servers[0].sockets[0].getsockname()[1]  # 0: the port the system chose
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task


async def _migrate(settings: Settings) -> list[int]:
    db = await Database.open(settings.database_path)
    try:
        return await migrate(db)
    finally:
        await db.close()


def cmd_migrate(args: argparse.Namespace) -> None:
    settings = load_settings(args)
    applied = asyncio.run(_migrate(settings))
    where = settings.database_path
    print(f"{where}: applied migrations {applied}" if applied else f"{where}: already up to date")


def cmd_check_config(args: argparse.Namespace) -> None:
    settings = load_settings(args)
    print(f"# from {settings.source}")
    rows = config.describe(settings)
    width = max(len(key) for key, _, _ in rows)
    for key, value, help in rows:
        print(f"{key:<{width}}  {value}    # {help}")
    print(f"{'vault key in use':<{width}}  {config.vault_key_path(settings)}")


def cmd_config_template(args: argparse.Namespace) -> None:
    print(config.template(), end="")


def cmd_backup(args: argparse.Namespace) -> None:
    settings = load_settings(args)
    target = take_backup(settings.database_path, args.path, SystemClock().now(), keep=args.keep)
    print(f"{target}: backup of {settings.database_path} written and checked")


def cmd_restore(args: argparse.Namespace) -> None:
    settings = load_settings(args)
    restored = restore_backup(args.path, settings.database_path, SystemClock().now())
    print(
        f"{settings.database_path}: restored from {args.path} "
        f"(schema version {restored.schema_version}, {restored.payments} payments)"
    )
    if restored.previous:
        print(f"the database it replaced is kept as {restored.previous}")


def _positive_int(text: str) -> int:
    number = whole(text)
    if number is None or number < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return number


def cmd_keys_generate(args: argparse.Namespace) -> None:
    path = args.output or load_settings(args).vault.key_file
    try:
        write_new_key_file(path)
    except FileExistsError:
        raise CommandError(f"{path}: already exists; `portal keys rotate` replaces keys safely") from None
    except OSError as error:
        raise CommandError(f"{path}: cannot write the key file: {error.strerror}") from None
    print(f"{path}: new vault key written (mode 600); back it up apart from the database")


def cmd_keys_rotate(args: argparse.Namespace) -> None:
    settings = load_settings(args)
    path = config.vault_key_path(settings)
    load_vault(settings)  # the current keys must work before anything changes

    async def rotate() -> int:
        db = await open_store(settings)
        try:
            return await reencrypt_all(db, load_vault(settings))
        finally:
            await db.close()

    # The file keeps the old keys until every secret is re-encrypted, so a crash part-way loses nothing.
    add_key(path)
    count = asyncio.run(rotate())
    retire_old_keys(path)
    print(f"{path}: rotated; {count} stored secrets re-encrypted. Restart portal to use the new key.")


def cmd_tenant_create(args: argparse.Namespace) -> None:
    settings = load_settings(args)

    async def create() -> int:
        db = await open_store(settings)
        try:
            async with db.transaction() as tx:
                return await create_tenant(tx, SystemClock(), args.slug, args.name, args.support_phone)
        finally:
            await db.close()

    print(f"tenant {args.slug} created (id {asyncio.run(create())})")


def cmd_admin_create(args: argparse.Namespace) -> None:
    settings = load_settings(args)
    role = args.role or ("owner" if args.tenant else "platform")
    if (role == "platform") != (args.tenant is None):
        raise CommandError("--tenant is required for owner and staff, and not allowed for platform")
    password = read_new_password()

    async def create() -> int:
        db = await open_store(settings)
        try:
            async with db.transaction() as tx:
                tenant_id = await tenant_id_for_slug(tx, args.tenant) if args.tenant else None
                return await create_admin(
                    tx, SystemClock(), email=args.email, password=password, role=role, tenant_id=tenant_id
                )
        finally:
            await db.close()

    asyncio.run(create())
    print(f"admin {args.email} created ({role})")


def read_new_password() -> str:
    if not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\n")
        if not password:
            raise CommandError("no password on standard input")
        return password
    password = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != password:
        raise CommandError("the two passwords differ")
    return password


def cmd_sim_daraja(args: argparse.Namespace) -> None:
    from .sim.daraja import DEFAULT_CONSUMERS, DEFAULT_MERCHANTS, Options, create_simulator

    logs.configure("info", "text")
    options = Options(
        prompt_timeout=args.prompt_timeout,
        pending_style=args.pending_style,
        callback_delay=args.callback_delay,
    )
    app = create_simulator(SystemClock(), options)
    base = f"http://{args.host}:{args.port}"
    print(f"Daraja simulator: {base}  (use it as an M-Pesa account's environment)")
    print(f"fake phone: {base}/phone")
    for key, secret in DEFAULT_CONSUMERS.items():
        print(f"consumer key: {key}  consumer secret: {secret}")
    for shortcode, merchant in DEFAULT_MERCHANTS.items():
        till = f"  till number: {', '.join(merchant.tills)}" if merchant.tills else ""
        print(f"{merchant.kind} {shortcode} ({merchant.name}){till}  passkey: {merchant.passkey}", flush=True)
    asyncio.run(serve(app, args.host, args.port))


async def _with_store(settings: Settings, work: Callable) -> Any:
    db = await open_store(settings)
    try:
        return await work(db)
    finally:
        await db.close()


def cmd_router_add(args: argparse.Namespace) -> None:
    settings = load_settings(args)
    vault = load_vault(settings)
    password = read_new_password()

    async def add(db: Database) -> int:
        async with db.transaction() as tx:
            return await add_router(
                tx,
                SystemClock(),
                vault,
                await tenant_id_for_slug(tx, args.tenant),
                {
                    "name": args.name,
                    "host": args.host,
                    "port": str(args.port or ""),
                    "use_tls": "on" if args.tls else "",
                    "username": args.user,
                    "password": password,
                    "hotspot_server": args.hotspot_server,
                },
            )

    asyncio.run(_with_store(settings, add))
    print(f"router {args.name} added; next: portal router check {args.name}")


def cmd_router_check(args: argparse.Namespace) -> None:
    settings = load_settings(args)
    vault = load_vault(settings)

    async def check(db: Database) -> tuple:
        router = await router_by_name(db, args.name)
        gateways = Gateways(vault, settings.routers.api_timeout)
        try:
            health = await (await gateways.get(router)).health()
        except GatewayError as error:
            await record_contact(db, SystemClock(), router["id"], str(error))
            raise CommandError(f"router {args.name}: {error}") from None
        finally:
            await gateways.close()
        await record_contact(db, SystemClock(), router["id"])
        return router, health

    router, health = asyncio.run(_with_store(settings, check))
    api = "api-ssl" if router["use_tls"] else "api"
    print(f"router {router['name']}: reachable at {router['host']}:{router['port']} ({api})")
    print(f"  identity        {health.identity}")
    board = health.board or "unknown board"
    print(f"  RouterOS        {health.version} on {board}, up {format_duration(health.uptime)}")
    print(f"  hotspot users   {health.users} ({health.our_users} made by portal)")
    print(f"  active sessions {health.active}")
    print(f"  hosts           {health.hosts}")


def cmd_router_provision(args: argparse.Namespace) -> None:
    settings = load_settings(args)
    vault = load_vault(settings)
    portal_url = args.portal_url or settings.server.portal_url
    if not portal_url:
        raise CommandError(
            "where do Wi-Fi clients reach this portal? pass --portal-url or set server.portal_url"
        )

    async def run(db: Database) -> list[str]:
        router = await router_by_name(db, args.name)
        gateways = Gateways(vault, settings.routers.api_timeout)
        try:
            return await provision(db, gateways, router, portal_url)
        except GatewayError as error:
            raise CommandError(f"router {args.name}: {error}") from None
        finally:
            await gateways.close()

    for change in asyncio.run(_with_store(settings, run)):
        print(change)


def cmd_sim_router(args: argparse.Namespace) -> None:
    from .sim.routeros import RouterEmulator

    password = args.password or secrets.token_urlsafe(9)
    devices = []
    for device in args.device:
        mac, _, ip = device.partition(",")
        try:
            devices.append((normalize_mac(mac), str(ipaddress.ip_address(ip.strip()))))
        except ValueError:
            raise CommandError(
                f"--device {device!r}: expected MAC,IP such as AA:BB:CC:DD:EE:01,10.5.50.2"
            ) from None

    async def run() -> None:
        router = RouterEmulator(SystemClock(), users={args.user: password}, identity=args.identity)
        try:
            await router.start(args.host, args.port)
        except OSError as error:
            raise CommandError(f"cannot listen on {args.host}:{args.port}: {error.strerror}") from None
        for mac, ip in devices:
            router.connect_device(mac, ip)
            print(f"device: {mac} at {ip}")
        print(f"router: api://{args.user}:{password}@{args.host}:{router.port}", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await router.stop()

    asyncio.run(run())


def cmd_demo(args: argparse.Namespace) -> None:
    from .demo import run_demo

    logs.configure("info", "text")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_demo(port=args.port, data_dir=args.data_dir, time_scale=args.time_scale))


if __name__ == "__main__":
    sys.exit(main())
