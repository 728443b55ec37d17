"""C2B URL registration counts only when Daraja says it took the URLs (reference/daraja.md §7.1):
otherwise the owner is told why, and no customer is sent to pay by hand, as the money would go unheard."""

from dataclasses import replace

import pytest

from portal.mpesa import accounts
from portal.mpesa.daraja import C2B_REGISTER
from portal.mpesa.form import AccountSpec
from portal.tenancy.scope import of_tenant
from tests.conftest import Hotspot
from tests.web.admin.client import browser, sign_in
from tests.web.test_splash import answer, pay, register_c2b_urls


async def account_of(hotspot: Hotspot) -> accounts.StoredAccount:
    [account] = await hotspot.portal.services.store.read(accounts.in_scope, of_tenant(hotspot.demo.tenant_id))
    return account


async def pay_by_hand_offered(http, hotspot: Hotspot) -> bool:
    """Does a customer whose prompt failed get told to pay by hand?"""
    location = (await pay(http, hotspot)).headers["location"]
    await answer(hotspot, "cancel")
    return "Pay Bill 174379" in (await http.get(hotspot.portal.base_url + location)).text


@pytest.mark.parametrize(
    ("shape", "said"),
    [
        ("refused", "Urls are already registered (500.003.1001)"),
        ("described", "Validation and Confirmation URLs are already registered"),
    ],
)
async def test_a_refused_c2b_registration_keeps_pay_by_hand_off_and_tells_the_owner_why(
    http, hotspot, shape, said
):
    sim = hotspot.daraja.sim
    sim.options.c2b_reregistration = shape
    sim.c2b_urls["174379"] = {"ConfirmationURL": "https://old-system.example.com/c", "ValidationURL": ""}
    await register_c2b_urls(hotspot)
    account = await account_of(hotspot)
    assert account.c2b_registered_at is None and account.c2b_registration_error == said
    assert not await pay_by_hand_offered(http, hotspot)
    async with browser() as owner:
        await sign_in(owner, hotspot.portal.base_url, hotspot.demo.admin_email, hotspot.demo.admin_password)
        page = (await owner.get(f"{hotspot.portal.base_url}/admin/mpesa")).text
    assert "refused" in page and said in page and "URL Management" in page
    # The owner deletes the old URLs on the M-Pesa portal; the next try takes.
    del sim.c2b_urls["174379"]
    await register_c2b_urls(hotspot)
    account = await account_of(hotspot)
    assert account.c2b_registered_at is not None and account.c2b_registration_error is None
    assert sim.c2b_urls["174379"]["ConfirmationURL"].startswith(hotspot.portal.base_url)
    assert await pay_by_hand_offered(http, hotspot)
    assert sim.requests[C2B_REGISTER] == 2


async def test_another_shortcode_or_environment_needs_its_c2b_urls_registered_again(hotspot, vault, clock):
    await register_c2b_urls(hotspot)
    account = await account_of(hotspot)
    assert account.c2b_registered_at is not None
    store = hotspot.portal.services.store
    spec = AccountSpec(
        account.name, account.kind, account.shortcode, None, account.environment, {}, account.initiator_name,
        account.certificate,
    )  # fmt: skip
    assert await store.write(
        accounts.update, vault, clock, account.id, account.tenant_id, replace(spec, name="X")
    )
    assert (await account_of(hotspot)).c2b_registered_at is not None  # a new name changes nothing
    moved = replace(spec, shortcode="300100", kind="till", till_number="300101")
    assert await store.write(accounts.update, vault, clock, account.id, account.tenant_id, moved)
    assert (await account_of(hotspot)).c2b_registered_at is None
