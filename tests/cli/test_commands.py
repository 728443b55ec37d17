"""The `portal` command as an installer would use it: a real process, its output and exit code."""

import contextlib
import json
import re
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from portal.store.sqlite import SQLiteStore
from portal.tenancy import admins
from portal.tenancy.admins import PasswordChangeRefused, SignInRefused
from tests.conftest import free_port, rows
from tests.seed import PASSWORD, Seeded, seed_tenant

ROOT = Path(__file__).resolve().parent.parent


def portal(*args: str, stdin: str = "", env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "portal.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
        **kwargs,
    )


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "portal.toml"
    path.write_text(
        f"[store]\ndata_dir = '{tmp_path}'\n[vault]\nkey_file = '{tmp_path / 'vault.key'}'\n"
        f"[server]\nhost = '127.0.0.1'\nport = {free_port()}\n"
        f"[admin]\nhost = '127.0.0.1'\nport = {free_port()}\n"
    )
    return path


def one_line_error(result: subprocess.CompletedProcess, exit_code: int = 2) -> str:
    assert result.returncode == exit_code, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("portal: ")
    return lines[0]


@contextlib.contextmanager
def running(*args: str) -> Iterator[subprocess.Popen]:
    """A long-running `portal` command; on leaving, Ctrl-C must stop it cleanly (exit 0)."""
    with subprocess.Popen(
        [sys.executable, "-m", "portal.cli", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            yield process
        finally:
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=20) == 0, process.stderr.read()


def wait_until_up(url: str, process: subprocess.Popen) -> httpx.Response:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(process.stderr.read())
        try:
            return httpx.get(url, timeout=1)
        except httpx.TransportError:
            time.sleep(0.05)  # readiness of a server in another process, not timing
    raise AssertionError(f"{url} never answered")


def test_help_lists_every_command():
    result = portal("--help")
    assert result.returncode == 0
    for command in ("serve", "demo", "migrate", "check-config", "keys", "tenant", "admin"):
        assert command in result.stdout
    for sub in (("keys", "--help"), ("admin", "create", "--help"), ("demo", "--help")):
        assert portal(*sub).returncode == 0


def test_missing_config_file_is_one_clear_line(tmp_path):
    line = one_line_error(portal("--config", str(tmp_path / "absent.toml"), "check-config"))
    assert "absent.toml: no such config file" in line


def test_malformed_config_is_one_clear_line(tmp_path):
    (tmp_path / "bad.toml").write_text("[server]\nport = 'x'\n")
    line = one_line_error(portal("--config", str(tmp_path / "bad.toml"), "migrate"))
    assert "server.port: must be a whole number" in line


def test_check_config_prints_effective_settings_with_secrets_masked(config_file, tmp_path):
    (tmp_path / "token").write_text("top-secret-metrics-token")
    env = {"PATH": "/usr/bin:/bin", "PORTAL_METRICS_TOKEN_FILE": str(tmp_path / "token")}
    result = portal("--config", str(config_file), "check-config", env=env)
    assert result.returncode == 0, result.stderr
    assert re.search(rf"^store\.database +{re.escape(str(tmp_path / 'portal.db'))} ", result.stdout, re.M)
    assert "metrics.token" in result.stdout and "(set, hidden)" in result.stdout
    assert "top-secret-metrics-token" not in result.stdout + result.stderr


def test_missing_key_file_stops_serve_with_one_line(config_file):
    line = one_line_error(portal("--config", str(config_file), "serve"))
    assert "vault key file not found" in line


def test_database_from_a_newer_version_is_refused(config_file, tmp_path):
    assert portal("--config", str(config_file), "migrate").returncode == 0
    with sqlite3.connect(tmp_path / "portal.db") as connection:
        connection.execute("PRAGMA user_version = 999")
    line = one_line_error(portal("--config", str(config_file), "migrate"))
    assert "schema version 999 is newer than this portal understands" in line


def test_locked_database_is_one_clear_line(config_file, tmp_path):
    assert portal("--config", str(config_file), "migrate").returncode == 0
    holder = sqlite3.connect(tmp_path / "portal.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        line = one_line_error(
            portal("--config", str(config_file), "tenant", "create", "--slug", "a", "--name", "A")
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "database is locked" in line
    with sqlite3.connect(tmp_path / "portal.db") as connection:
        assert connection.execute("SELECT count(*) FROM tenants").fetchone() == (0,)


def test_migrate_applies_once_then_reports_up_to_date(config_file):
    first = portal("--config", str(config_file), "migrate")
    assert "applied migrations [1" in first.stdout
    assert "already up to date" in portal("--config", str(config_file), "migrate").stdout


def test_admin_create_reads_the_password_from_stdin_and_stores_only_a_hash(config_file, tmp_path):
    assert (
        portal(
            "--config", str(config_file), "tenant", "create", "--slug", "cafe", "--name", "Cafe"
        ).returncode
        == 0
    )
    result = portal(
        "--config", str(config_file), "admin", "create", "--tenant", "cafe", "--email", "o@cafe.example",
        stdin="a long enough password\n",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(tmp_path / "portal.db") as connection:
        role, stored = connection.execute("SELECT role, password_hash FROM admin_users").fetchone()
    assert role == "owner"
    assert stored.startswith("$argon2id$") and "long enough" not in stored
    again = portal(
        "--config", str(config_file), "admin", "create", "--tenant", "cafe", "--email", "O@cafe.example",
        stdin="a long enough password\n",
    )  # fmt: skip
    assert "already exists" in one_line_error(again)


def test_admin_create_refuses_a_weak_password_and_an_unknown_tenant(config_file):
    portal("--config", str(config_file), "migrate")
    weak = portal("--config", str(config_file), "admin", "create", "--email", "p@x.example", stdin="short\n")
    assert "at least 10 characters" in one_line_error(weak)
    unknown = portal(
        "--config", str(config_file), "admin", "create", "--tenant", "nope", "--email", "a@b.example",
        stdin="long enough password\n",
    )  # fmt: skip
    assert "no tenant with slug 'nope'" in one_line_error(unknown)


async def locked_out(tmp_path, clock, vault) -> tuple[SQLiteStore, Seeded, str]:
    """A box whose owner is locked (a stolen session guessed at their password) and, at their office
    address, slowed down by wrong guesses; returns its store, what it holds and the stolen session."""
    store = await SQLiteStore.open(tmp_path / "portal.db")
    await store.migrate()
    seeded = await seed_tenant(store, clock, vault, "cafe")
    stolen = await admins.sign_in(store, clock, seeded.owner, PASSWORD, "198.51.100.7")
    thief = await store.read(admins.admin_for_session, clock, stolen)
    for _ in range(admins.MAX_FAILURES):
        with contextlib.suppress(PasswordChangeRefused):
            new = "a new password for me"
            await admins.change_password(
                store, clock, thief, current="guess", new=new, again=new, source_ip=""
            )
    for _ in range(admins.FREE_PER_ACCOUNT):
        with contextlib.suppress(SignInRefused):
            await admins.sign_in(store, clock, seeded.owner, "guess", OFFICE)
    return store, seeded, stolen


OFFICE = "192.168.88.10"


async def refused(store, clock, email: str, password: str) -> bool:
    try:
        await admins.sign_in(store, clock, email, password, OFFICE)
    except SignInRefused:
        return True
    return False


async def commands_audited(store) -> list[tuple[str, str]]:
    events = await rows(store, "SELECT action, target FROM audit_events WHERE actor = '(command line)'")
    return [tuple(event) for event in events]


async def test_admin_unlock_lets_a_locked_and_slowed_owner_sign_in_at_once(
    config_file, tmp_path, clock, vault
):
    store, seeded, _ = await locked_out(tmp_path, clock, vault)
    try:
        assert await refused(store, clock, seeded.owner, PASSWORD)
        unknown = portal("--config", str(config_file), "admin", "unlock", "--email", "nobody@cafe.example")
        assert "no admin has the email 'nobody@cafe.example'" in one_line_error(unknown)
        result = portal("--config", str(config_file), "admin", "unlock", "--email", seeded.owner.upper())
        assert result.returncode == 0, result.stderr
        assert not await refused(store, clock, seeded.owner, PASSWORD)
        assert await commands_audited(store) == [("account_unlocked", f"admin:{seeded.owner}")]
    finally:
        await store.close()


async def test_admin_reset_password_reads_it_from_stdin_and_signs_the_admin_out_everywhere(
    config_file, tmp_path, clock, vault
):
    store, seeded, stolen = await locked_out(tmp_path, clock, vault)
    new = "the owner's new password"
    try:
        weak = portal(
            "--config", str(config_file), "admin", "reset-password", "--email", seeded.owner, stdin="short\n"
        )
        assert "at least 10 characters" in one_line_error(weak)
        result = portal(
            "--config", str(config_file), "admin", "reset-password", "--email", seeded.owner, stdin=f"{new}\n"
        )
        assert result.returncode == 0, result.stderr
        assert new not in result.stdout + result.stderr
        assert await store.read(admins.admin_for_session, clock, stolen) is None
        assert await refused(store, clock, seeded.owner, PASSWORD)
        assert not await refused(store, clock, seeded.owner, new)
        assert await commands_audited(store) == [("password_reset", f"admin:{seeded.owner}")]
        assert new not in repr(await rows(store, "SELECT * FROM audit_events"))
    finally:
        await store.close()


def test_keys_generate_refuses_to_overwrite(config_file, tmp_path):
    assert portal("--config", str(config_file), "keys", "generate").returncode == 0
    key = (tmp_path / "vault.key").read_text()
    assert "already exists" in one_line_error(portal("--config", str(config_file), "keys", "generate"))
    assert (tmp_path / "vault.key").read_text() == key


def test_keys_rotate_leaves_one_new_key_that_opens_every_secret(config_file, tmp_path):
    from portal.vault import Vault

    portal("--config", str(config_file), "keys", "generate")
    portal("--config", str(config_file), "tenant", "create", "--slug", "cafe", "--name", "Cafe")
    old_key = (tmp_path / "vault.key").read_text()
    with sqlite3.connect(tmp_path / "portal.db") as connection:
        connection.execute(
            "INSERT INTO routers (tenant_id, name, host, port, username, password_enc, created_at)"
            " VALUES (1, 'r1', '127.0.0.1', 8728, 'api', ?, 'now')",
            (Vault.from_file(tmp_path / "vault.key").encrypt("router-password"),),
        )
    result = portal("--config", str(config_file), "keys", "rotate")
    assert result.returncode == 0, result.stderr
    assert "1 stored secrets re-encrypted" in result.stdout
    new_key = (tmp_path / "vault.key").read_text()
    assert new_key != old_key and len(new_key.split()) == 1
    with sqlite3.connect(tmp_path / "portal.db") as connection:
        (token,) = connection.execute("SELECT password_enc FROM routers").fetchone()
    assert Vault.from_file(tmp_path / "vault.key").decrypt(token) == "router-password"


def test_serve_answers_healthz(config_file, tmp_path):
    portal("--config", str(config_file), "keys", "generate")
    port, admin_port = (int(text.split()[0]) for text in config_file.read_text().split("port = ")[1:])
    with running("--config", str(config_file), "serve") as process:
        response = wait_until_up(f"http://127.0.0.1:{port}/healthz", process)
        assert response.json()["database"]["state"] == "ok"
        assert httpx.get(f"http://127.0.0.1:{admin_port}/admin/login").status_code == 200  # no certificate
        assert httpx.get(f"http://127.0.0.1:{port}/admin/login").status_code == 404


def test_admin_cert_makes_a_self_signed_pair_once_and_prints_its_fingerprint(config_file, tmp_path):
    files = ["--certificate", str(tmp_path / "admin.crt"), "--key", str(tmp_path / "admin.key")]
    made = portal("--config", str(config_file), "admin-cert", *files, "--name", "192.168.88.2")
    again = portal("--config", str(config_file), "admin-cert", *files)
    assert made.returncode == again.returncode == 0, made.stderr + again.stderr
    assert stat.S_IMODE((tmp_path / "admin.key").stat().st_mode) == 0o600
    printed = re.search(r"SHA-256 fingerprint: ((?:[0-9A-F]{2}:){31}[0-9A-F]{2})\n", made.stdout)
    assert printed and "192.168.88.2" in made.stdout
    assert again.stdout == f"SHA-256 fingerprint: {printed.group(1)}\n"  # kept, not made anew
    (tmp_path / "admin.crt").unlink()
    assert "admin.crt: missing" in one_line_error(portal("--config", str(config_file), "admin-cert", *files))


def test_serve_refuses_a_certificate_it_cannot_use_in_one_line(config_file, tmp_path):
    portal("--config", str(config_file), "keys", "generate")
    (tmp_path / "admin.crt").write_text("not a certificate")
    (tmp_path / "admin.key").write_text("nor a key")
    environment = {
        "PATH": "/usr/bin:/bin",
        "PORTAL_ADMIN_TLS_CERTIFICATE": str(tmp_path / "admin.crt"),
        "PORTAL_ADMIN_TLS_KEY": str(tmp_path / "admin.key"),
    }
    refused = portal("--config", str(config_file), "serve", env=environment)
    assert "as the admin's TLS certificate and key" in one_line_error(refused)


def test_demo_starts_on_fresh_data_and_stops_cleanly_on_ctrl_c(tmp_path):
    port, admin_port = free_port(), free_port()
    demo = (
        "demo",
        "--port",
        str(port),
        "--admin-port",
        str(admin_port),
        "--data-dir",
        str(tmp_path / "demo"),
    )
    with running(*demo) as process:
        lines = {}
        while "api" not in lines:
            name, _, value = process.stdout.readline().partition(": ")
            assert name, process.stderr.read()
            lines[name] = value.strip()
        assert wait_until_up(f"http://127.0.0.1:{port}/healthz", process).status_code == 200
        assert lines["admin"].startswith(f"http://127.0.0.1:{admin_port}/admin/login user=owner@demo.example")
        assert httpx.get(lines["admin"].split()[0]).status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/admin/login").status_code == 404
        # Made by the process, under the test runner's umask: its owner's alone all the same.
        made = {path.name: stat.S_IMODE(path.stat().st_mode) for path in (tmp_path / "demo").iterdir()}
        assert stat.S_IMODE((tmp_path / "demo").stat().st_mode) == 0o700
        assert {"portal.db", "portal.db-wal", "portal.db-shm", "vault.key"} <= set(made)
        assert set(made.values()) == {0o600}
        base, token, docs = re.fullmatch(r"(\S+) token=(\S+) docs=(\S+)", lines["api"]).groups()
        assert base == f"http://127.0.0.1:{admin_port}/api/v1"
        assert docs == f"http://127.0.0.1:{admin_port}/api/docs"
        assert "Quick start" in httpx.get(docs).text
        # The README's example, as a reader pastes it into a shell.
        payment = json.loads(readme_example("curl -sS", token, admin_port))
        assert (payment["state"], payment["amount"], payment["reference"]) == ("pending", 10, "ORDER1001")
        assert payment["phone"] == "0712 ••• 678"
        access = json.loads(readme_example("/api/v1/access", token, admin_port))
        assert (access["router"], access["package"], access["seconds"]) == ("demo-router", "24 hours", 86400)


def readme_example(starting: str, token: str, port: int) -> str:
    """Runs the README's shell example that starts with `starting` against the demo; returns its output."""
    readme = (ROOT.parent / "README.md").read_text()
    block = next(
        code for code in re.findall(r"```sh\n(.*?)```", readme, re.S) if starting in code and "TOKEN=" in code
    )
    script = block.replace("127.0.0.1:8081", f"127.0.0.1:{port}").replace(
        "TOKEN=portal_api_…", f"TOKEN={token}"
    )
    result = subprocess.run(["bash", "-e", "-c", script], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout


async def test_admin_list_shows_each_admins_business_role_state_and_last_sign_in(
    config_file, tmp_path, clock, vault
):
    store = await SQLiteStore.open(tmp_path / "portal.db")
    await store.migrate()
    seeded = await seed_tenant(store, clock, vault, "cafe")
    await seed_tenant(store, clock, vault, "hostel", phone="254722000000")
    await admins.sign_in(store, clock, seeded.owner, PASSWORD, OFFICE)
    await store.write(admins.disable, clock, admins.BY_COMMAND_LINE, email=seeded.staff)
    await store.close()
    everyone = portal("--config", str(config_file), "admin", "list")
    cafe = portal("--config", str(config_file), "admin", "list", "--tenant", "cafe")
    assert everyone.returncode == 0, everyone.stderr
    assert everyone.stdout.split("\n")[0].split() == [
        "EMAIL",
        "TENANT",
        "ROLE",
        "STATE",
        "LAST",
        "SIGN-IN",
        "(UTC)",
    ]
    lines = {line.split()[0]: line.split()[1:] for line in cafe.stdout.strip().splitlines()[1:]}
    assert lines == {
        seeded.owner: ["cafe", "owner", "active", *clock.now().strftime("%Y-%m-%d %H:%M").split()],
        seeded.staff: ["cafe", "staff", "removed", "never"],
    }
    assert "staff@hostel.example" in everyone.stdout


async def test_admin_disable_signs_the_admin_out_and_refuses_their_sign_in_but_keeps_the_last_owner(
    config_file, tmp_path, clock, vault
):
    store = await SQLiteStore.open(tmp_path / "portal.db")
    await store.migrate()
    seeded = await seed_tenant(store, clock, vault, "cafe")
    session = await admins.sign_in(store, clock, seeded.staff, PASSWORD, OFFICE)
    try:
        last_owner = portal("--config", str(config_file), "admin", "disable", "--email", seeded.owner)
        assert "the business's only owner" in one_line_error(last_owner)
        result = portal("--config", str(config_file), "admin", "disable", "--email", seeded.staff)
        assert result.returncode == 0, result.stderr
        assert await store.read(admins.admin_for_session, clock, session) is None
        assert await refused(store, clock, seeded.staff, PASSWORD)
        assert not await refused(store, clock, seeded.owner, PASSWORD)
        assert await commands_audited(store) == [("admin_removed", f"admin:{seeded.staff}")]
    finally:
        await store.close()
