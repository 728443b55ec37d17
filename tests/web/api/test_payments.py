import asyncio

from portal.cli.demo import add_simulator_account
from portal.tenancy import api_clients, tenants
from tests.conftest import rows, value
from tests.web.api.conftest import CHARGE, Api, problem, pushes

QUERY = "/mpesa/stkpushquery/v1/query"


async def test_a_payment_is_pushed_by_the_checkout_and_paid_by_its_callback_granting_nothing(api):
    store = api.hotspot.portal.services.store
    router_tasks = "SELECT count(*) FROM router_tasks"
    tasks_before = await value(store, router_tasks)  # the demo router's own setup
    created = await api.pay()
    assert created.status_code == 201, created.text
    payment = created.json()
    assert created.headers["location"] == f"/api/v1/payments/{payment['id']}"
    assert payment | {"id": 0, "created_at": "", "updated_at": ""} == {
        "id": 0,
        "state": "pending",
        "amount": 10,
        "currency": "KES",
        "phone": "0712 ••• 678",
        "reference": "ORDER1001",
        "description": "Laundry",
        "receipt": None,
        "failure": None,
        "created_at": "",
        "updated_at": "",
        "paid_at": None,
    }
    sim = api.hotspot.daraja.sim
    [prompt] = sim.pending_prompts()
    assert (prompt.phone, prompt.amount, prompt.account_reference) == ("254712345678", 10, "ORDER1001")

    sim.answer(prompt.checkout_request_id, "success")
    await sim.settle()
    paid = (await api.get(f"/payments/{payment['id']}")).json()
    assert (paid["state"], paid["receipt"]) == ("paid", prompt.receipt)
    assert paid["paid_at"].endswith("Z")
    assert await value(store, "SELECT count(*) FROM access_sessions") == 0
    assert await value(store, router_tasks) == tasks_before
    assert api.hotspot.emulator.active_sessions() == []


async def test_a_cancelled_prompt_fails_the_payment_and_says_why(api):
    payment = (await api.pay()).json()
    sim = api.hotspot.daraja.sim
    [prompt] = sim.pending_prompts()
    sim.answer(prompt.checkout_request_id, "cancel")
    await sim.settle()
    failed = (await api.get(f"/payments/{payment['id']}")).json()
    assert failed["state"] == "failed"
    assert failed["failure"]["code"] == "1032" and failed["failure"]["reason"]


async def test_twenty_concurrent_requests_with_one_key_make_one_payment_and_one_push(api):
    answers = await asyncio.gather(*(api.pay(key="order-1001") for _ in range(20)))
    assert {response.status_code for response in answers} == {201}
    assert len({response.json()["id"] for response in answers}) == 1
    assert pushes(api.hotspot) == 1
    assert await value(api.hotspot.portal.services.store, "SELECT count(*) FROM payments") == 1


async def test_one_key_with_another_body_is_a_conflict_and_pushes_nothing_more(api):
    first = await api.pay(key="order-1001")
    assert first.status_code == 201
    again = await api.pay(key="order-1001", amount=11)
    assert "another request" in problem(again, 409, "idempotency-key-reused")["detail"]
    assert (await api.pay(key="order-1001")).json()["id"] == first.json()["id"]
    assert pushes(api.hotspot) == 1


async def test_a_second_prompt_for_a_phone_with_one_open_is_refused(api):
    assert (await api.pay()).status_code == 201
    problem(await api.pay(reference="ORDER1002"), 409, "phone-busy")
    assert pushes(api.hotspot) == 1


async def test_a_phone_with_too_many_unpaid_prompts_waits_as_on_the_splash(api):
    sim = api.hotspot.daraja.sim
    limit = api.hotspot.portal.services.settings.limits.pushes_per_phone_per_hour
    for _ in range(limit):
        assert (await api.pay()).status_code == 201
        [prompt] = sim.pending_prompts()
        sim.answer(prompt.checkout_request_id, "cancel")
        await sim.settle()
    refused = await api.pay()
    problem(refused, 429, "too-many-prompts")
    assert refused.headers["retry-after"] == "3600"
    assert pushes(api.hotspot) == limit


async def test_wrong_fields_are_each_named_and_nothing_is_pushed(api):
    wrong = await api.pay(
        phone="0733 123 456", amount=0, reference="ORDER-1", description="Laundry and ironing"
    )
    body = problem(wrong, 422, "invalid-request")
    assert [error["pointer"] for error in body["errors"]] == [
        "/phone",
        "/amount",
        "/reference",
        "/description",
    ]
    assert "Airtel" in body["errors"][0]["detail"]
    for typed in (b"not json", b"[1, 2]", b""):
        response = await api.http.post(f"{api.base}/payments", content=typed, headers=api.headers())
        assert "JSON object" in problem(response, 422, "invalid-request")["detail"]
    problem(await api.pay(amount=True), 422, "invalid-request")
    assert pushes(api.hotspot) == 0


async def test_the_list_filters_by_state_time_and_reference_and_pages_by_cursor(api, clock):
    made = []
    for n, phone in enumerate(("0712 000 001", "0712 000 002", "0712 000 003")):
        made.append((await api.pay(phone=phone, reference=f"ORDER{n}")).json()["id"])
        clock.advance(60)
    first = (await api.get("/payments", limit="2")).json()
    assert [p["id"] for p in first["data"]] == [made[2], made[1]]
    second = (await api.get("/payments", limit="2", cursor=first["next_cursor"])).json()
    assert [p["id"] for p in second["data"]] == [made[0]] and second["next_cursor"] is None
    assert [p["id"] for p in (await api.get("/payments", reference="ORDER1")).json()["data"]] == [made[1]]
    assert (await api.get("/payments", state="paid")).json()["data"] == []
    later = (await api.get("/payments", since=(clock.now()).isoformat())).json()["data"]
    assert later == []
    bad = await api.get("/payments", state="lost", since="yesterday", cursor="9" * 30, limit="500")
    body = problem(bad, 422, "invalid-request")
    assert [error["parameter"] for error in body["errors"]] == ["state", "since", "cursor", "limit"]


async def test_another_business_and_a_wifi_payment_are_not_found(api, clock):
    store = api.hotspot.portal.services.store
    ours = (await api.pay()).json()["id"]

    def other_business(db):
        tenant_id = tenants.create(db, clock, "shop", "Shop")
        return api_clients.create(db, clock, tenant_id, "Shop till", ["payments:read"])[1]

    theirs = await store.write(other_business)
    assert "no payment" in problem(await api.get(f"/payments/{ours}", theirs), 404, "not-found")["detail"]
    assert (await api.get("/payments", theirs)).json() == {"data": [], "next_cursor": None}
    # A Wi-Fi payment of the demo business itself is no API payment either.
    await api.http.post(
        f"{api.hotspot.portal.base_url}/pay",
        data={"router": "demo-router", "mac": "AA:BB:CC:00:00:01", "ip": "10.5.50.2", "phone": "0712 000 009"}
        | {"package": "1"},
    )
    [wifi] = await rows(store, "SELECT id FROM payments WHERE api_client_id IS NULL")
    problem(await api.get(f"/payments/{wifi['id']}"), 404, "not-found")
    assert [p["id"] for p in (await api.get("/payments")).json()["data"]] == [ours]
    problem(await api.get("/payments/" + "9" * 30), 404, "not-found")  # beyond any id the database holds


async def test_every_call_is_audited_with_its_client(api):
    payment = (await api.pay()).json()
    await api.get(f"/payments/{payment['id']}")
    audited = await rows(
        api.hotspot.portal.services.store, "SELECT actor, action, target FROM audit_events ORDER BY id"
    )
    assert [tuple(row) for row in audited] == [
        ("api-client:1 Demo shop", "api_call", "POST /api/v1/payments"),
        ("api-client:1 Demo shop", "api_call", f"GET /api/v1/payments/{payment['id']}"),
    ]


async def test_the_charge_the_api_sent_is_the_body_it_was_asked_for(api):
    """The README's example body, as sent: nothing of it shortened on the prompt."""
    assert (await api.pay()).status_code == 201
    [prompt] = api.hotspot.daraja.sim.pending_prompts()
    assert (prompt.amount, prompt.account_reference) == (CHARGE["amount"], CHARGE["reference"])


async def test_a_refresh_asks_mpesa_now_and_answers_the_payment_as_it_then_stands(http, nat_hotspot, clock):
    api = Api(http, nat_hotspot, nat_hotspot.demo.api_token)  # behind NAT: no callback comes
    sim = nat_hotspot.daraja.sim
    payment = (await api.pay()).json()
    waiting = await api.post(f"/payments/{payment['id']}/refresh")
    assert (waiting.status_code, waiting.json()["state"]) == (200, "pending")
    [prompt] = sim.pending_prompts()
    sim.answer(prompt.checkout_request_id, "success")
    await sim.settle()
    assert (await api.get(f"/payments/{payment['id']}")).json()["state"] == "pending"  # not asked yet
    assert (await api.post(f"/payments/{payment['id']}/refresh")).json()["state"] == "pending"
    assert sim.requests[QUERY] == 1  # asked a moment ago: Daraja wants its queries apart
    clock.advance(seconds=5)
    paid = await api.post(f"/payments/{payment['id']}/refresh")
    assert paid.json()["state"] == "paid" and paid.json()["paid_at"]
    assert sim.requests[QUERY] == 2
    assert (await api.post(f"/payments/{payment['id']}/refresh")).json() == paid.json()
    assert sim.requests[QUERY] == 2  # paid is final: nothing more to ask
    problem(await api.post("/payments/999/refresh"), 404, "not-found")


async def test_with_several_m_pesa_accounts_a_payment_names_the_one_it_is_paid_into(api, clock, vault):
    services = api.hotspot.portal.services
    till = await services.store.write(
        add_simulator_account,
        vault,
        clock,
        api.hotspot.demo.tenant_id,
        api.hotspot.daraja.base_url,
        "Shop till",
    )
    unnamed = problem(await api.pay(), 422, "invalid-request")
    assert unnamed["errors"] == [
        {
            "pointer": "/account",
            "detail": "the business has 2 M-Pesa accounts: name one of Demo Cafe, Shop till",
        }
    ]
    unknown = problem(await api.pay(account="Shop"), 422, "invalid-request")
    assert unknown["errors"][0]["detail"] == (
        "the business has no M-Pesa account named 'Shop': Demo Cafe, Shop till"
    )
    assert pushes(api.hotspot) == 0
    named = await api.pay(account="Shop till")
    assert named.status_code == 201, named.text
    assert await value(services.store, "SELECT mpesa_account_id FROM payments") == till
    assert pushes(api.hotspot) == 1
