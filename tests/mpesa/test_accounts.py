from dataclasses import replace

import pytest

from portal.mpesa import accounts
from portal.mpesa.accounts import create_account
from portal.mpesa.daraja import PRODUCTION, SANDBOX
from portal.mpesa.form import (
    RETYPE_INITIATOR_PASSWORD,
    RETYPE_SECRETS,
    AccountError,
    AccountSpec,
    read_account,
)
from portal.sim.daraja import simulator_certificate
from portal.tenancy import tenants
from portal.tenancy.scope import Scope
from tests.conftest import rows

SECRETS = {"consumer_key": "key-123", "consumer_secret": "secret-456", "passkey": "passkey-789"}
# What an edit form is checked against: the account as stored (only its environment matters here).
STORED_IN_SANDBOX = AccountSpec("Demo Cafe", "paybill", "174379", None, "sandbox", {})


@pytest.fixture
async def tenant_id(store, clock):
    return await store.write(tenants.create, clock, "cafe", "Demo Cafe")


async def create(store, vault, clock, tenant_id, **fields):
    values = {"name": "Demo Cafe", "shortcode": "174379", "kind": "paybill", "environment": "sandbox"}
    return await store.write(
        lambda db: create_account(db, vault, clock, tenant_id=tenant_id, **(values | SECRETS | fields))
    )


async def load(store, vault, account_id):
    return await store.read(accounts.load, vault, account_id)


async def test_secrets_are_stored_encrypted_and_come_back_only_for_the_client(store, vault, clock, tenant_id):
    account_id = await create(store, vault, clock, tenant_id)
    [row] = await rows(store, "SELECT * FROM mpesa_accounts WHERE id = ?", (account_id,))
    for secret in SECRETS.values():
        assert secret not in str(dict(row))
    account = await load(store, vault, account_id)
    assert (account.consumer_key, account.consumer_secret, account.passkey) == tuple(SECRETS.values())
    assert account.base_url == SANDBOX
    [summary] = await store.read(accounts.in_scope, Scope((tenant_id,)))
    assert summary.name == "Demo Cafe"
    assert not any(secret in repr(summary) for secret in SECRETS.values())
    assert await store.read(accounts.get, account_id) == summary


async def test_a_till_pays_its_till_number_through_its_store_number(store, vault, clock, tenant_id):
    account_id = await create(
        store,
        vault,
        clock,
        tenant_id,
        kind="till",
        shortcode="300100",
        till_number="300101",
        environment="production",
    )
    account = await load(store, vault, account_id)
    assert account.party_b == "300101" and account.transaction_type == "CustomerBuyGoodsOnline"
    assert account.base_url == PRODUCTION


async def test_environment_may_be_a_simulators_base_url(store, vault, clock, tenant_id):
    account_id = await create(store, vault, clock, tenant_id, environment="http://127.0.0.1:8090/")
    assert (await load(store, vault, account_id)).base_url == "http://127.0.0.1:8090"


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
async def test_wrong_fields_are_named(store, vault, clock, tenant_id, fields, problem):
    with pytest.raises(AccountError, match=problem):
        await create(store, vault, clock, tenant_id, **fields)
    assert await rows(store, "SELECT id FROM mpesa_accounts") == []


def edited(stored=STORED_IN_SANDBOX, **fields):
    """An edit form as posted: the secrets left empty are kept."""
    form = {"name": "Cafe Two", "shortcode": "174379", "kind": "paybill", "environment": "sandbox"}
    spec, errors = read_account(form | fields, stored=stored)
    assert spec is not None, errors
    return spec


async def test_update_keeps_secrets_left_blank_and_replaces_those_given(store, vault, clock, tenant_id):
    account_id = await create(store, vault, clock, tenant_id)
    spec = edited(consumer_key="", passkey="new-passkey")
    assert await store.write(accounts.update, vault, clock, account_id, tenant_id, spec)
    account = await load(store, vault, account_id)
    assert account.name == "Cafe Two" and account.base_url == SANDBOX
    assert account.consumer_key == "key-123" and account.passkey == "new-passkey"


@pytest.mark.parametrize("environment", ["production", "http://attacker.example:8080"])
def test_a_new_environment_needs_every_secret_typed_again(environment):
    form = {"name": "Cafe", "shortcode": "174379", "kind": "paybill", "environment": environment}
    spec, errors = read_account(form | {"passkey": "new-passkey"}, stored=STORED_IN_SANDBOX)
    assert spec is None
    assert errors == dict.fromkeys(["consumer_key", "consumer_secret"], RETYPE_SECRETS)
    spec, errors = read_account(form | SECRETS, stored=STORED_IN_SANDBOX)
    assert errors == {} and spec.environment == environment


async def test_update_never_keeps_a_secret_for_another_environment(store, vault, clock, tenant_id):
    account_id = await create(store, vault, clock, tenant_id)
    # As if the form's check had been passed: an edit that raced another, or a caller that skipped it.
    moved = replace(edited(passkey="new-passkey"), environment="http://attacker.example:8080")
    assert not await store.write(accounts.update, vault, clock, account_id, tenant_id, moved)
    account = await load(store, vault, account_id)
    assert account.base_url == SANDBOX and account.passkey == SECRETS["passkey"]


async def test_update_is_scoped_to_the_tenant(store, vault, clock, tenant_id):
    account_id = await create(store, vault, clock, tenant_id)
    other = await store.write(tenants.create, clock, "other", "Other")
    assert not await store.write(accounts.update, vault, clock, account_id, other, edited(name="Mine now"))
    assert (await load(store, vault, account_id)).name == "Demo Cafe"
    assert await store.read(accounts.get, account_id, Scope((other,))) is None


# -- Transaction Status: the initiator, its password (a secret like the others) and the certificate --

INITIATOR = {"initiator_name": "apiop37", "initiator_password": "initiator-pass-123"}


async def test_the_initiator_password_is_stored_encrypted_and_rotated_with_the_others(
    store, vault, clock, tenant_id
):
    certificate = simulator_certificate()
    account_id = await create(store, vault, clock, tenant_id, **INITIATOR, certificate=certificate)
    [row] = await rows(store, "SELECT * FROM mpesa_accounts WHERE id = ?", (account_id,))
    assert "initiator-pass-123" not in str(dict(row)) and row["certificate"] == certificate.strip()
    account = await load(store, vault, account_id)
    assert account.checks_receipts and account.initiator_password == "initiator-pass-123"
    assert "initiator-pass-123" not in repr(account)
    [summary] = await store.read(accounts.in_scope, Scope((tenant_id,)))
    assert summary.checks_receipts and summary.initiator_name == "apiop37"
    await create(store, vault, clock, tenant_id, name="No initiator")  # three secrets, not four
    assert await store.write(accounts.rotate_secrets, vault) == 7
    assert (await load(store, vault, account_id)).initiator_password == "initiator-pass-123"


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"initiator_name": "apiop37"}, "certificate"),
        ({"initiator_password": "x", "certificate": "CERT"}, "initiator_name"),
        ({"initiator_name": "apiop37", "certificate": "CERT"}, "initiator_password: Type the initiator"),
        (
            {**INITIATOR, "certificate": "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----"},
            "readable",
        ),
    ],
)
async def test_transaction_status_needs_all_three_or_none(store, vault, clock, tenant_id, fields, problem):
    fields = {key: simulator_certificate() if value == "CERT" else value for key, value in fields.items()}
    with pytest.raises(AccountError, match=problem):
        await create(store, vault, clock, tenant_id, **fields)


def test_a_new_environment_needs_the_initiator_password_typed_again():
    stored = replace(STORED_IN_SANDBOX, initiator_name="apiop37", certificate=simulator_certificate())
    form = {"name": "Cafe", "shortcode": "174379", "kind": "paybill", "environment": "production"}
    typed = form | SECRETS | {"initiator_name": "apiop37", "certificate": simulator_certificate()}
    spec, errors = read_account(typed, stored=stored)
    assert spec is None and errors == {"initiator_password": RETYPE_INITIATOR_PASSWORD}
    spec, errors = read_account(typed | {"environment": "sandbox"}, stored=stored)
    assert errors == {} and "initiator_password" not in spec.secrets  # kept where it was typed


async def test_an_account_without_its_initiator_keeps_no_initiator_password(store, vault, clock, tenant_id):
    account_id = await create(
        store, vault, clock, tenant_id, **INITIATOR, certificate=simulator_certificate()
    )
    assert await store.write(accounts.update, vault, clock, account_id, tenant_id, edited())
    [row] = await rows(
        store, "SELECT initiator_name, initiator_password_enc, certificate FROM mpesa_accounts"
    )
    assert tuple(row) == (None, None, None)
    assert not (await load(store, vault, account_id)).checks_receipts
