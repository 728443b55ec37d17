"""`portal demo`: the whole system on fresh data, with nothing to sign up for and no internet."""

import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from .. import settings as config
from ..access import provisioning
from ..app import create_app
from ..catalog import packages
from ..catalog.packages import PackageSpec
from ..clock import AcceleratedClock, Clock, SystemClock
from ..mpesa.accounts import create_account
from ..sim.daraja import (
    DEFAULT_CONSUMERS,
    DEFAULT_INITIATORS,
    SANDBOX_PASSKEY,
    Options,
    create_simulator,
    simulator_certificate,
)
from ..sim.routeros import RouterEmulator
from ..store import Connection
from ..store.sqlite import SQLiteStore
from ..tenancy import admins, api_clients, tenants
from ..vault import Vault, write_new_key_file
from .serving import CommandError, background, portal_listening, until_stopped

DEMO_PACKAGES = [
    # name, price (KES), duration (s), rate limit (upload/download)
    ("1 hour", 10, 3600, "1M/2M"),
    ("3 hours", 20, 3 * 3600, "1M/2M"),
    ("24 hours", 50, 24 * 3600, "2M/4M"),
    ("7 days", 250, 7 * 24 * 3600, "2M/5M"),
]


@dataclass
class DemoData:
    tenant_id: int
    admin_email: str
    admin_password: str
    api_token: str  # an API client's, with every scope: the demo business's payments and access


def seed(db: Connection, clock: Clock) -> DemoData:
    password = secrets.token_urlsafe(9)
    email = "owner@demo.example"
    tenant_id = tenants.create(db, clock, "demo", "Demo Cafe Wi-Fi", "0712 345 678")
    admins.create_admin(db, clock, email=email, password=password, role="owner", tenant_id=tenant_id)
    for name, price, seconds, rate in DEMO_PACKAGES:
        packages.create(db, clock, tenant_id, PackageSpec(name, price, seconds, rate, None))
    _, api_token = api_clients.create(db, clock, tenant_id, "Demo shop", list(api_clients.SCOPES))
    return DemoData(tenant_id, email, password, api_token)


DEMO_DEVICE = ("AA:BB:CC:00:00:01", "10.5.50.2")  # a phone on the demo router's Wi-Fi
DEMO_ROUTER = "demo-router"


async def run_demo(port: int, admin_port: int, data_dir: Path | None, time_scale: float) -> None:
    """The portal, the Daraja simulator and a RouterOS emulator in one process, on fresh data. Everything
    listens on 127.0.0.1 only, the admin too (on its own port, over plain HTTP: it never leaves this
    machine)."""
    data_dir = data_dir or Path(tempfile.mkdtemp(prefix="portal-demo-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    if (data_dir / "portal.db").exists():
        raise CommandError(f"{data_dir}: already holds a database; the demo starts from fresh data")
    key_file = data_dir / "vault.key"
    write_new_key_file(key_file)
    base = f"http://127.0.0.1:{port}"
    settings = config.from_mapping(
        {
            # The simulator calls back on loopback, as Daraja would on the portal's public address.
            "server": {"host": "127.0.0.1", "port": port, "portal_url": base, "public_url": base},
            "admin": {"host": "127.0.0.1", "port": admin_port},
            # The RouterOS emulator listens on loopback, which a real box never lets a router be at.
            "routers": {"allowed_networks": [*config.PRIVATE_NETWORKS, "127.0.0.0/8"]},
            "store": {"data_dir": str(data_dir)},
            "vault": {"key_file": str(key_file)},
            # A payer types a PIN in real time, however fast package time runs.
            "mpesa": {"payment_timeout": int(300 * time_scale), "callback_allowlist": ["127.0.0.1/32"]},
        },
        environ={},
        source="demo",
    )
    clock = AcceleratedClock(time_scale) if time_scale != 1 else SystemClock()
    vault = Vault.from_file(key_file)
    router_password = secrets.token_urlsafe(9)
    emulator = RouterEmulator(clock, users={"admin": router_password}, identity=DEMO_ROUTER)
    await emulator.start()
    emulator.connect_device(*DEMO_DEVICE)
    # M-Pesa is someone else's system on real time: its prompt waits for a person, not for package time.
    daraja = create_simulator(SystemClock(), Options())
    try:
        async with background(daraja, "127.0.0.1", 0) as daraja_url:
            store = await SQLiteStore.open(settings.database_path)
            try:
                await store.migrate()
                demo = await store.write(seed, clock)
                await store.write(
                    connect, clock, vault, demo.tenant_id, daraja_url, emulator.port, router_password
                )
            finally:
                await store.close()
            mac, ip = DEMO_DEVICE
            device = urlencode(
                {"router": DEMO_ROUTER, "mac": mac, "ip": ip, "link-orig": "http://example.com/"}
            )
            app = create_app(settings, clock=clock, vault=vault)
            async with portal_listening(app, settings, tls=None) as (customers, admin):
                print(f"data: {data_dir}")
                print(f"splash: {customers}/?{device}")
                print(f"phone: {daraja_url}/phone")
                print(
                    f"admin: {admin}/admin/login user={demo.admin_email} password={demo.admin_password}"
                    "  (the admin's own port, on this machine only)"
                )
                print(f"router: api://admin:{router_password}@127.0.0.1:{emulator.port}")
                print(f"api: {admin}/api/v1 token={demo.api_token} docs={admin}/api/docs", flush=True)
                await until_stopped()
    finally:
        await emulator.stop()


def add_simulator_account(
    db: Connection, vault: Vault, clock: Clock, tenant_id: int, daraja_url: str, name: str = "Demo Cafe"
) -> int:
    """An M-Pesa account on the Daraja simulator: its sandbox PayBill, passkey and consumer, and its
    initiator with the simulator's certificate (Transaction Status)."""
    initiator, initiator_password = next(iter(DEFAULT_INITIATORS.items()))
    return create_account(
        db,
        vault,
        clock,
        tenant_id=tenant_id,
        name=name,
        shortcode="174379",
        kind="paybill",
        environment=daraja_url,
        consumer_key=next(iter(DEFAULT_CONSUMERS)),
        consumer_secret=next(iter(DEFAULT_CONSUMERS.values())),
        passkey=SANDBOX_PASSKEY,
        initiator_name=initiator,
        initiator_password=initiator_password,
        certificate=simulator_certificate(),
    )


def connect(
    db: Connection,
    clock: Clock,
    vault: Vault,
    tenant_id: int,
    daraja_url: str,
    router_port: int,
    router_password: str,
) -> None:
    """The demo business's M-Pesa account on the Daraja simulator and its router on the RouterOS emulator."""
    account_id = add_simulator_account(db, vault, clock, tenant_id, daraja_url)
    provisioning.add_router_as_typed(
        db,
        clock,
        vault,
        tenant_id,
        {
            "name": DEMO_ROUTER,
            "host": "127.0.0.1",
            "port": str(router_port),
            "username": "admin",
            "password": router_password,
            "mpesa_account_id": str(account_id),
        },
    )
