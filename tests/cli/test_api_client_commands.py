"""`portal api-client create|list|revoke`, in process, on a fresh database."""

import sqlite3

import pytest

from portal import cli
from portal.vault import Vault, fingerprint, write_new_key_file


@pytest.fixture
def config_file(tmp_path):
    write_new_key_file(tmp_path / "vault.key")
    path = tmp_path / "portal.toml"
    path.write_text(f'[store]\ndata_dir = "{tmp_path}"\n[vault]\nkey_file = "{tmp_path}/vault.key"\n')
    assert cli.main(["--config", str(path), "tenant", "create", "--slug", "shop", "--name", "Shop"]) == 0
    return path


def run(config_file, *args: str) -> int:
    return cli.main(["--config", str(config_file), "api-client", *args])


def test_create_prints_the_token_once_and_stores_only_its_hash(config_file, tmp_path, capsys):
    capsys.readouterr()
    scopes = ("--scope", "payments:write", "--scope", "payments:read")
    assert run(config_file, "create", "--tenant", "shop", "--name", "Shop checkout", *scopes) == 0
    out = capsys.readouterr().out
    assert "API client 1 (Shop checkout) created for shop: payments:write payments:read" in out
    [token] = [line.removeprefix("token: ") for line in out.splitlines() if line.startswith("token: ")]
    assert token.startswith("portal_api_")
    with sqlite3.connect(tmp_path / "portal.db") as db:
        [(stored,)] = db.execute("SELECT token_hash FROM api_clients").fetchall()
    assert stored == fingerprint(token)

    assert run(config_file, "list", "--tenant", "shop") == 0
    listed = capsys.readouterr().out
    assert "1  Shop checkout  payments:write payments:read" in listed and "never used" in listed
    assert token not in listed


def test_revoke_refuses_the_token_from_then_on_and_says_so_when_repeated(config_file, capsys):
    assert (
        run(config_file, "create", "--tenant", "shop", "--name", "Front desk", "--scope", "access:write") == 0
    )
    capsys.readouterr()
    assert run(config_file, "revoke", "1") == 0
    assert "API client 1 (Front desk) revoked" in capsys.readouterr().out
    assert run(config_file, "revoke", "1") == 2
    assert "portal: API client 1 (Front desk) was revoked already" in capsys.readouterr().err
    assert run(config_file, "revoke", "7") == 2
    assert "portal: no API client 7" in capsys.readouterr().err
    assert run(config_file, "list", "--tenant", "shop") == 0
    assert ", revoked 20" in capsys.readouterr().out


def test_unknown_scope_and_tenant_are_refused_in_one_line(config_file, capsys):
    with pytest.raises(SystemExit):
        run(config_file, "create", "--tenant", "shop", "--name", "X", "--scope", "payments:delete")
    assert "invalid choice: 'payments:delete'" in capsys.readouterr().err
    assert run(config_file, "create", "--tenant", "nope", "--name", "X", "--scope", "payments:read") == 2
    assert "portal: no tenant with slug 'nope'" in capsys.readouterr().err
    assert run(config_file, "create", "--tenant", "shop", "--name", " ", "--scope", "payments:read") == 2
    assert "portal: a client's name is 1 to 80 characters" in capsys.readouterr().err


def test_a_webhook_is_added_with_its_secret_shown_once_listed_removed_and_its_deliveries_read(
    config_file, tmp_path, capsys
):
    assert run(config_file, "create", "--tenant", "shop", "--name", "Till", "--scope", "payments:read") == 0
    capsys.readouterr()
    assert run(config_file, "webhook", "add", "1", "https://shop.example/hooks/portal") == 0
    out = capsys.readouterr().out
    assert "webhook 1 added to API client 1: https://shop.example/hooks/portal" in out
    [secret] = [line.removeprefix("secret: ") for line in out.splitlines() if line.startswith("secret: ")]
    assert secret.startswith("whsec_")
    with sqlite3.connect(tmp_path / "portal.db") as db:
        [(stored,)] = db.execute("SELECT secret_enc FROM webhook_endpoints").fetchall()
    assert Vault.from_file(tmp_path / "vault.key").decrypt(stored) == secret

    assert run(config_file, "webhook", "list", "1") == 0
    listed = capsys.readouterr().out
    assert "1  https://shop.example/hooks/portal  active" in listed and secret not in listed
    assert run(config_file, "webhook", "deliveries", "1") == 0
    assert "API client 1 has sent no webhooks yet" in capsys.readouterr().out
    assert run(config_file, "webhook", "remove", "1") == 0
    assert (
        "webhook 1 removed: https://shop.example/hooks/portal gets no more events" in capsys.readouterr().out
    )
    assert run(config_file, "webhook", "remove", "1") == 2
    assert (
        "portal: webhook 1 (https://shop.example/hooks/portal) was removed already" in capsys.readouterr().err
    )
    assert run(config_file, "webhook", "enable", "1") == 2
    assert "is not disabled" in capsys.readouterr().err
    assert run(config_file, "webhook", "list", "1") == 0
    assert "  removed 20" in capsys.readouterr().out


def test_a_webhook_for_no_client_a_revoked_one_or_no_http_url_is_refused_in_one_line(config_file, capsys):
    assert run(config_file, "create", "--tenant", "shop", "--name", "Till", "--scope", "payments:read") == 0
    assert run(config_file, "webhook", "add", "7", "https://shop.example/hooks") == 2
    assert "portal: no API client 7" in capsys.readouterr().err
    assert run(config_file, "webhook", "add", "1", "ftp://shop.example/hooks") == 2
    assert "portal: 'ftp://shop.example/hooks' is not an http(s) URL" in capsys.readouterr().err
    assert run(config_file, "revoke", "1") == 0
    assert run(config_file, "webhook", "add", "1", "https://shop.example/hooks") == 2
    assert "portal: API client 1 (Till) is revoked" in capsys.readouterr().err
    assert run(config_file, "webhook", "remove", "3") == 2
    assert "portal: no webhook 3" in capsys.readouterr().err


def test_rotate_prints_a_new_token_and_when_the_old_one_stops(config_file, capsys):
    assert run(config_file, "create", "--tenant", "shop", "--name", "Till", "--scope", "payments:read") == 0
    capsys.readouterr()
    assert run(config_file, "rotate", "1") == 0
    out = capsys.readouterr().out
    assert "API client 1 (Till): new token: portal_api_" in out
    assert "The old token keeps working until 20" in out
    assert run(config_file, "rotate", "1", "--end-old-now") == 0
    assert "The old token is refused from now on." in capsys.readouterr().out
    assert run(config_file, "revoke", "1") == 0
    assert run(config_file, "rotate", "1") == 2
    assert "portal: API client 1 (Till) is revoked" in capsys.readouterr().err


def test_limits_sets_a_clients_quotas_keeps_those_not_given_and_goes_back_to_the_defaults(
    config_file, capsys
):
    assert run(config_file, "create", "--tenant", "shop", "--name", "Till", "--scope", "payments:read") == 0
    capsys.readouterr()
    assert run(config_file, "limits", "1", "--requests-per-minute", "30", "--pushes-per-month", "500") == 0
    assert "API client 1 (Till): 30 calls a minute, 500 prompts a month" in capsys.readouterr().out
    assert run(config_file, "limits", "1", "--requests-per-minute", "default") == 0
    assert "120 (default) calls a minute, 500 prompts a month" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        run(config_file, "limits", "1", "--pushes-per-month", "0")
    assert "must be a whole number of at least 1, not '0'" in capsys.readouterr().err
    assert run(config_file, "limits", "9", "--pushes-per-month", "5") == 2
    assert "portal: no API client 9" in capsys.readouterr().err
