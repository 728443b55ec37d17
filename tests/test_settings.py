import re
import tomllib
from dataclasses import fields
from pathlib import Path

import pytest

from portal import settings as config
from portal.settings import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "portal.toml"
    path.write_text(text)
    return path


def test_no_config_file_gives_safe_defaults(tmp_path):
    settings = config.load(None, environ={})
    assert settings.server.port == 8080
    assert settings.store.timezone.key == "Africa/Nairobi"
    assert settings.server.public_url == ""
    assert settings.mpesa.payment_timeout == 300
    assert settings.database_path == Path("/var/lib/portal/portal.db")


def test_toml_file_sets_values(tmp_path):
    path = write(
        tmp_path,
        '[server]\nport = 9000\npublic_url = "https://wifi.example.co.ke/"\n'
        '[store]\ndata_dir = "/srv/portal"\ntimezone = "UTC"\n',
    )
    settings = config.load(path, environ={})
    assert settings.server.port == 9000
    assert settings.server.public_url == "https://wifi.example.co.ke"
    assert settings.database_path == Path("/srv/portal/portal.db")
    assert settings.store.timezone.key == "UTC"


def test_environment_overrides_the_file(tmp_path):
    path = write(tmp_path, "[server]\nport = 9000\n")
    settings = config.load(path, environ={"PORTAL_SERVER_PORT": "9100", "PORTAL_LOG_FORMAT": "JSON"})
    assert settings.server.port == 9100
    assert settings.log.format == "json"


def test_config_path_can_come_from_the_environment(tmp_path):
    path = write(tmp_path, "[server]\nport = 9200\n")
    assert config.load(None, environ={"PORTAL_CONFIG": str(path)}).server.port == 9200


@pytest.mark.parametrize(
    ("text", "environ", "message"),
    [
        ("[server]\nport = 70000\n", {}, "server.port: must be a TCP port (0-65535), not 70000"),
        ("[server]\nport = 'eighty'\n", {}, "server.port: must be a whole number, not 'eighty'"),
        ("", {"PORTAL_SERVER_PORT": "x"}, "PORTAL_SERVER_PORT: must be a whole number, not 'x'"),
        ("[server]\nprot = 1\n", {}, "unknown setting server.prot"),
        ("[sever]\nport = 1\n", {}, "unknown section [sever]"),
        ("[store]\ntimezone = 'Mars/Olympus'\n", {}, "store.timezone: must be an IANA time zone"),
        ("[server]\npublic_url = 'wifi.example'\n", {}, "server.public_url: must be an absolute http(s) URL"),
        ("[mpesa]\npayment_timeout = 0\n", {}, "mpesa.payment_timeout: must be greater than 0"),
        ("[mpesa]\nenforce_allowlist = 'maybe'\n", {}, "mpesa.enforce_allowlist: must be true or false"),
        ("[mpesa]\ncallback_allowlist = ['1.2.3.999']\n", {}, "mpesa.callback_allowlist:"),
        ("[log]\nlevel = 'loud'\n", {}, "log.level: must be one of debug, info, warning, error"),
        ("server = 1\n", {}, "[server] must be a table of settings"),
        ("[metrics]\ntoken = 'abc'\n", {}, "metrics.token is a secret"),
        ("[admin]\nport = 8080\n", {}, "admin.port and server.port are both 8080"),
        (
            "",
            {"PORTAL_ADMIN_PORT": "9000", "PORTAL_SERVER_PORT": "9000"},
            "admin.port and server.port are both",
        ),
        ("[routers]\nallowed_networks = ['192.168.1.300/24']\n", {}, "routers.allowed_networks:"),
    ],
)
def test_bad_settings_name_the_key_and_what_is_wrong(tmp_path, text, environ, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        config.load(path, environ=environ)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_malformed_toml_names_the_file(tmp_path):
    path = write(tmp_path, "[server\nport = 1\n")
    with pytest.raises(ConfigError, match=r"portal\.toml: not valid TOML"):
        config.load(path, environ={})


def test_a_named_config_file_must_exist(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        config.load(tmp_path / "missing.toml", environ={})


def test_secret_comes_from_a_file_named_in_the_environment(tmp_path):
    (tmp_path / "token").write_text("s3cret-token\n")
    settings = config.load(None, environ={"PORTAL_METRICS_TOKEN_FILE": str(tmp_path / "token")})
    assert settings.metrics.token == "s3cret-token"


def test_secret_comes_from_a_file_named_in_the_config(tmp_path):
    (tmp_path / "token").write_text("from-config-file")
    path = write(tmp_path, f"[metrics]\ntoken_file = '{tmp_path / 'token'}'\n")
    assert config.load(path, environ={}).metrics.token == "from-config-file"


def test_secret_comes_from_systemd_credentials(tmp_path):
    (tmp_path / "metrics.token").write_text("from-systemd")
    settings = config.load(None, environ={"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert settings.metrics.token == "from-systemd"


def test_unreadable_secret_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="PORTAL_METRICS_TOKEN_FILE: cannot read secret file"):
        config.load(None, environ={"PORTAL_METRICS_TOKEN_FILE": str(tmp_path / "nope")})


def test_vault_key_from_systemd_credentials_wins(tmp_path):
    settings = config.load(None, environ={})
    assert config.vault_key_path(settings, environ={}) == Path("/etc/portal/vault.key")
    (tmp_path / "vault.key").write_text("k")
    assert config.vault_key_path(settings, environ={"CREDENTIALS_DIRECTORY": str(tmp_path)}) == (
        tmp_path / "vault.key"
    )


def test_the_admin_listens_on_its_own_port_over_https_from_8443_by_default():
    settings = config.load(None, environ={})
    assert (settings.admin.host, settings.admin.port) == ("0.0.0.0", 8443)  # noqa: S104
    assert settings.server.port == 8080
    assert config.admin_tls_files(settings, environ={}) is None  # plain HTTP until a certificate is set


def test_admin_tls_files_are_the_configured_ones_else_systemds_credentials(tmp_path):
    for name in ("admin.crt", "admin.key"):
        (tmp_path / name).write_text("pem")
    credentials = {"CREDENTIALS_DIRECTORY": str(tmp_path)}
    defaults = config.load(None, environ={})
    assert config.admin_tls_files(defaults, environ=credentials) == (
        tmp_path / "admin.crt",
        tmp_path / "admin.key",
    )
    own = config.from_mapping(
        {"admin": {"tls_certificate": "/srv/own.crt", "tls_key": "/srv/own.key"}}, environ={}, source="test"
    )
    assert config.admin_tls_files(own, environ=credentials) == (Path("/srv/own.crt"), Path("/srv/own.key"))
    half = config.from_mapping({}, environ={"PORTAL_ADMIN_TLS_CERTIFICATE": "/srv/own.crt"}, source="env")
    with pytest.raises(ConfigError, match=r"set admin\.tls_certificate and admin\.tls_key together"):
        config.admin_tls_files(half, environ=credentials)


def test_routers_are_reached_only_in_the_private_ranges_by_default():
    networks = {str(network) for network in config.load(None, environ={}).routers.allowed_networks}
    assert networks == {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"}


def test_describe_masks_secrets(tmp_path):
    (tmp_path / "token").write_text("very-secret-value")
    settings = config.load(None, environ={"PORTAL_METRICS_TOKEN_FILE": str(tmp_path / "token")})
    rows = {key: value for key, value, _ in config.describe(settings)}
    assert rows["metrics.token"] == "(set, hidden)"
    assert "very-secret-value" not in repr(rows)
    assert rows["store.database"] == "/var/lib/portal/portal.db"


def test_config_template_is_valid_toml_that_names_every_setting_at_its_default():
    text = config.template()
    assert tomllib.loads(text) == {name: {} for name in config.SECTIONS}  # all commented out
    uncommented = re.sub(r"^# (\w+ = )", r"\1", text, flags=re.MULTILINE)
    document = tomllib.loads(uncommented)
    settings = config.from_mapping(document, environ={}, source="template")
    assert config.describe(settings) == config.describe(config.from_mapping({}, environ={}))
    named = {f"{section}.{key}" for section, table in document.items() for key in table}
    secrets = {
        f"{name}.{spec.name}"
        for name, cls in config.SECTIONS.items()
        for spec in fields(cls)
        if spec.metadata["secret"]
    }
    assert named | secrets == {key for key, _, _ in config.describe(settings)}


# A value other than the default for every setting, as the file writes it and as a variable does.
EXAMPLES = {
    "server.host": ("127.0.0.1", "127.0.0.1"),
    "server.port": (9001, "9001"),
    "server.portal_url": ("http://10.5.50.2:8080", "http://10.5.50.2:8080"),
    "server.public_url": ("https://wifi.example.co.ke", "https://wifi.example.co.ke"),
    "server.trusted_proxies": (["127.0.0.1", "10.0.0.0/8"], "127.0.0.1, 10.0.0.0/8"),
    "admin.host": ("10.0.0.2", "10.0.0.2"),
    "admin.port": (9443, "9443"),
    "admin.tls_certificate": ("/srv/portal/admin.crt", "/srv/portal/admin.crt"),
    "admin.tls_key": ("/srv/portal/admin.key", "/srv/portal/admin.key"),
    "store.data_dir": ("/srv/portal", "/srv/portal"),
    "store.database": ("/srv/portal/other.db", "/srv/portal/other.db"),
    "store.timezone": ("UTC", "UTC"),
    "vault.key_file": ("/srv/portal/vault.key", "/srv/portal/vault.key"),
    "mpesa.payment_timeout": (120, "120"),
    "mpesa.callback_allowlist": (["196.201.214.200"], "196.201.214.200"),
    "mpesa.enforce_allowlist": (True, "true"),
    "limits.pushes_per_phone_per_hour": (3, "3"),
    "limits.pushes_per_device_per_hour": (4, "4"),
    "limits.code_attempts_per_hour": (5, "5"),
    "api.requests_per_minute": (30, "30"),
    "api.pushes_per_month": (500, "500"),
    "api.token_overlap_hours": (2, "2"),
    "routers.api_timeout": (2, "2"),
    "routers.connect_timeout": (1, "1"),
    "routers.sync_interval": (60, "60"),
    "routers.allowed_networks": (["10.1.0.0/16", "127.0.0.0/8"], "10.1.0.0/16, 127.0.0.0/8"),
    "log.level": ("debug", "debug"),
    "log.format": ("json", "json"),
}


def every_setting() -> list[tuple[str, str, bool]]:
    return [
        (name, spec.name, spec.metadata["secret"])
        for name, cls in config.SECTIONS.items()
        for spec in fields(cls)
    ]


@pytest.mark.parametrize(("section", "key", "secret"), every_setting())
def test_every_setting_reads_the_same_from_the_environment_as_from_the_file(tmp_path, section, key, secret):
    variable = f"PORTAL_{section}_{key}".upper()
    if secret:
        (tmp_path / "secret").write_text("s3cret\n")
        from_file = config.from_mapping({section: {f"{key}_file": str(tmp_path / "secret")}}, environ={})
        from_environment = config.from_mapping({}, environ={f"{variable}_FILE": str(tmp_path / "secret")})
        # Written in plain, it is refused in either place, never silently ignored.
        for document, environ in (({section: {key: "s3cret"}}, {}), ({}, {variable: "s3cret"})):
            with pytest.raises(ConfigError, match=f"{section}.{key} is a secret"):
                config.from_mapping(document, environ=environ)
    else:
        in_file, in_variable = EXAMPLES[f"{section}.{key}"]
        from_file = config.from_mapping({section: {key: in_file}}, environ={})
        from_environment = config.from_mapping({}, environ={variable: in_variable})
    value = getattr(getattr(from_file, section), key)
    assert value != getattr(getattr(config.Settings(), section), key)
    assert getattr(getattr(from_environment, section), key) == value


def test_a_variable_that_names_no_setting_is_refused():
    with pytest.raises(ConfigError, match="PORTAL_METRICS_TOKN: no such setting"):
        config.from_mapping({}, environ={"PORTAL_METRICS_TOKN": "x"})
    assert config.from_mapping({}, environ={"PORTAL_CONFIG": "/etc/portal/portal.toml", "HOME": "/"})
