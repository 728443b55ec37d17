from dataclasses import replace

import pytest

from portal.mpesa.accounts import (
    RETYPE_SECRETS,
    AccountError,
    accounts,
    create_account,
    load_account,
    read_account,
    update_account,
)
from portal.mpesa.daraja import PRODUCTION, SANDBOX
from portal.scope import Scope
from portal.tenants import create_tenant

SECRETS = {"consumer_key": "key-123", "consumer_secret": "secret-456", "passkey": "passkey-789"}


@pytest.fixture
async def tenant_id(db, clock):
    async with db.transaction() as tx:
        return await create_tenant(tx, clock, "cafe", "Demo Cafe")


async def create(db, vault, clock, tenant_id, **fields):
    values = {"name": "Demo Cafe", "shortcode": "174379", "kind": "paybill", "environment": "sandbox"}
    async with db.transaction() as tx:
        return await create_account(tx, vault, clock, tenant_id=tenant_id, **(values | SECRETS | fields))


async def test_secrets_are_stored_encrypted_and_come_back_only_for_the_client(db, vault, clock, tenant_id):
    account_id = await create(db, vault, clock, tenant_id)
    row = dict(await db.fetchone("SELECT * FROM mpesa_accounts WHERE id = ?", (account_id,)))
    for secret in SECRETS.values():
        assert secret not in str(row)
    account = await load_account(db, vault, account_id)
    assert (account.consumer_key, account.consumer_secret, account.passkey) == tuple(SECRETS.values())
    assert account.base_url == SANDBOX
    [summary] = await accounts(db, Scope((tenant_id,)))
    assert summary["name"] == "Demo Cafe"
    assert not any(secret in str(tuple(summary)) for secret in SECRETS.values())


async def test_a_till_pays_its_till_number_through_its_store_number(db, vault, clock, tenant_id):
    account_id = await create(
        db,
        vault,
        clock,
        tenant_id,
        kind="till",
        shortcode="300100",
        till_number="300101",
        environment="production",
    )
    account = await load_account(db, vault, account_id)
    assert account.party_b == "300101" and account.transaction_type == "CustomerBuyGoodsOnline"
    assert account.base_url == PRODUCTION


async def test_environment_may_be_a_simulators_base_url(db, vault, clock, tenant_id):
    account_id = await create(db, vault, clock, tenant_id, environment="http://127.0.0.1:8090/")
    assert (await load_account(db, vault, account_id)).base_url == "http://127.0.0.1:8090"


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"name": " "}, "name"),
        ({"shortcode": "17"}, "shortcode"),
        ({"kind": "wallet"}, "kind"),
        ({"kind": "till"}, "till_number"),
        ({"till_number": "300101"}, "till_number: A PayBill has no till number"),
        ({"environment": "staging"}, "environment"),
        ({"passkey": " "}, "passkey: Paste the passkey"),
    ],
)
async def test_wrong_fields_are_named(db, vault, clock, tenant_id, fields, problem):
    with pytest.raises(AccountError, match=problem):
        await create(db, vault, clock, tenant_id, **fields)


def edited(stored=None, **fields):
    """An edit form as posted: the secrets left empty are kept."""
    form = {"name": "Cafe Two", "shortcode": "174379", "kind": "paybill", "environment": "sandbox"}
    spec, errors = read_account(form | fields, stored=stored or {"environment": "sandbox"})
    assert spec is not None, errors
    return spec


async def test_update_keeps_secrets_left_blank_and_replaces_those_given(db, vault, clock, tenant_id):
    account_id = await create(db, vault, clock, tenant_id)
    async with db.transaction() as tx:
        assert await update_account(
            tx, vault, clock, account_id, tenant_id, edited(consumer_key="", passkey="new-passkey")
        )
    account = await load_account(db, vault, account_id)
    assert account.name == "Cafe Two" and account.base_url == SANDBOX
    assert account.consumer_key == "key-123" and account.passkey == "new-passkey"


@pytest.mark.parametrize("environment", ["production", "http://attacker.example:8080"])
def test_a_new_environment_needs_every_secret_typed_again(environment):
    form = {"name": "Cafe", "shortcode": "174379", "kind": "paybill", "environment": environment}
    stored = {"environment": "sandbox"}
    spec, errors = read_account(form | {"passkey": "new-passkey"}, stored=stored)
    assert spec is None
    assert errors == dict.fromkeys(["consumer_key", "consumer_secret"], RETYPE_SECRETS)
    spec, errors = read_account(form | SECRETS, stored=stored)
    assert errors == {} and spec.environment == environment


async def test_update_never_keeps_a_secret_for_another_environment(db, vault, clock, tenant_id):
    account_id = await create(db, vault, clock, tenant_id)
    # As if the form's check had been passed: an edit that raced another, or a caller that skipped it.
    moved = replace(edited(passkey="new-passkey"), environment="http://attacker.example:8080")
    async with db.transaction() as tx:
        assert not await update_account(tx, vault, clock, account_id, tenant_id, moved)
    account = await load_account(db, vault, account_id)
    assert account.base_url == SANDBOX and account.passkey == SECRETS["passkey"]


async def test_update_is_scoped_to_the_tenant(db, vault, clock, tenant_id):
    account_id = await create(db, vault, clock, tenant_id)
    async with db.transaction() as tx:
        other = await create_tenant(tx, clock, "other", "Other")
    async with db.transaction() as tx:
        assert not await update_account(tx, vault, clock, account_id, other, edited(name="Mine now"))
    assert (await load_account(db, vault, account_id)).name == "Demo Cafe"
