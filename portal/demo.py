"""`portal demo`: the whole system on fresh data, with nothing to sign up for and no internet."""

import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import config
from .app import create_app
from .cli import CommandError, serve
from .clock import AcceleratedClock, Clock, SystemClock, to_text
from .db import Database
from .migrations import migrate
from .tenants import create_admin, create_tenant
from .vault import Vault, write_new_key_file

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


async def seed(db: Database, clock: Clock) -> DemoData:
    password = secrets.token_urlsafe(9)
    email = "owner@demo.example"
    async with db.transaction() as tx:
        tenant_id = await create_tenant(tx, clock, "demo", "Demo Cafe Wi-Fi", "0712 345 678")
        await create_admin(tx, clock, email=email, password=password, role="owner", tenant_id=tenant_id)
        now = to_text(clock.now())
        for position, (name, price, seconds, rate) in enumerate(DEMO_PACKAGES):
            await tx.execute(
                "INSERT INTO packages (tenant_id, name, price, duration_seconds, rate_limit, position,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (tenant_id, name, price, seconds, rate, position, now, now),
            )
    return DemoData(tenant_id, email, password)


async def run_demo(port: int, data_dir: Path | None, time_scale: float) -> None:
    data_dir = data_dir or Path(tempfile.mkdtemp(prefix="portal-demo-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    if (data_dir / "portal.db").exists():
        raise CommandError(f"{data_dir}: already holds a database; the demo starts from fresh data")
    key_file = data_dir / "vault.key"
    write_new_key_file(key_file)
    settings = config.from_mapping(
        {
            "server": {"host": "127.0.0.1", "port": port},
            "store": {"data_dir": str(data_dir)},
            "vault": {"key_file": str(key_file)},
        },
        environ={},
        source="demo",
    )
    clock = AcceleratedClock(time_scale) if time_scale != 1 else SystemClock()
    db = await Database.open(settings.database_path)
    try:
        await migrate(db)
        demo = await seed(db, clock)
    finally:
        await db.close()

    base = f"http://127.0.0.1:{port}"
    print(f"data: {data_dir}")
    print(f"health: {base}/healthz")
    print(f"admin: {base}/admin/login user={demo.admin_email} password={demo.admin_password}", flush=True)
    app = create_app(settings, clock=clock, vault=Vault.from_file(key_file))
    await serve(app, "127.0.0.1", port)
