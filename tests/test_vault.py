import stat

import pytest
from cryptography.fernet import Fernet

from portal.billing import vouchers
from portal.cli.commands import rotate_secrets
from portal.vault import Vault, VaultError, add_key, new_token, retire_old_keys, write_new_key_file
from tests.conftest import execute, rows
from tests.seed import seed_tenant


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


# Every column that holds a secret ends in `_enc` (the schema's convention); each table's owner
# rotates its own.


async def secret_columns(store) -> dict[str, list[str]]:
    def read(db) -> dict[str, list[str]]:
        tables = db.all("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        found = {}
        for table in tables:
            columns = [row["name"] for row in db.all(f"PRAGMA table_info({table['name']})")]
            if secret := [column for column in columns if column.endswith("_enc")]:
                found[table["name"]] = secret
        return found

    return await store.read(read)


async def stored_secrets(store) -> dict[tuple[str, int, str], str]:
    """Every stored secret token, by (table, row id, column)."""
    found = {}
    for table, columns in (await secret_columns(store)).items():
        for row in await rows(store, f"SELECT id, {', '.join(columns)} FROM {table}"):
            for column in columns:
                found[(table, row["id"], column)] = row[column]
    return found


async def a_secret_in_every_table_that_holds_some(store, clock, old: Vault) -> dict[tuple, str]:
    """A tenant with an M-Pesa account, a router, a session and two vouchers, all under `old`; returns
    every stored secret's plaintext by (table, row id, column)."""
    seeded = await seed_tenant(store, clock, old, "cafe")
    await store.write(vouchers.generate_batch, clock, old, seeded.tenant_id, seeded.package_id, 2)
    await execute(
        store,
        "UPDATE mpesa_accounts SET initiator_name = 'api', initiator_password_enc = ?",
        (old.encrypt("initiator password"),),
    )
    tokens = await stored_secrets(store)
    assert {table for table, _, _ in tokens} == {"mpesa_accounts", "routers", "access_sessions", "vouchers"}
    return {where: old.decrypt(token) for where, token in tokens.items()}


async def test_rotation_reencrypts_every_stored_secret_under_the_new_key(store, clock, tmp_path):
    path = tmp_path / "vault.key"
    write_new_key_file(path)
    old = Vault.from_file(path)
    plaintexts = await a_secret_in_every_table_that_holds_some(store, clock, old)
    assert len(plaintexts) == 4 + 1 + 1 + 2

    add_key(path)
    assert await store.write(rotate_secrets, Vault.from_file(path)) == len(plaintexts)
    # Had it stopped here, before the old key was retired, the file would still open every secret.
    both, tokens = Vault.from_file(path), await stored_secrets(store)
    assert {where: both.decrypt(token) for where, token in tokens.items()} == plaintexts
    retire_old_keys(path)

    new = Vault.from_file(path)
    tokens = await stored_secrets(store)
    assert {where: new.decrypt(token) for where, token in tokens.items()} == plaintexts
    for token in tokens.values():
        with pytest.raises(VaultError):
            old.decrypt(token)


async def test_a_rotation_that_fails_part_way_changes_nothing_and_the_old_key_still_opens_everything(
    store, clock, tmp_path
):
    path = tmp_path / "vault.key"
    write_new_key_file(path)
    old = Vault.from_file(path)
    plaintexts = await a_secret_in_every_table_that_holds_some(store, clock, old)
    # The last voucher's code was stored under a key nobody has any more: the rotation gets through
    # the accounts, routers and sessions before it fails on it.
    stranger = Vault([Fernet.generate_key()]).encrypt("lost")
    last = "UPDATE vouchers SET code_enc = ? WHERE id = (SELECT max(id) FROM vouchers)"
    await execute(store, last, (stranger,))
    before = await stored_secrets(store)

    add_key(path)  # what `portal keys rotate` does first; then it crashes
    with pytest.raises(VaultError):
        await store.write(rotate_secrets, Vault.from_file(path))

    assert await stored_secrets(store) == before
    kept = Vault.from_file(path)  # the file still holds the old key beside the new one
    opened = {where: kept.decrypt(token) for where, token in before.items() if token != stranger}
    assert opened == {where: text for where, text in plaintexts.items() if before[where] != stranger}


def test_tokens_are_hex_so_they_never_spell_words_daraja_refuses():
    tokens = [new_token() for _ in range(200)]
    assert all(len(token) == 32 and set(token) <= set("0123456789abcdef") for token in tokens)
    assert len(set(tokens)) == 200
