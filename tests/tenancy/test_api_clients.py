from datetime import timedelta

import pytest

from portal.tenancy import api_clients, tenants
from portal.tenancy.api_clients import ApiClientError
from portal.vault import fingerprint
from tests.conftest import value


async def business(store, clock) -> int:
    return await store.write(tenants.create, clock, "laundry", "Laundry")


async def test_token_is_shown_once_kept_only_as_its_hash_and_finds_its_client(store, clock):
    tenant_id = await business(store, clock)
    client, token = await store.write(
        api_clients.create, clock, tenant_id, "Till app", ["payments:read", "payments:write"]
    )
    assert token.startswith(f"portal_api_{client.key_id}_") and len(token) > 70
    assert client.scopes == "payments:write payments:read"
    assert client.may("payments:write") and not client.may("access:write")
    stored = await value(store, "SELECT token_hash FROM api_clients WHERE id = ?", (client.id,))
    assert stored == fingerprint(token) and token not in stored
    clock.advance(minutes=5)
    found = await store.write(api_clients.authenticate, clock, token)
    assert found.id == client.id and found.last_used_at == clock.now()


@pytest.mark.parametrize(
    "wrong",
    ["", "Bearer", "portal_api_", "portal_api_nokey", "someone_else_token", "portal_api_{key}_{secret}x"],
)
async def test_anything_but_the_token_finds_no_client(store, clock, wrong):
    tenant_id = await business(store, clock)
    client, token = await store.write(api_clients.create, clock, tenant_id, "Till app", ["payments:read"])
    secret = token.rsplit("_", 1)[1]
    wrong = wrong.format(key=client.key_id, secret=secret)
    assert await store.write(api_clients.authenticate, clock, wrong) is None
    assert await value(store, "SELECT last_used_at FROM api_clients") is None


async def test_a_revoked_token_finds_no_client_and_revoking_twice_says_so(store, clock):
    tenant_id = await business(store, clock)
    client, token = await store.write(api_clients.create, clock, tenant_id, "Till app", ["payments:read"])
    assert await store.write(api_clients.revoke, clock, client.id)
    assert not await store.write(api_clients.revoke, clock, client.id)
    assert await store.write(api_clients.authenticate, clock, token) is None
    [listed] = await store.read(api_clients.of_tenant, tenant_id)
    assert listed.revoked_at == clock.now()


@pytest.mark.parametrize(
    ("name", "scopes", "says"),
    [
        ("  ", ["payments:read"], "name is 1 to 80"),
        ("x" * 81, ["payments:read"], "name is 1 to 80"),
        ("Till", [], "not none"),
        ("Till", ["payments:read", "payments:delete"], "not payments:delete"),
    ],
)
async def test_a_client_needs_a_name_and_known_scopes(store, clock, name, scopes, says):
    tenant_id = await business(store, clock)
    with pytest.raises(ApiClientError, match=says):
        await store.write(api_clients.create, clock, tenant_id, name, scopes)
    assert await value(store, "SELECT count(*) FROM api_clients") == 0


async def test_a_rotated_token_works_beside_the_new_one_for_the_overlap_then_stops(store, clock):
    tenant_id = await business(store, clock)
    client, old = await store.write(api_clients.create, clock, tenant_id, "Till app", ["payments:read"])
    rotated, new = await store.write(api_clients.rotate, clock, client.id, timedelta(hours=24))
    assert new != old and new.startswith(f"portal_api_{client.key_id}_")
    assert rotated.previous_token_until == clock.now() + timedelta(hours=24)
    clock.advance(hours=23, minutes=59)
    assert (await store.write(api_clients.authenticate, clock, old)).id == client.id
    assert (await store.write(api_clients.authenticate, clock, new)).id == client.id
    clock.advance(minutes=1)
    assert await store.write(api_clients.authenticate, clock, old) is None
    assert (await store.write(api_clients.authenticate, clock, new)).id == client.id


async def test_a_leaked_token_stops_at_once_and_a_second_rotation_ends_the_oldest(store, clock):
    tenant_id = await business(store, clock)
    client, first = await store.write(api_clients.create, clock, tenant_id, "Till app", ["payments:read"])
    _, second = await store.write(api_clients.rotate, clock, client.id, timedelta(hours=24))
    _, third = await store.write(api_clients.rotate, clock, client.id, timedelta(hours=24))
    assert await store.write(api_clients.authenticate, clock, first) is None
    assert await store.write(api_clients.authenticate, clock, second) is not None
    _, fourth = await store.write(api_clients.rotate, clock, client.id, timedelta(0))
    for stopped in (second, third):
        assert await store.write(api_clients.authenticate, clock, stopped) is None
    assert await store.write(api_clients.authenticate, clock, fourth) is not None


async def test_calls_are_counted_per_clock_minute(store, clock):
    tenant_id = await business(store, clock)
    _, token = await store.write(api_clients.create, clock, tenant_id, "Till app", ["payments:read"])
    clock.advance(seconds=58)
    counts = [(await store.write(api_clients.authenticate, clock, token)).minute_calls for _ in range(3)]
    clock.advance(seconds=2)  # the next minute
    counts.append((await store.write(api_clients.authenticate, clock, token)).minute_calls)
    assert counts == [1, 2, 3, 1]
