"""What each `portal` command does (the parser in __init__.py says which runs)."""

import argparse
import asyncio
import contextlib
import getpass
import ipaddress
import logging
import secrets
import socket
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from .. import logs
from .. import settings as config
from ..access import provisioning, routers, sessions
from ..access.routers import Router, RouterError
from ..billing import vouchers
from ..clock import SystemClock, to_text
from ..gateways.base import GatewayError, normalize_mac
from ..gateways.reach import Reach
from ..gateways.registry import Gateways
from ..mpesa import accounts
from ..settings import Settings
from ..store import Connection, Store
from ..store.backup import restore_backup, take_backup
from ..store.sqlite import SQLiteStore
from ..tenancy import admins, api_clients, tenants, webhooks
from ..tenancy.passwords import hash_password, password_problem
from ..typed_numbers import whole
from ..vault import Vault, add_key, retire_old_keys, write_new_key_file
from .certificates import fingerprint, make_self_signed
from .serving import CommandError, portal_listening, serve, until_stopped, usable_tls

log = logging.getLogger(__name__)


def load_settings(args: argparse.Namespace) -> Settings:
    return config.load(getattr(args, "config", None))


def load_vault(settings: Settings) -> Vault:
    return Vault.from_file(config.vault_key_path(settings))


def _on_store(settings: Settings, work: Callable[[Store], Awaitable[Any]]) -> Any:
    """Runs `work` on the database, migrated: every command can run on a fresh box."""

    async def run() -> Any:
        store = await SQLiteStore.open(settings.database_path)
        try:
            await store.migrate()
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(run())


def positive_int(text: str) -> int:
    number = whole(text)
    if number is None or number < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return number


def cmd_serve(args: argparse.Namespace) -> None:
    from ..app import create_app

    settings = load_settings(args)
    logs.configure(settings.log.level, settings.log.format)
    vault = load_vault(settings)
    tls = usable_tls(config.admin_tls_files(settings))
    asyncio.run(_migrate(settings))  # errors here are one clear line, not a traceback from the server
    app = create_app(settings, clock=SystemClock(), vault=vault)

    async def run() -> None:
        async with portal_listening(app, settings, tls) as (customers, admin):
            log.info("listening", extra={"fields": {"customers": customers, "admin": admin}})
            if tls is None:
                log.warning(
                    "the admin pages are served over plain HTTP: set admin.tls_certificate and admin.tls_key"
                    " (`portal admin-cert` makes a pair)"
                )
            await until_stopped()

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C before the server took it over
        asyncio.run(run())


DEFAULT_CERTIFICATE, DEFAULT_KEY = Path("/etc/portal/admin.crt"), Path("/etc/portal/admin.key")


def cmd_admin_cert(args: argparse.Namespace) -> None:
    settings = load_settings(args)
    configured = config.admin_tls_files(settings, environ={})
    certificate = args.certificate or (configured[0] if configured else DEFAULT_CERTIFICATE)
    key = args.key or (configured[1] if configured else DEFAULT_KEY)
    there = [path.exists() for path in (certificate, key)]
    if there == [False, False]:
        names = list(dict.fromkeys([*args.name, socket.gethostname(), "localhost", "127.0.0.1"]))
        try:
            make_self_signed(certificate, key, names, SystemClock().now())
        except OSError as error:
            raise CommandError(f"{error.filename}: cannot write it: {error.strerror}") from None
        print(f"{certificate}: self-signed certificate for the admin pages made ({', '.join(names)});")
        print(f"{key}: its key (mode 600)")
    elif there != [True, True]:
        missing = certificate if not there[0] else key
        raise CommandError(f"{missing}: missing; give both the certificate and its key, or neither")
    try:
        print(f"SHA-256 fingerprint: {fingerprint(certificate)}")
    except (OSError, ValueError):
        raise CommandError(f"{certificate}: not a PEM certificate this command can read") from None


async def _migrate(settings: Settings) -> list[int]:
    store = await SQLiteStore.open(settings.database_path)
    try:
        return await store.migrate()
    finally:
        await store.close()


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


def cmd_keys_generate(args: argparse.Namespace) -> None:
    path = args.output or load_settings(args).vault.key_file
    try:
        write_new_key_file(path)
    except FileExistsError:
        raise CommandError(f"{path}: already exists; `portal keys rotate` replaces keys safely") from None
    except OSError as error:
        raise CommandError(f"{path}: cannot write the key file: {error.strerror}") from None
    print(f"{path}: new vault key written (mode 600); back it up apart from the database")


def rotate_secrets(db: Connection, vault: Vault) -> int:
    """Every stored secret re-encrypted under the newest key, by the owner of each table that holds
    some, in one transaction; returns how many."""
    owners = (accounts, routers, sessions, vouchers, webhooks)
    return sum(owner.rotate_secrets(db, vault) for owner in owners)


def cmd_keys_rotate(args: argparse.Namespace) -> None:
    settings = load_settings(args)
    path = config.vault_key_path(settings)
    load_vault(settings)  # the current keys must work before anything changes
    # The file keeps the old keys until every secret is re-encrypted, so a crash part-way loses nothing.
    add_key(path)
    count = _on_store(settings, lambda store: store.write(rotate_secrets, load_vault(settings)))
    retire_old_keys(path)
    print(f"{path}: rotated; {count} stored secrets re-encrypted. Restart portal to use the new key.")


def cmd_tenant_create(args: argparse.Namespace) -> None:
    settings = load_settings(args)
    work = (tenants.create, SystemClock(), args.slug, args.name, args.support_phone)
    tenant_id = _on_store(settings, lambda store: store.write(*work))
    print(f"tenant {args.slug} created (id {tenant_id})")


def cmd_admin_create(args: argparse.Namespace) -> None:
    settings = load_settings(args)
    role = args.role or ("owner" if args.tenant else "platform")
    if (role == "platform") != (args.tenant is None):
        raise CommandError("--tenant is required for owner and staff, and not allowed for platform")
    password = read_new_password()

    def create(db: Connection) -> int:
        tenant_id = tenants.id_for_slug(db, args.tenant) if args.tenant else None
        return admins.create_admin(
            db, SystemClock(), email=args.email, password=password, role=role, tenant_id=tenant_id
        )

    _on_store(settings, lambda store: store.write(create))
    print(f"admin {args.email} created ({role})")


def cmd_admin_list(args: argparse.Namespace) -> None:
    def listed(db: Connection) -> tuple[list[admins.Member], dict[int, str]]:
        tenant_id = tenants.id_for_slug(db, args.tenant) if args.tenant else None
        return admins.team(db, SystemClock(), tenant_id), tenants.slugs(db)

    members, slugs = _on_store(load_settings(args), lambda store: store.read(listed))
    rows = [("EMAIL", "TENANT", "ROLE", "STATE", "LAST SIGN-IN (UTC)")] + [
        (
            m.admin.email,
            slugs.get(m.admin.tenant_id, "-"),
            m.admin.role,
            m.state,
            m.admin.last_sign_in_at.strftime("%Y-%m-%d %H:%M") if m.admin.last_sign_in_at else "never",
        )
        for m in members
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def cmd_admin_disable(args: argparse.Namespace) -> None:
    _on_store(
        load_settings(args),
        lambda store: store.write(admins.disable, SystemClock(), admins.BY_COMMAND_LINE, email=args.email),
    )
    print(f"admin {args.email} removed: they can't sign in, and their sessions have ended")


def cmd_admin_unlock(args: argparse.Namespace) -> None:
    _on_store(
        load_settings(args),
        lambda store: store.write(admins.unlock, SystemClock(), admins.BY_COMMAND_LINE, email=args.email),
    )
    print(f"admin {args.email} unlocked")


def cmd_admin_reset_password(args: argparse.Namespace) -> None:
    settings = load_settings(args)
    password = read_new_password()
    if problem := password_problem(password):
        raise CommandError(problem)
    hashed = hash_password(password)
    _on_store(
        settings,
        lambda store: store.write(
            admins.reset_password, SystemClock(), admins.BY_COMMAND_LINE, hashed, email=args.email
        ),
    )
    print(f"admin {args.email}: password reset, unlocked and signed out everywhere")


def cmd_api_client_create(args: argparse.Namespace) -> None:
    settings = load_settings(args)

    def create(db: Connection) -> tuple[api_clients.ApiClient, str]:
        tenant_id = tenants.id_for_slug(db, args.tenant)
        return api_clients.create(db, SystemClock(), tenant_id, args.name, args.scope)

    client, token = _on_store(settings, lambda store: store.write(create))
    print(f"API client {client.id} ({client.name}) created for {args.tenant}: {client.scopes}")
    print(f"token: {token}")
    print("Keep the token now: it is stored only as a hash, and never shown again.")


def cmd_api_client_list(args: argparse.Namespace) -> None:
    settings = load_settings(args)

    def listed(db: Connection) -> list[api_clients.ApiClient]:
        return api_clients.of_tenant(db, tenants.id_for_slug(db, args.tenant))

    found = _on_store(settings, lambda store: store.read(listed))
    if not found:
        print(f"{args.tenant} has no API clients; add one with `portal api-client create`")
    for client in found:
        used = f"last used {to_text(client.last_used_at)}" if client.last_used_at else "never used"
        revoked = f", revoked {to_text(client.revoked_at)}" if client.revoked_at else ""
        print(
            f"{client.id}  {client.name}  {client.scopes}  key {api_clients.PREFIX}{client.key_id}_…"
            f"  created {to_text(client.created_at)}, {used}{revoked}"
        )


def cmd_api_client_revoke(args: argparse.Namespace) -> None:
    settings = load_settings(args)

    def revoke(db: Connection) -> api_clients.ApiClient | None:
        client = api_clients.get(db, args.id)
        if client is not None and client.revoked_at is None:
            api_clients.revoke(db, SystemClock(), client.id)
        return client

    client = _on_store(settings, lambda store: store.write(revoke))
    if client is None:
        raise CommandError(f"no API client {args.id}")
    if client.revoked_at is not None:
        raise CommandError(f"API client {args.id} ({client.name}) was revoked already")
    print(f"API client {client.id} ({client.name}) revoked: its token is refused from now on")


def cmd_api_client_rotate(args: argparse.Namespace) -> None:
    settings = load_settings(args)
    overlap = timedelta(0) if args.end_old_now else timedelta(hours=settings.api.token_overlap_hours)
    work = (api_clients.rotate, SystemClock(), args.id, overlap)
    client, token = _on_store(settings, lambda store: store.write(*work))
    print(f"API client {client.id} ({client.name}): new token: {token}")
    print("Keep the token now: it is stored only as a hash, and never shown again.")
    if client.previous_token_until:
        print(f"The old token keeps working until {to_text(client.previous_token_until)}, then stops.")
    else:
        print("The old token is refused from now on.")


def quota(text: str) -> int | str:
    """A quota as typed: a whole number of at least 1, or `default` (the [api] setting's)."""
    return text if text == "default" else positive_int(text)


def cmd_api_client_limits(args: argparse.Namespace) -> None:
    """Sets the quotas given (`default`: back to the settings'), keeps those not given."""
    settings = load_settings(args)
    asked = {"requests_per_minute": args.requests_per_minute, "pushes_per_month": args.pushes_per_month}

    def changed(db: Connection) -> api_clients.ApiClient | None:
        client = api_clients.get(db, args.id)
        if client is None:
            return None
        quotas = {
            name: getattr(client, name) if value is None else None if value == "default" else value
            for name, value in asked.items()
        }
        api_clients.set_quotas(db, client.id, **quotas)
        return api_clients.get(db, client.id)

    client = _on_store(settings, lambda store: store.write(changed))
    if client is None:
        raise CommandError(f"no API client {args.id}")
    per_minute = client.requests_per_minute or f"{settings.api.requests_per_minute} (default)"
    per_month = client.pushes_per_month or f"{settings.api.pushes_per_month} (default)"
    print(f"API client {client.id} ({client.name}): {per_minute} calls a minute, {per_month} prompts a month")


def cmd_webhook_add(args: argparse.Namespace) -> None:
    settings = load_settings(args)
    work = (webhooks.add, SystemClock(), load_vault(settings), args.client, args.url)
    endpoint, secret = _on_store(settings, lambda store: store.write(*work))
    print(f"webhook {endpoint.id} added to API client {endpoint.api_client_id}: {endpoint.url}")
    print(f"secret: {secret}")
    print("Keep the secret now (the receiver checks signatures with it): it is never shown again.")


def cmd_webhook_list(args: argparse.Namespace) -> None:
    found = _on_store(load_settings(args), lambda store: store.read(webhooks.of_client, args.client))
    if not found:
        print(f"API client {args.client} has no webhooks; add one with `portal api-client webhook add`")
    for endpoint in found:
        if endpoint.removed_at:
            state = f"removed {to_text(endpoint.removed_at)}"
        elif endpoint.disabled_at:
            failing = to_text(endpoint.failing_since)
            state = f"disabled {to_text(endpoint.disabled_at)} after failing since {failing}"
        elif endpoint.failing_since:
            state = f"failing since {to_text(endpoint.failing_since)}"
        else:
            state = "active"
        print(f"{endpoint.id}  {endpoint.url}  {state}  (added {to_text(endpoint.created_at)})")


def _change_webhook(
    args: argparse.Namespace, change: Callable[..., bool], unchanged: str, *extra: Any
) -> webhooks.Endpoint:
    """The endpoint, once `change` has been made to it; refused if there is none or it changed nothing
    (it was `unchanged` already)."""

    def changed(db: Connection) -> tuple[webhooks.Endpoint | None, bool]:
        endpoint = webhooks.get(db, args.id)
        return endpoint, endpoint is not None and change(db, *extra, endpoint.id)

    endpoint, done = _on_store(load_settings(args), lambda store: store.write(changed))
    if endpoint is None:
        raise CommandError(f"no webhook {args.id}")
    if not done:
        raise CommandError(f"webhook {args.id} ({endpoint.url}) {unchanged}")
    return endpoint


def cmd_webhook_remove(args: argparse.Namespace) -> None:
    endpoint = _change_webhook(args, webhooks.remove, "was removed already", SystemClock())
    print(f"webhook {endpoint.id} removed: {endpoint.url} gets no more events")


def cmd_webhook_enable(args: argparse.Namespace) -> None:
    endpoint = _change_webhook(args, webhooks.enable, "is not disabled")
    print(f"webhook {endpoint.id} enabled: {endpoint.url} gets new events again")


def cmd_webhook_deliveries(args: argparse.Namespace) -> None:
    work = (webhooks.deliveries, args.client, args.limit)
    found = _on_store(load_settings(args), lambda store: store.read(*work))
    if not found:
        print(f"API client {args.client} has sent no webhooks yet")
    for message, attempts in found:
        print(
            f"{message.event_id}  {message.event_type}  {message.subject}  to webhook {message.endpoint_id}"
            f"  {message.state}, {message.attempts} tries, queued {to_text(message.created_at)}"
            + (f", next try {to_text(message.next_attempt_at)}" if message.next_attempt_at else "")
        )
        for attempt in attempts:
            answer = f"HTTP {attempt.status_code}" if attempt.status_code is not None else "no answer"
            print(f"    {to_text(attempt.at)}  {answer}" + (f"  {attempt.error}" if attempt.error else ""))


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
    from ..sim.daraja import DEFAULT_CONSUMERS, DEFAULT_MERCHANTS, Options, create_simulator

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


def cmd_router_add(args: argparse.Namespace) -> None:
    settings = load_settings(args)
    vault = load_vault(settings)
    password = read_new_password()
    typed = {
        "name": args.name,
        "host": args.host,
        "port": str(args.port or ""),
        "use_tls": "on" if args.tls else "",
        "username": args.user,
        "password": password,
        "hotspot_server": args.hotspot_server,
    }

    spec = provisioning.read_as_typed(typed)

    def add(db: Connection) -> int:
        tenant_id = tenants.id_for_slug(db, args.tenant)
        return provisioning.add_router(db, SystemClock(), vault, tenant_id, spec)

    async def checked_then_added(store: Store) -> int:
        await provisioning.check_address(spec, settings.routers.allowed_networks)
        return await store.write(add)

    _on_store(settings, checked_then_added)
    print(f"router {args.name} added; next: portal router check {args.name}")


async def _router_named(store: Store, name: str) -> Router:
    router = await store.read(routers.by_name, name)
    if router is None:
        raise RouterError("name", f"no router named {name!r}")
    return router


def cmd_router_check(args: argparse.Namespace) -> None:
    settings = load_settings(args)
    vault = load_vault(settings)

    async def check(store: Store) -> tuple:
        router = await _router_named(store, args.name)
        gateways = Gateways(Reach.of(settings.routers))
        try:
            return router, await provisioning.check(store, gateways, vault, SystemClock(), router)
        except GatewayError as error:
            raise CommandError(f"router {router.name}: {error}") from None
        finally:
            await gateways.close()

    router, health = _on_store(settings, check)
    api = "api-ssl" if router.use_tls else "api"
    print(f"router {router.name}: reachable at {router.address} ({api})")
    print(f"  identity        {health.identity}")
    for line in health.summary:
        print(f"  {line}")


def cmd_router_provision(args: argparse.Namespace) -> None:
    settings = load_settings(args)
    vault = load_vault(settings)
    portal_url = args.portal_url or settings.server.portal_url
    if not portal_url:
        raise CommandError(
            "where do Wi-Fi clients reach this portal? pass --portal-url or set server.portal_url"
        )

    async def run(store: Store) -> list[str]:
        router = await _router_named(store, args.name)
        gateways = Gateways(Reach.of(settings.routers))
        try:
            return await provisioning.provision(store, gateways, vault, SystemClock(), router, portal_url)
        except GatewayError as error:
            raise CommandError(f"router {router.name}: {error}") from None
        finally:
            await gateways.close()

    for change in _on_store(settings, run):
        print(change)


def cmd_sim_router(args: argparse.Namespace) -> None:
    from ..sim.routeros import RouterEmulator

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
        admin_port = args.admin_port or args.port + 1
        asyncio.run(run_demo(args.port, admin_port, data_dir=args.data_dir, time_scale=args.time_scale))
