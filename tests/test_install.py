"""scripts/install, run twice into a scratch root: an install, then an upgrade that loses nothing.

Slow (two virtualenvs, pip): deselect with `-m "not slow"`; CI runs it.
"""

import json
import os
import shutil
import signal
import sqlite3
import ssl
import subprocess
import time
import tomllib
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from portal import settings as config
from portal.cli.certificates import fingerprint
from portal.store.migrations.sqlite import MIGRATIONS
from tests.conftest import free_port
from tests.seed import add_paid_payments, add_shop_rows, payment_refs

CHECKOUT = Path(__file__).parent.parent
pytestmark = pytest.mark.slow


def install(root: Path) -> str:
    result = subprocess.run(
        [CHECKOUT / "scripts/install", "--root", root], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """Installs, changes what an owner would change, upgrades; returns what each step showed."""
    root = tmp_path_factory.mktemp("root")
    first_output = install(root)
    etc, state = root / "etc/portal", root / "var/lib/portal"
    first = {
        "venv": (root / "opt/portal/venv").resolve(),
        "key": (etc / "vault.key").read_text(),
        "token": (etc / "metrics.token").read_text().strip(),
        "certificate": (etc / "admin.crt").read_text(),
        "template": (etc / "portal.toml").read_text(),
        "database_mode": (state / "portal.db").stat().st_mode & 0o777,
    }
    add_shop_rows(state / "portal.db")
    add_paid_payments(state / "portal.db", ["before-upgrade"])
    edited = first["template"].replace('# format = "text"', 'format = "json"')
    assert edited != first["template"]
    (etc / "portal.toml").write_text(edited)
    time.sleep(1)  # virtualenvs are named by the second they were made
    second_output = install(root)
    return {"root": root, "first": first, "edited": edited, "outputs": [first_output, second_output]}


def test_install_lays_out_the_box(installed):
    root, first = installed["root"], installed["first"]
    etc = root / "etc/portal"
    assert first["template"] == config.template()
    assert tomllib.loads(first["template"]) == {name: {} for name in config.SECTIONS}  # defaults only
    for secret in ("vault.key", "metrics.token", "admin.key"):
        status = (etc / secret).stat()
        assert (status.st_mode & 0o777, status.st_uid) == (0o600, os.getuid())
    assert len(first["token"]) == 32
    assert first["database_mode"] == 0o600
    assert (root / "var/lib/portal").stat().st_mode & 0o777 == 0o700
    assert (root / "var/backups/portal").stat().st_mode & 0o777 == 0o700

    units = root / "etc/systemd/system"
    assert (units / "portal.service").read_text() == (CHECKOUT / "systemd/portal.service").read_text()
    if shutil.which("systemctl"):  # enabled offline, as for an image
        assert (units / "multi-user.target.wants/portal.service").is_symlink()
        assert (units / "timers.target.wants/portal-backup.timer").is_symlink()
    assert os.readlink(root / "usr/local/bin/portal") == "/opt/portal/venv/bin/portal"
    assert (root / "opt/portal/README.md").read_text() == (CHECKOUT / "README.md").read_text()
    # Templates travel inside the wheel, where the app looks for them first.
    assert list(first["venv"].glob("lib/python3*/site-packages/portal/templates"))
    assert "Next:" in installed["outputs"][0] and "systemctl restart portal" in installed["outputs"][0]
    # The owner checks the admin's self-signed certificate in the browser by the fingerprint printed.
    printed = f"\n  {fingerprint(etc / 'admin.crt')}\n"
    assert all(printed in output for output in installed["outputs"])


def test_rerun_upgrades_in_place_and_loses_nothing(installed):
    root, first = installed["root"], installed["first"]
    etc, state = root / "etc/portal", root / "var/lib/portal"
    assert payment_refs(state / "portal.db") == {"before-upgrade"}
    with closing(sqlite3.connect(state / "portal.db")) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert (etc / "vault.key").read_text() == first["key"]
    assert (etc / "metrics.token").read_text().strip() == first["token"]
    assert (etc / "admin.crt").read_text() == first["certificate"]
    assert (etc / "portal.toml").read_text() == installed["edited"]  # the owner's edit stays
    # A checked backup was taken before migrating.
    (backup,) = (root / "var/backups/portal").glob("portal-*.db")
    assert payment_refs(backup) == {"before-upgrade"}
    # A new virtualenv serves; the previous one stays for a rollback.
    venvs = sorted(path.name for path in (root / "opt/portal").glob("venv-*"))
    assert len(venvs) == 2 and (root / "opt/portal/venv").resolve().name == venvs[1]
    assert first["venv"].name == venvs[0]


def test_installed_server_runs_with_systemd_credentials_and_logs_no_secret(installed, tmp_path):
    """`portal serve` from the installed virtualenv, given its secrets the way LoadCredential does."""
    root, first = installed["root"], installed["first"]
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    for name in ("vault.key", "metrics.token", "admin.crt", "admin.key"):
        shutil.copy(root / "etc/portal" / name, credentials / name)
    port, admin_port = free_port(), free_port()
    environment = {
        "PATH": os.environ["PATH"],
        "PORTAL_CONFIG": str(root / "etc/portal/portal.toml"),
        "PORTAL_STORE_DATA_DIR": str(root / "var/lib/portal"),
        "PORTAL_VAULT_KEY_FILE": str(tmp_path / "absent"),  # the credential must win
        "PORTAL_SERVER_HOST": "127.0.0.1",
        "PORTAL_SERVER_PORT": str(port),
        "PORTAL_ADMIN_HOST": "127.0.0.1",
        "PORTAL_ADMIN_PORT": str(admin_port),
        "CREDENTIALS_DIRECTORY": str(credentials),
    }
    log = tmp_path / "stderr"
    with log.open("w") as stderr:
        server = subprocess.Popen(
            [root / "opt/portal/venv/bin/portal", "serve"], env=environment, stderr=stderr, cwd=tmp_path
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, log.read_text()
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "portal serve did not answer"
                time.sleep(0.1)
        assert httpx.get(f"{base}/metrics").status_code == 401
        page = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {first['token']}"})
        assert page.status_code == 200
        assert 'portal_payments{state="paid",tenant="cafe"} 1.0' in page.text
        # The admin speaks HTTPS with the certificate the install made, handed over as a credential.
        served = ssl.get_server_certificate(("127.0.0.1", admin_port))
        assert served.strip() == first["certificate"].strip()
        admin = httpx.get(f"https://127.0.0.1:{admin_port}/admin/login", verify=False)  # noqa: S501
        assert admin.status_code == 200 and admin.headers["strict-transport-security"]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

    lines = log.read_text().splitlines()
    assert lines, "the server logged nothing"
    assert all(json.loads(line)["message"] for line in lines)  # log.format = "json": one JSON object a line
    everything_printed = "\n".join([*installed["outputs"], *lines])
    assert first["key"].strip() not in everything_printed
    assert first["token"] not in everything_printed
