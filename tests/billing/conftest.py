"""What the billing tests share: a portal behind NAT (it confirms by query), and helpers that start a
payment, answer its prompt on the simulated phone and read it back."""

import httpx
import pytest

from portal.billing import payments
from tests.conftest import running_portal, seed_shop

PHONE = "0708 374 149"
MSISDN = "254708374149"
DEVICE = {"mac": "AA:BB:CC:DD:EE:FF", "ip": "10.5.50.7"}


async def start(portal, shop, phone=PHONE, **options) -> payments.Payment:
    """The Pay button: a payment for the shop's package, pushed to `phone`."""
    return await portal.services.checkout.start(
        tenant_id=shop.tenant_id, package_id=shop.package_id, phone=phone, **(DEVICE | options)
    )


async def answer(daraja, http, payment, outcome: str) -> None:
    """The payer's answer, given on the simulator's phone page as a person gives it."""
    url = f"{daraja.base_url}/phone/api/prompts/{payment.checkout_request_id}"
    response = await http.post(url, json={"outcome": outcome})
    assert response.status_code == 200


async def current(portal, payment) -> payments.Payment:
    return await portal.services.store.read(payments.by_ref, payment.ref)


async def timeline(portal, payment) -> list[payments.Event]:
    return await portal.services.store.read(payments.timeline, payment.id)


async def effects(portal, payment, kind: str | None = None) -> list[str | None]:
    """What each event of the payment's timeline (of `kind`) did."""
    return [
        event.detail.get("effect")
        for event in await timeline(portal, payment)
        if kind is None or event.kind == kind
    ]


async def reconcile(portal) -> int:
    return await portal.services.confirmation.reconcile_due()


async def add_shop(portal, daraja, vault, clock, slug: str = "cafe"):
    return await portal.services.store.write(seed_shop, vault, clock, daraja.base_url, slug)


class Impatient(httpx.AsyncHTTPTransport):
    """A client that gives up after 0.2 s, so that a slow Daraja answer times out within a test."""

    async def handle_async_request(self, request):
        request.extensions["timeout"] = httpx.Timeout(0.2).as_dict()
        return await super().handle_async_request(request)


@pytest.fixture
async def behind_nat(settings, clock, vault):
    """The portal without a public URL: no callback can reach it, it confirms by STK query."""
    async with running_portal(settings, clock, vault, callbacks=False) as running:
        yield running


@pytest.fixture
async def nat_shop(behind_nat, daraja, vault, clock):
    return await add_shop(behind_nat, daraja, vault, clock)
