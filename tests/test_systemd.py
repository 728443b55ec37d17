"""The systemd units in systemd/: valid, and hardened to systemd's own "OK" rating or better."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

UNITS = Path(__file__).parent.parent / "systemd"
ANALYZE = shutil.which("systemd-analyze")
pytestmark = pytest.mark.skipif(
    ANALYZE is None, reason="systemd-analyze is not installed (apt-get install systemd)"
)

# systemd-analyze security's scale (exposure 0-10): PERFECT, SAFE under 1, OK under 5, then MEDIUM,
# EXPOSED, UNSAFE, DANGEROUS.
GOOD_ENOUGH = {"PERFECT", "SAFE", "OK"}


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """A scratch root as the installer leaves it: the units, the program, and systemd's own units."""
    root = tmp_path_factory.mktemp("root")
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    shutil.copytree(UNITS, root / "etc/systemd/system")
    program = root / "opt/portal/venv/bin/portal"
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    return root


@pytest.mark.parametrize("unit", sorted(path.name for path in UNITS.iterdir()))
def test_unit_passes_systemd_analyze_verify_without_a_warning(root, unit):
    result = subprocess.run(
        [ANALYZE, "verify", f"--root={root}", unit], capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stderr) == (0, "")


def test_verify_catches_what_it_should(root):
    """The check above can fail: a misspelt setting and a missing program are both reported."""
    broken = root / "etc/systemd/system/broken.service"
    broken.write_text((UNITS / "portal.service").read_text().replace("UMask=", "Umask=").replace(
        "/opt/portal/venv/bin/portal", "/opt/portal/venv/bin/portall"
    ))  # fmt: skip
    result = subprocess.run(
        [ANALYZE, "verify", f"--root={root}", "broken.service"], capture_output=True, text=True, timeout=60
    )
    broken.unlink()
    assert result.returncode != 0
    assert "Unknown key 'Umask'" in result.stderr and "portall is not executable" in result.stderr


@pytest.mark.parametrize("unit", ["portal.service", "portal-backup.service"])
def test_service_is_rated_ok_or_better_by_systemd_analyze_security(unit):
    result = subprocess.run(
        [ANALYZE, "security", "--offline=yes", "--no-pager", str(UNITS / unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    overall = re.search(r"Overall exposure level for \S+: ([\d.]+) (\w+)", result.stdout)
    assert overall, result.stdout + result.stderr
    exposure, rating = float(overall[1]), overall[2]
    assert rating in GOOD_ENOUGH and exposure < 5.0, f"{unit}: exposure {exposure} {rating}"


def test_portal_service_runs_the_installed_server_with_its_secrets_as_credentials():
    settings = {}
    for line in (UNITS / "portal.service").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    assert settings["ExecStart"] == ["/opt/portal/venv/bin/portal serve"]
    assert settings["Environment"] == ["PORTAL_CONFIG=/etc/portal/portal.toml"]
    # The names portal looks for in $CREDENTIALS_DIRECTORY (config.vault_key_path, <section>.<key>,
    # config.admin_tls_files).
    assert settings["LoadCredential"] == [
        "vault.key:/etc/portal/vault.key",
        "metrics.token:/etc/portal/metrics.token",
        "admin.crt:/etc/portal/admin.crt",
        "admin.key:/etc/portal/admin.key",
    ]
    assert settings["StateDirectory"] == ["portal"] and settings["DynamicUser"] == ["yes"]
    assert settings["Restart"] == ["on-failure"] and settings["WantedBy"] == ["multi-user.target"]
