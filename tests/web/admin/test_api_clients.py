"""The owner's API clients page, against the demo business on the simulators: tokens shown once and
rotated with an overlap, limits set by the platform admin only, usage shown, and webhooks with their
delivery log and "send again"."""

import contextlib
import re
from datetime import timedelta

import pytest

from portal.clock import to_text
from portal.tenancy import api_clients, tenants, webhooks
from portal.tenancy.admins import create_admin
from tests.conftest import execute, rows
from tests.seed import PASSWORD
from tests.tenancy.test_webhooks import Receiver, pay_and_answer, signed, tried
from tests.web.admin.client import browser, csrf_of, sign_in
from tests.web.api.conftest import Api, problem

PAGE = "/admin/api-clients"
TOKEN = re.compile(r'id="new-token">.*?<code>([^<]+)</code>', re.S)
SECRET = re.compile(r'id="new-secret">.*?<code>([^<]+)</code>', re.S)


@pytest.fixture
def api(http, hotspot) -> Api:
    return Api(http, hotspot, hotspot.demo.api_token)


@contextlib.asynccontextmanager
async def signed_in(hotspot, email: str | None = None):
    """A browser signed in to the demo's admin (as its owner, or `email`); yields it and its CSRF token."""
    async with browser() as http:
        base = hotspot.portal.base_url
        who = (email, PASSWORD) if email else (hotspot.demo.admin_email, hotspot.demo.admin_password)
        csrf = csrf_of((await sign_in(http, base, *who)).text)
        yield http, csrf


async def add_admin(hotspot, email: str, role: str) -> str:
    services = hotspot.portal.services
    tenant_id = None if role == "platform" else hotspot.demo.tenant_id
    await services.store.write(
        create_admin, services.clock, email=email, password=PASSWORD, role=role, tenant_id=tenant_id
    )
    return email


async def test_an_owner_adds_a_client_whose_token_is_shown_once_and_works(api):
    async with signed_in(api.hotspot) as (owner, csrf):
        base = api.hotspot.portal.base_url
        made = await owner.post(
            f"{base}{PAGE}", data={"csrf": csrf, "name": "Fees page", "scope": ["payments:read"]}
        )
        token = TOKEN.search(made.text).group(1)
        listed = await owner.get(f"{base}{PAGE}")
        page = await owner.get(f"{base}{PAGE}/2")
        refused = await owner.post(
            f"{base}{PAGE}", data={"csrf": csrf, "name": " ", "scope": "payments:read"}
        )
    assert made.status_code == 200 and "shown only this once" in made.text
    assert "Fees page" in listed.text and token not in listed.text and token not in page.text
    assert (await api.get("/payments", token)).status_code == 200
    problem(await api.pay(token), 403, "insufficient-scope")
    assert refused.status_code == 400 and "A client&#39;s name is 1 to 80 characters." in refused.text
    [audited] = await rows(
        api.hotspot.portal.services.store,
        "SELECT actor, target FROM audit_events WHERE action = 'api_client_created'",
    )
    assert tuple(audited) == (api.hotspot.demo.admin_email, "api_client:2 Fees page")


async def test_a_rotated_token_works_beside_the_new_one_for_24_hours_then_stops(api, clock):
    async with signed_in(api.hotspot) as (owner, csrf):
        rotated = await owner.post(f"{api.hotspot.portal.base_url}{PAGE}/1/rotate", data={"csrf": csrf})
    new = TOKEN.search(rotated.text).group(1)
    assert "The old token keeps working until" in rotated.text
    for token in (api.token, new):
        assert (await api.get("/payments", token)).status_code == 200
    clock.advance(hours=23, minutes=59)
    assert (await api.get("/payments", api.token)).status_code == 200
    clock.advance(minutes=1)
    problem(await api.get("/payments", api.token), 401, "unauthorized")
    assert (await api.get("/payments", new)).status_code == 200


async def test_a_leaked_token_is_refused_at_once_and_a_revoked_client_for_good(api):
    async with signed_in(api.hotspot) as (owner, csrf):
        base = api.hotspot.portal.base_url
        rotated = await owner.post(f"{base}{PAGE}/1/rotate", data={"csrf": csrf, "leaked": "on"})
        new = TOKEN.search(rotated.text).group(1)
        problem(await api.get("/payments"), 401, "unauthorized")
        confirm = await owner.get(f"{base}{PAGE}/1/revoke")
        revoked = await owner.post(f"{base}{PAGE}/1/revoke", data={"csrf": csrf})
    assert "The old token stopped now." in rotated.text
    assert "Revoke for good" in confirm.text
    assert "Revoked: its token is refused from now on." in revoked.text
    problem(await api.get("/payments", new), 401, "unauthorized")


async def test_usage_is_shown_against_the_quota(api):
    await api.pay()
    await api.pay()  # refused: the phone's prompt is open
    await api.get("/payments")
    await api.hotspot.portal.services.jobs.write_usage()
    async with signed_in(api.hotspot) as (owner, _):
        page = await owner.get(f"{api.hotspot.portal.base_url}{PAGE}/1")
    assert re.search(r'id="prompts-this-month">1 <span class="small muted">of 10,000', page.text)
    assert '<div class="figure" id="calls-30">3</div>' in page.text
    assert "<title>Mon 5 Jan: 3 calls (1 failed), 1 prompt</title>" in page.text
    assert (
        '<td class="num">3</td><td class="num">1</td><td class="num">1</td><td class="num">1</td>'
        in page.text
    )


async def test_only_the_platform_admin_sets_a_clients_limits(api):
    hotspot = api.hotspot
    limits = {"requests_per_minute": "2", "pushes_per_month": ""}
    async with signed_in(hotspot) as (owner, csrf):
        page = await owner.get(f"{hotspot.portal.base_url}{PAGE}/1")
        refused = await owner.post(f"{hotspot.portal.base_url}{PAGE}/1/quotas", data={"csrf": csrf, **limits})
    assert 'id="quotas"' not in page.text
    assert refused.status_code == 403
    assert (await hotspot.portal.services.store.read(api_clients.get, 1)).requests_per_minute is None

    root = await add_admin(hotspot, "root@example.com", "platform")
    async with signed_in(hotspot, root) as (platform, csrf):
        wrong = await platform.post(
            f"{hotspot.portal.base_url}{PAGE}/1/quotas", data={"csrf": csrf, "requests_per_minute": "0"}
        )
        saved = await platform.post(
            f"{hotspot.portal.base_url}{PAGE}/1/quotas", data={"csrf": csrf, **limits}
        )
    assert wrong.status_code == 400 and "A whole number from 1 to 1,000,000" in wrong.text
    assert saved.status_code == 200 and 'id="requests-per-minute">2<' in saved.text
    for _ in range(2):
        assert (await api.get("/payments")).status_code == 200
    problem(await api.get("/payments"), 429, "rate-limited")


async def test_staff_see_the_page_and_change_nothing(api):
    staff = await add_admin(api.hotspot, "till@demo.example", "staff")
    async with signed_in(api.hotspot, staff) as (http, csrf):
        base = api.hotspot.portal.base_url
        page = await http.get(f"{base}{PAGE}/1")
        rotate = await http.post(f"{base}{PAGE}/1/rotate", data={"csrf": csrf})
        add = await http.post(f"{base}{PAGE}", data={"csrf": csrf, "name": "X", "scope": "payments:read"})
    assert page.status_code == 200 and "Demo shop" in page.text and "New token" not in page.text
    assert (rotate.status_code, add.status_code) == (403, 403)
    assert (await api.get("/payments")).status_code == 200


async def test_another_business_reaches_none_of_its_clients(api, clock):
    services = api.hotspot.portal.services

    def other_business(db) -> int:
        tenant_id = tenants.create(db, clock, "shop", "Shop")
        create_admin(
            db, clock, email="owner@shop.example", password=PASSWORD, role="owner", tenant_id=tenant_id
        )
        return tenant_id

    await services.store.write(other_business)
    async with signed_in(api.hotspot, "owner@shop.example") as (other, csrf):
        base = api.hotspot.portal.base_url
        listed = await other.get(f"{base}{PAGE}")
        answers = [
            await other.get(f"{base}{PAGE}/1"),
            await other.post(f"{base}{PAGE}/1/rotate", data={"csrf": csrf}),
            await other.post(f"{base}{PAGE}/1/deliveries/1/send-again", data={"csrf": csrf}),
        ]
    assert "Demo shop" not in listed.text
    assert [answer.status_code for answer in answers] == [404, 404, 404]


async def test_send_again_redelivers_an_event_signed_to_the_receiver(api):
    receiver = Receiver()
    async with receiver.up(), signed_in(api.hotspot) as (owner, csrf):
        base = api.hotspot.portal.base_url
        added = await owner.post(f"{base}{PAGE}/1/webhooks", data={"csrf": csrf, "url": receiver.url})
        secret = SECRET.search(added.text).group(1)
        await pay_and_answer(api, "success")
        await tried(api, 1)
        page = await owner.get(f"{base}{PAGE}/1")
        [(message, _)] = await api.hotspot.portal.services.store.read(webhooks.deliveries, 1, 20)
        again = await owner.post(f"{base}{PAGE}/1/deliveries/{message.id}/send-again", data={"csrf": csrf})
        await tried(api, 2)
        log = await owner.get(f"{base}{PAGE}/1")
    assert "HTTP 204" in page.text and "Send again" in page.text
    assert "Queued to send again" in again.text
    first, second = receiver.got
    assert first[0]["webhook-id"] == second[0]["webhook-id"] and first[1] == second[1]
    assert all(signed(secret, headers, body) for headers, body in receiver.got)
    assert [event["type"] for event in receiver.events(secret)] == ["payment.paid"] * 2
    assert log.text.count("HTTP 204") == 2


async def test_a_webhook_disabled_after_failing_is_enabled_and_one_removed_gets_nothing(api, clock):
    services = api.hotspot.portal.services
    endpoint, _ = await services.store.write(
        webhooks.add, clock, services.vault, 1, "https://shop.example/hook"
    )
    days_ago = to_text(clock.now() - timedelta(days=3))
    await execute(
        services.store, "UPDATE webhook_endpoints SET failing_since = ?, disabled_at = ?", (days_ago,) * 2
    )
    async with signed_in(api.hotspot) as (owner, csrf):
        base = f"{api.hotspot.portal.base_url}{PAGE}/1/webhooks/{endpoint.id}"
        disabled = await owner.get(f"{api.hotspot.portal.base_url}{PAGE}/1")
        enabled = await owner.post(f"{base}/enable", data={"csrf": csrf})
        removed = await owner.post(f"{base}/remove", data={"csrf": csrf})
    assert "disabled" in disabled.text and "Enable" in disabled.text
    assert enabled.status_code == removed.status_code == 200
    now = await services.store.read(webhooks.get, endpoint.id)
    assert now.disabled_at is None and now.removed_at is not None
    audited = await rows(
        services.store, "SELECT action FROM audit_events WHERE action LIKE 'webhook_endpoint_%'"
    )
    assert [row["action"] for row in audited] == ["webhook_endpoint_enabled", "webhook_endpoint_removed"]


async def test_send_again_refuses_an_event_still_being_sent_plainly(api, clock):
    services = api.hotspot.portal.services
    await services.store.write(webhooks.add, clock, services.vault, 1, "http://127.0.0.1:9/nobody")
    await pay_and_answer(api, "success")
    await tried(api, 1)  # refused; the next try is in 5 seconds
    [(message, _)] = await services.store.read(webhooks.deliveries, 1, 20)
    async with signed_in(api.hotspot) as (owner, csrf):
        base = api.hotspot.portal.base_url
        refused = await owner.post(f"{base}{PAGE}/1/deliveries/{message.id}/send-again", data={"csrf": csrf})
    assert refused.status_code == 400
    assert "This event is still being sent: its next try comes by itself." in refused.text
