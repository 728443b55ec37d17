"""Voucher codes and batches (billing/vouchers.py)."""

import pytest

from portal.billing import vouchers
from portal.billing.vouchers import ALPHABET, CODE_LENGTH, new_code, normalize_code, shown
from portal.tenancy.scope import Scope
from tests.conftest import rows
from tests.seed import seed_tenant


def test_codes_use_no_characters_that_look_alike():
    assert not set("01OIL") & set(ALPHABET)
    codes = {new_code() for _ in range(200)}
    assert len(codes) == 200
    assert all(len(code) == CODE_LENGTH and set(code) <= set(ALPHABET) for code in codes)


def test_a_code_is_found_however_it_was_typed():
    code = new_code()
    assert normalize_code(shown(code)) == code
    assert normalize_code(" " + shown(code).lower().replace("-", " - ") + " ") == code


def test_only_batch_names_the_portal_makes_are_looked_up():
    assert vouchers.is_batch("0a1b2c3d")
    assert not vouchers.is_batch("0A1B2C3D")
    assert not vouchers.is_batch("../../x")
    assert not vouchers.is_batch("0a1b2c3d0")


async def test_a_batch_is_printed_again_used_once_and_voided_by_its_business_only(store, clock, vault):
    alpha = await seed_tenant(store, clock, vault, "alpha")
    beta = await seed_tenant(store, clock, vault, "beta", phone="254722000000")
    alpha_only = Scope((alpha.tenant_id,))
    name = await store.write(vouchers.generate_batch, clock, vault, alpha.tenant_id, alpha.package_id, 3)
    assert vouchers.is_batch(name)
    printed = await store.read(vouchers.batch_vouchers, vault, alpha_only, name)
    assert len(printed) == 3 and all(voucher.state == "unused" for voucher in printed)
    # Stored as a fingerprint and encrypted, never as typed.
    stored = str([dict(row) for row in await rows(store, "SELECT * FROM vouchers")])
    assert not any(normalize_code(voucher.code) in stored for voucher in printed)

    first, *_ = printed
    assert await store.write(vouchers.redeem, clock, beta.tenant_id, first.code) is None
    used = await store.write(vouchers.redeem, clock, alpha.tenant_id, first.code.lower())
    assert used is not None and used.package_id == alpha.package_id
    assert await store.write(vouchers.redeem, clock, alpha.tenant_id, first.code) is None

    assert await store.write(vouchers.void_unused, beta.tenant_id, name) == 0
    assert await store.write(vouchers.void_unused, alpha.tenant_id, name) == 2
    [summary] = await store.read(vouchers.batches, alpha_only)
    assert (summary.batch, summary.total, summary.unused, summary.used, summary.void) == (name, 3, 0, 1, 2)
    assert summary.created_at == clock.now()
    assert await store.read(vouchers.batch, Scope((beta.tenant_id,)), name) is None
    assert await store.read(vouchers.batch_vouchers, vault, Scope((beta.tenant_id,)), name) == []


@pytest.mark.parametrize("count", [0, vouchers.MAX_BATCH + 1])
async def test_a_batch_has_one_to_five_hundred_vouchers(store, clock, vault, count):
    alpha = await seed_tenant(store, clock, vault, "alpha")
    with pytest.raises(ValueError, match="1 to 500"):
        await store.write(vouchers.generate_batch, clock, vault, alpha.tenant_id, alpha.package_id, count)


async def test_a_batch_sells_at_its_packages_price_unless_given_one(store, clock, vault):
    alpha = await seed_tenant(store, clock, vault, "alpha")  # its package costs 30 KES
    alpha_only = Scope((alpha.tenant_id,))
    for price in (None, 0, 45):
        await store.write(vouchers.generate_batch, clock, vault, alpha.tenant_id, alpha.package_id, 1, price)
    assert sorted(batch.price for batch in await store.read(vouchers.batches, alpha_only)) == [0, 30, 45]
    with pytest.raises(ValueError, match="0 to 250000"):
        await store.write(vouchers.generate_batch, clock, vault, alpha.tenant_id, alpha.package_id, 1, -1)
