from datetime import date

import pytest

from portal.store import StoreError
from portal.tenancy import api_clients, api_usage, tenants
from portal.tenancy.api_usage import Meter


class FullDisk:
    async def write(self, *_):
        raise StoreError("database or disk is full")


async def test_counts_whose_write_failed_go_with_the_next_one_each_on_its_business_day(
    store, clock, settings
):
    tenant_id = await store.write(tenants.create, clock, "laundry", "Laundry")
    client, _ = await store.write(api_clients.create, clock, tenant_id, "Till app", ["payments:write"])
    meter = Meter(clock, settings.store.timezone)
    meter.count(client.id, push=True, failed=False)
    with pytest.raises(StoreError):
        await meter.flush(FullDisk())
    clock.advance(hours=12)  # 2026-01-05 21:00 UTC is midnight in Nairobi: the 6th there
    meter.count(client.id, push=True, failed=True)
    meter.count(client.id, push=False, failed=False)
    await meter.flush(store)
    await meter.flush(store)  # nothing more to write
    found = await store.read(api_usage.days, client.id, date(2026, 1, 5), date(2026, 1, 6))
    assert [(u.day.day, u.requests, u.failed_requests, u.pushes, u.failed_pushes) for u in found] == [
        (5, 1, 0, 1, 0),
        (6, 2, 1, 1, 1),
    ]
    assert await store.read(api_usage.pushes_since, client.id, date(2026, 1, 1)) == 1
