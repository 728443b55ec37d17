"""Webhooks as an API client's own server gets them: the demo business on the simulators, a payment
made through the API, and a receiver that is a real HTTP server on loopback. Signatures are checked
by the `standardwebhooks` library, not by portal's own code."""

import contextlib
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from litestar import Litestar, Request, Response, post
from standardwebhooks import Webhook, WebhookVerificationError

from portal.billing.confirmation import mark_paid
from portal.clock import FixedClock
from portal.tenancy import webhooks
from tests.conftest import eventually, free_port, rows, serving, value
from tests.web.api.conftest import Api

CLIENT_ID = 1  # the demo business's API client


@pytest.fixture
def clock() -> FixedClock:
    """Starts at the real time: the library refuses a signature more than five minutes from its own
    clock, and the first deliveries go at the test clock's start."""
    return FixedClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def api(http, hotspot) -> Api:
    """The demo business's API client, as tests/web/api use it."""
    return Api(http, hotspot, hotspot.demo.api_token)


@dataclass
class Receiver:
    """The API client's server: keeps every request, answers `status`; listens while `up`."""

    port: int = field(default_factory=free_port)
    status: int = 204
    got: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/portal"

    def app(self) -> Litestar:
        @post("/hooks/portal")
        async def hook(request: Request) -> Response:
            self.got.append((dict(request.headers), await request.body()))
            return Response(b"", status_code=self.status)

        return Litestar([hook], logging_config=None)

    @contextlib.asynccontextmanager
    async def up(self):
        async with serving(self.app(), self.port):
            yield self

    def events(self, secret: str) -> list[dict]:
        """Every request's body, each checked against its signature with the library."""
        return [json.loads(body) for headers, body in self.got if signed(secret, headers, body)]


def signed(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The library's own signature of this id, timestamp and body is the one sent."""
    moment = datetime.fromtimestamp(int(headers["webhook-timestamp"]), UTC)
    assert Webhook(secret).sign(headers["webhook-id"], moment, body) == headers["webhook-signature"]
    return True


async def add_endpoint(api: Api, url: str) -> str:
    services = api.hotspot.portal.services
    _, secret = await services.store.write(webhooks.add, services.clock, services.vault, CLIENT_ID, url)
    return secret


async def pay_and_answer(api: Api, outcome: str) -> int:
    payment = (await api.pay()).json()
    sim = api.hotspot.daraja.sim
    [prompt] = sim.pending_prompts()
    sim.answer(prompt.checkout_request_id, outcome)
    await sim.settle()
    return payment["id"]


async def attempts(api: Api) -> list[tuple]:
    found = await rows(
        api.hotspot.portal.services.store,
        "SELECT m.event_type, a.status_code FROM webhook_attempts AS a"
        " JOIN webhook_messages AS m ON m.id = a.message_id ORDER BY a.id",
    )
    return [tuple(row) for row in found]


async def tried(api: Api, count: int) -> None:
    async def enough() -> bool:
        return len(await attempts(api)) >= count

    await eventually(enough)


async def test_a_paid_payment_is_posted_signed_and_the_library_verifies_it(api):
    receiver = Receiver()
    secret = await add_endpoint(api, receiver.url)
    async with receiver.up():
        payment_id = await pay_and_answer(api, "success")
        await tried(api, 1)
    [(headers, body)] = receiver.got
    event = Webhook(secret).verify(body, headers)
    paid = (await api.get(f"/payments/{payment_id}")).json()
    assert event == {"type": "payment.paid", "timestamp": event["timestamp"], "data": paid}
    assert paid["state"] == "paid" and paid["receipt"]
    assert headers["webhook-id"].startswith("msg_")
    assert int(headers["webhook-timestamp"]) == int(api.hotspot.portal.services.clock.now().timestamp())
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b'"paid"', b'"failed"'), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(webhooks.new_secret()).verify(body, headers)
    assert await attempts(api) == [("payment.paid", 204)]


async def test_a_cancelled_prompt_and_an_unanswered_one_are_told_as_failed_and_expired(api, clock):
    receiver = Receiver()
    secret = await add_endpoint(api, receiver.url)
    services = api.hotspot.portal.services
    async with receiver.up():
        failed_id = await pay_and_answer(api, "cancel")
        await tried(api, 1)
        api.hotspot.daraja.sim.options.prompt_timeout = 3600  # the payer never answers
        expiring = (await api.pay(reference="ORDER1002")).json()
        clock.advance(services.settings.mpesa.payment_timeout + 1)
        await services.confirmation.reconcile_due()  # the last query finds it unanswered
        await tried(api, 2)
    failed, expired = receiver.events(secret)
    assert (failed["type"], failed["data"]["id"], failed["data"]["state"]) == (
        "payment.failed",
        failed_id,
        "failed",
    )
    assert failed["data"]["failure"]["code"] == "1032"
    assert (expired["type"], expired["data"]["id"]) == ("payment.expired", expiring["id"])


async def test_delivery_is_retried_while_the_receiver_is_down_and_completes_when_it_is_back(api, clock):
    receiver = Receiver()
    secret = await add_endpoint(api, receiver.url)
    await pay_and_answer(api, "success")  # nothing listens yet
    await tried(api, 1)
    clock.advance(seconds=5)
    await tried(api, 2)
    async with receiver.up():
        receiver.status = 500  # up, and failing
        clock.advance(minutes=5)
        await tried(api, 3)
        receiver.status = 200
        clock.advance(minutes=29)
        assert len(await attempts(api)) == 3  # not yet: the next try is 30 minutes after the last
        clock.advance(minutes=1)
        await tried(api, 4)
    assert await attempts(api) == [
        ("payment.paid", None),
        ("payment.paid", None),
        ("payment.paid", 500),
        ("payment.paid", 200),
    ]
    first, second = receiver.got
    assert first[0]["webhook-id"] == second[0]["webhook-id"]  # one event, tried twice
    assert [event["type"] for event in receiver.events(secret)] == ["payment.paid"] * 2
    store = api.hotspot.portal.services.store
    [(message, tries)] = await store.read(webhooks.deliveries, CLIENT_ID, 20)  # the delivery log
    assert (message.state, message.attempts, message.event_id) == ("delivered", 4, first[0]["webhook-id"])
    assert [(t.status_code, t.error) for t in tries] == [
        (None, tries[0].error),
        (None, tries[1].error),
        (500, "HTTP 500 Internal Server Error"),
        (200, None),
    ]
    assert tries[0].error.startswith("ConnectError")
    assert await value(store, "SELECT failing_since FROM webhook_endpoints") is None


async def test_a_later_event_of_a_payment_waits_for_the_earlier_one(api, clock):
    receiver = Receiver(status=503)
    secret = await add_endpoint(api, receiver.url)
    services = api.hotspot.portal.services
    async with receiver.up():
        payment_id = await pay_and_answer(api, "cancel")
        await tried(api, 1)
        # M-Pesa's word on a receipt: it was paid after all (billing/receipt_checks.py).
        await services.store.write(mark_paid, clock, services.vault, payment_id, receipt="SFT1234567")
        services.jobs.webhooks.wake()
        receiver.status = 204
        other_id = await pay_and_answer(api, "success")  # another payment's event goes meanwhile
        await tried(api, 2)
        clock.advance(seconds=5)
        await tried(api, 4)
    assert await attempts(api) == [
        ("payment.failed", 503),
        ("payment.paid", 204),
        ("payment.failed", 204),
        ("payment.paid", 204),
    ]
    told = [(event["type"], event["data"]["id"]) for event in receiver.events(secret)]
    assert told == [
        ("payment.failed", payment_id),
        ("payment.paid", other_id),
        ("payment.failed", payment_id),
        ("payment.paid", payment_id),
    ]


async def test_an_endpoint_failing_for_three_days_is_disabled_and_the_owner_told(api, clock, caplog):
    receiver = Receiver(status=500)
    secret = await add_endpoint(api, receiver.url)
    store = api.hotspot.portal.services.store
    caplog.set_level(logging.DEBUG)
    async with receiver.up():
        await pay_and_answer(api, "success")
        await tried(api, 1)
        for number, wait in enumerate(webhooks.RETRY_AFTER, start=2):
            assert await value(store, "SELECT disabled_at FROM webhook_endpoints") is None
            clock.advance(wait.total_seconds())
            await tried(api, number)
        tries = len(webhooks.RETRY_AFTER) + 1
        assert len(receiver.got) == tries
        [message] = await rows(store, "SELECT state, attempts, next_attempt_at FROM webhook_messages")
        assert tuple(message) == ("failed", tries, None)
        assert await value(store, "SELECT disabled_at FROM webhook_endpoints") is not None
        [told] = await rows(
            store,
            "SELECT actor, target, detail FROM audit_events WHERE action = ?",
            ("webhook_endpoint_disabled",),
        )
        assert (told["actor"], told["target"]) == ("portal", receiver.url)
        assert json.loads(told["detail"])["last_error"] == "HTTP 500 Internal Server Error"

        receiver.status = 204
        await pay_and_answer(api, "success")  # a disabled endpoint gets no new events
        assert await value(store, "SELECT count(*) FROM webhook_messages") == 1
    assert "webhook endpoint disabled" in caplog.text
    assert secret not in caplog.text
    assert secret.removeprefix(webhooks.SECRET_PREFIX) not in caplog.text


async def test_the_secret_is_stored_encrypted_and_never_logged(api, caplog, settings):
    caplog.set_level(logging.DEBUG)
    receiver = Receiver()
    secret = await add_endpoint(api, receiver.url)
    async with receiver.up():
        await pay_and_answer(api, "success")
        await tried(api, 1)
    assert receiver.events(secret)  # it was used to sign
    key = secret.removeprefix(webhooks.SECRET_PREFIX)
    logged = caplog.text + "".join(str(vars(record)) for record in caplog.records)
    assert key not in logged
    services = api.hotspot.portal.services
    [stored] = await rows(services.store, "SELECT * FROM webhook_endpoints")
    assert key not in str(tuple(stored))
    assert services.vault.decrypt(stored["secret_enc"]) == secret
    on_disk = b"".join(path.read_bytes() for path in settings.database_path.parent.glob("portal.db*"))
    assert key.encode() not in on_disk


async def test_access_started_and_expired_by_the_clock_are_posted_signed_in_order(api, clock):
    receiver = Receiver()
    secret = await add_endpoint(api, receiver.url)
    mac = "AA:BB:CC:00:00:01"  # the demo phone, on the demo router's Wi-Fi
    async with receiver.up():
        given = await api.post("/access", {"router": "demo-router", "mac": mac, "seconds": 600})
        await tried(api, 1)  # the router confirmed: started
        clock.advance(600)
        await tried(api, 2)
    # Signed as the library signs (its verify would call ten minutes on the test's clock "too new").
    started, ended = receiver.events(secret)
    assert [started["type"], ended["type"]] == ["access.started", "access.ended"]
    assert started["data"]["id"] == ended["data"]["id"] == given.json()["id"]
    assert (started["data"]["state"], ended["data"]["state"]) == ("active", "expired")
    assert ended["data"] == (await api.get(f"/access/{given.json()['id']}")).json()

    async def logged_out() -> bool:
        return not api.hotspot.emulator.has_access(mac)

    await eventually(logged_out)


async def test_access_ended_through_the_api_is_told_as_ended(api):
    receiver = Receiver()
    secret = await add_endpoint(api, receiver.url)
    async with receiver.up():
        given = (
            await api.post("/access", {"router": "demo-router", "mac": "AA:BB:CC:00:00:01", "seconds": 600})
        ).json()
        await tried(api, 1)
        await api.delete(f"/access/{given['id']}")
        await tried(api, 2)
    told = [(event["type"], event["data"]["state"]) for event in receiver.events(secret)]
    assert told == [("access.started", "active"), ("access.ended", "revoked")]
