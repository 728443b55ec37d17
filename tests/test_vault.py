import stat

import pytest
from cryptography.fernet import Fernet

from portal.vault import (
    SECRET_COLUMNS,
    Vault,
    VaultError,
    add_key,
    fingerprint,
    new_token,
    reencrypt_all,
    retire_old_keys,
    write_new_key_file,
)


def test_round_trip_and_ciphertext_hides_the_secret(vault):
    token = vault.encrypt("bfb279f9aa9bdbcf158e97dd71a467cd")
    assert "bfb279f9" not in token
    assert vault.decrypt(token) == "bfb279f9aa9bdbcf158e97dd71a467cd"
    assert vault.encrypt("same") != vault.encrypt("same")


def test_a_token_from_another_key_is_refused_without_leaking_it(vault):
    other = Vault([Fernet.generate_key()])
    with pytest.raises(VaultError, match="can't be decrypted") as caught:
        vault.decrypt(other.encrypt("secret-value"))
    assert "secret-value" not in str(caught.value)


def test_key_file_is_created_private_and_never_overwritten(tmp_path):
    path = tmp_path / "vault.key"
    write_new_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    original = path.read_text()
    with pytest.raises(FileExistsError):
        write_new_key_file(path)
    assert path.read_text() == original
    assert Vault.from_file(path).decrypt(Vault.from_file(path).encrypt("x")) == "x"


def test_missing_or_bad_key_file_is_a_clear_error(tmp_path):
    with pytest.raises(VaultError, match="vault key file not found"):
        Vault.from_file(tmp_path / "absent.key")
    (tmp_path / "bad.key").write_text("not-a-key\n")
    with pytest.raises(VaultError, match="not a vault key file"):
        Vault.from_file(tmp_path / "bad.key")


async def test_rotation_reencrypts_every_stored_secret_under_the_new_key(db, tmp_path):
    path = tmp_path / "vault.key"
    write_new_key_file(path)
    old = Vault.from_file(path)
    async with db.transaction() as tx:
        await tx.executescript(
            "INSERT INTO tenants (id, slug, name, created_at) VALUES (1, 't', 'T', 'now');"
            "INSERT INTO packages (id, tenant_id, name, price, duration_seconds, created_at, updated_at)"
            " VALUES (1, 1, 'hour', 10, 3600, 'now', 'now');"
        )
        await tx.execute(
            "INSERT INTO mpesa_accounts (tenant_id, name, shortcode, kind, environment, consumer_key_enc,"
            " consumer_secret_enc, passkey_enc, created_at, updated_at)"
            " VALUES (1, 'T', '174379', 'paybill', 'sandbox', ?, ?, ?, 'now', 'now')",
            (old.encrypt("key"), old.encrypt("secret"), old.encrypt("passkey")),
        )
        await tx.execute(
            "INSERT INTO routers (tenant_id, name, host, port, username, password_enc, created_at)"
            " VALUES (1, 'r1', '127.0.0.1', 8728, 'api', ?, 'now')",
            (old.encrypt("router-pw"),),
        )
        await tx.execute(
            "INSERT INTO vouchers (tenant_id, package_id, batch, code_hash, code_enc, created_at)"
            " VALUES (1, 1, 'b', ?, ?, 'now')",
            (fingerprint("ABCD2345"), old.encrypt("ABCD2345")),
        )

    add_key(path)
    assert await reencrypt_all(db, Vault.from_file(path)) == 5
    retire_old_keys(path)

    new = Vault.from_file(path)
    account = await db.fetchone("SELECT * FROM mpesa_accounts")
    router = await db.fetchone("SELECT * FROM routers")
    voucher = await db.fetchone("SELECT * FROM vouchers")
    assert [new.decrypt(account[c]) for c in SECRET_COLUMNS["mpesa_accounts"]] == ["key", "secret", "passkey"]
    assert new.decrypt(router["password_enc"]) == "router-pw"
    assert new.decrypt(voucher["code_enc"]) == "ABCD2345"
    with pytest.raises(VaultError):
        old.decrypt(router["password_enc"])


async def test_every_secret_column_exists_in_the_schema(db):
    for table, columns in SECRET_COLUMNS.items():
        present = {row["name"] for row in await db.fetchall(f"PRAGMA table_info({table})")}
        assert set(columns) <= present, table


def test_tokens_are_hex_so_they_never_spell_words_daraja_refuses():
    tokens = [new_token() for _ in range(200)]
    assert all(len(token) == 32 and set(token) <= set("0123456789abcdef") for token in tokens)
    assert len(set(tokens)) == 200
