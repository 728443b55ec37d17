"""The `portal` command."""

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from .. import __version__
from ..access.routers import RouterError
from ..gateways.base import GatewayError
from ..settings import DEFAULT_CONFIG, ConfigError
from ..store import StoreError
from ..tenancy.api_clients import SCOPES, ApiClientError
from ..tenancy.tenants import TenantError
from ..tenancy.webhooks import WebhookError
from ..vault import VaultError
from .commands import (
    cmd_admin_cert,
    cmd_admin_create,
    cmd_admin_disable,
    cmd_admin_list,
    cmd_admin_reset_password,
    cmd_admin_unlock,
    cmd_api_client_create,
    cmd_api_client_limits,
    cmd_api_client_list,
    cmd_api_client_revoke,
    cmd_api_client_rotate,
    cmd_backup,
    cmd_check_config,
    cmd_config_template,
    cmd_demo,
    cmd_keys_generate,
    cmd_keys_rotate,
    cmd_migrate,
    cmd_restore,
    cmd_router_add,
    cmd_router_check,
    cmd_router_provision,
    cmd_serve,
    cmd_sim_daraja,
    cmd_sim_router,
    cmd_tenant_create,
    cmd_webhook_add,
    cmd_webhook_deliveries,
    cmd_webhook_enable,
    cmd_webhook_list,
    cmd_webhook_remove,
    positive_int,
    quota,
)
from .serving import CommandError


def main(argv: list[str] | None = None) -> int:
    # Whatever this process creates (the database, its WAL, backups, keys, the demo's folder) holds
    # phone numbers or secrets: its owner's alone, however the shell or the unit set the umask.
    os.umask(0o077)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        return args.run(args) or 0
    except (
        CommandError,
        ConfigError,
        StoreError,
        VaultError,
        TenantError,
        ApiClientError,
        WebhookError,
        RouterError,
        GatewayError,
    ) as error:
        print(f"portal: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        type=Path,
        default=argparse.SUPPRESS,
        help=f"settings file (default {DEFAULT_CONFIG}, or $PORTAL_CONFIG)",
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
    certificate = command(
        "admin-cert",
        cmd_admin_cert,
        "make a self-signed TLS certificate and key for the admin pages, unless they exist; print the"
        " certificate's SHA-256 fingerprint",
    )
    certificate.add_argument(
        "--certificate", type=Path, help="default: admin.tls_certificate, or /etc/portal/admin.crt"
    )
    certificate.add_argument("--key", type=Path, help="default: admin.tls_key, or /etc/portal/admin.key")
    certificate.add_argument(
        "--name",
        action="append",
        default=[],
        help="a name or address the box is reached at (repeat for more; this host's name is added)",
    )

    backup = command(
        "backup", cmd_backup, "copy the database, consistently, while portal runs; the copy is checked"
    )
    backup.add_argument("path", type=Path, help="a file, or a folder to hold dated copies (portal-<time>.db)")
    backup.add_argument(
        "--keep", type=positive_int, metavar="N", help="with a folder: delete all but the N newest copies"
    )
    restore = command(
        "restore",
        cmd_restore,
        "replace the database with a checked backup; the old one is kept beside it (stop portal first)",
    )
    restore.add_argument("path", type=Path, help="a backup made by `portal backup`")

    demo = command("demo", cmd_demo, "run the whole system on built-in simulators, on fresh demo data")
    demo.add_argument("--port", type=int, default=8080, help="port for the customers' pages (default 8080)")
    demo.add_argument(
        "--admin-port", type=int, help="port for the admin pages and the API (default: --port + 1)"
    )
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
    listing = command("list", cmd_admin_list, "list the admins, their roles and states", admin_commands)
    listing.add_argument("--tenant", help="tenant slug (omit for every admin)")
    disable = command(
        "disable",
        cmd_admin_disable,
        "remove an admin: they can't sign in and are signed out everywhere (kept for the audit log)",
        admin_commands,
    )
    disable.add_argument("--email", required=True)
    unlock = command(
        "unlock",
        cmd_admin_unlock,
        "end an admin's lock and the slowdown of their sign-in from every address",
        admin_commands,
    )
    unlock.add_argument("--email", required=True)
    reset = command(
        "reset-password",
        cmd_admin_reset_password,
        "set a new password for an admin, prompted for or read from stdin; also unlocks them and signs"
        " them out everywhere",
        admin_commands,
    )
    reset.add_argument("--email", required=True)

    api_client = commands.add_parser("api-client", help="manage the API clients of a tenant (other software)")
    api_commands = api_client.add_subparsers(title="commands", metavar="COMMAND", required=True)
    create = command(
        "create", cmd_api_client_create, "add an API client; prints its token, once", api_commands
    )
    create.add_argument("--tenant", required=True, help="slug of the tenant the client works for")
    create.add_argument("--name", required=True, help="what the client is, e.g. 'Shop checkout'")
    create.add_argument(
        "--scope", action="append", required=True, choices=SCOPES, help="what it may do (repeat for more)"
    )
    listed = command("list", cmd_api_client_list, "list a tenant's API clients", api_commands)
    listed.add_argument("--tenant", required=True, help="tenant slug")
    revoke = command("revoke", cmd_api_client_revoke, "revoke an API client's token for good", api_commands)
    revoke.add_argument("id", type=positive_int, help="the client's id (from `portal api-client list`)")
    rotate = command(
        "rotate",
        cmd_api_client_rotate,
        "give an API client a new token, printed once; the old one works [api] token_overlap_hours longer",
        api_commands,
    )
    rotate.add_argument("id", type=positive_int, help="the client's id (from `portal api-client list`)")
    rotate.add_argument("--end-old-now", action="store_true", help="refuse the old token at once (it leaked)")
    limits = command(
        "limits",
        cmd_api_client_limits,
        "set an API client's own limits (the box's [api] settings otherwise); prints them",
        api_commands,
    )
    limits.add_argument("id", type=positive_int, help="the client's id (from `portal api-client list`)")
    for option, what in (
        ("--requests-per-minute", "calls a minute"),
        ("--pushes-per-month", "M-Pesa prompts a month"),
    ):
        limits.add_argument(
            option, type=quota, metavar="N", help=f"{what}: N, or `default` (not given: kept as it is)"
        )
    webhook = api_commands.add_parser(
        "webhook", help="the URLs an API client is told of its payments at (signed webhooks)"
    )
    webhook_commands = webhook.add_subparsers(title="commands", metavar="COMMAND", required=True)
    client_help = "the API client's id (from `portal api-client list`)"
    webhook_id_help = "the webhook's id (from `portal api-client webhook list`)"
    add_webhook = command(
        "add",
        cmd_webhook_add,
        "add a URL for a client's events; prints its signing secret, once",
        webhook_commands,
    )
    add_webhook.add_argument("client", type=positive_int, help=client_help)
    add_webhook.add_argument("url", help="where events are posted, e.g. https://shop.example/hooks/portal")
    listed_webhooks = command(
        "list", cmd_webhook_list, "list a client's webhooks and their state", webhook_commands
    )
    listed_webhooks.add_argument("client", type=positive_int, help=client_help)
    remove_webhook = command(
        "remove", cmd_webhook_remove, "stop sending events to a webhook", webhook_commands
    )
    remove_webhook.add_argument("id", type=positive_int, help=webhook_id_help)
    enable_webhook = command(
        "enable",
        cmd_webhook_enable,
        "send new events again to a webhook disabled after failing",
        webhook_commands,
    )
    enable_webhook.add_argument("id", type=positive_int, help=webhook_id_help)
    deliveries = command(
        "deliveries",
        cmd_webhook_deliveries,
        "a client's latest events and each try at sending them",
        webhook_commands,
    )
    deliveries.add_argument("client", type=positive_int, help=client_help)
    deliveries.add_argument("--limit", type=positive_int, default=20, help="how many events (default 20)")

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
