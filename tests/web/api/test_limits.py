"""Rate limits, prompt quotas and usage, as a client sees them over HTTP; time moves by the fake clock."""

from datetime import date

from portal.tenancy import api_clients, api_usage
from tests.conftest import rows
from tests.web.api.conftest import problem, pushes

CLIENT_ID = 1  # the demo business's API client


async def set_quotas(api, requests_per_minute=None, pushes_per_month=None) -> None:
    store = api.hotspot.portal.services.store
    assert await store.write(api_clients.set_quotas, CLIENT_ID, requests_per_minute, pushes_per_month)


async def usage(api, day: date) -> tuple:
    """The client's counts of `day`, once what the meter holds is written."""
    services = api.hotspot.portal.services
    await services.jobs.write_usage()
    [counted] = await services.store.read(api_usage.days, CLIENT_ID, day, day)
    return counted.requests, counted.failed_requests, counted.pushes, counted.failed_pushes


async def test_a_client_over_its_calls_a_minute_gets_429_until_the_next_minute(api, clock):
    await set_quotas(api, requests_per_minute=3)
    clock.advance(seconds=15)  # 09:00:15: the minute ends in 45 seconds
    for left in (2, 1, 0):
        answer = await api.get("/payments")
        assert answer.status_code == 200
        assert answer.headers["ratelimit"].startswith(f'"requests";r={left};t=45, "prompts";r=10000;t=')
    refused = await api.get("/payments")
    assert "3 calls a minute" in problem(refused, 429, "rate-limited")["detail"]
    assert refused.headers["retry-after"] == "45"
    assert refused.headers["ratelimit-policy"] == '"requests";q=3;w=60, "prompts";q=10000'
    assert refused.headers["ratelimit"].startswith('"requests";r=0;t=45,')
    problem(await api.pay(), 429, "rate-limited")
    assert pushes(api.hotspot) == 0

    clock.advance(seconds=44)  # 09:00:59: still this minute
    problem(await api.get("/payments"), 429, "rate-limited")
    clock.advance(seconds=1)  # 09:01:00
    served = await api.get("/payments")
    assert served.status_code == 200
    assert served.headers["ratelimit"].startswith('"requests";r=2;t=60,')
    limited = await rows(
        api.hotspot.portal.services.store,
        "SELECT count(*) AS n FROM audit_events WHERE action = 'api_call_limited'",
    )
    assert limited[0]["n"] == 3


async def test_every_answer_tells_the_limits_errors_too(api):
    for answer in (await api.get("/payments/12345"), await api.pay(amount=0), await api.get("/payments")):
        assert answer.headers["ratelimit-policy"] == '"requests";q=120;w=60, "prompts";q=10000'
        assert answer.headers["ratelimit"].startswith('"requests";r=')
    unknown = await api.get("/payments", token="portal_api_00000000_feed")
    assert unknown.status_code == 401 and "ratelimit" not in unknown.headers  # no client, no limits


async def test_prompts_past_the_monthly_quota_are_refused_plainly_until_next_month(api, clock):
    await set_quotas(api, pushes_per_month=2)
    assert (await api.pay()).status_code == 201
    problem(await api.pay(amount=0), 422, "invalid-request")  # it sent no prompt, so it costs none
    assert (await api.pay(phone="0712 345 679")).status_code == 201
    refused = await api.pay(phone="0712 345 670", key="order-3")
    body = problem(refused, 429, "prompt-quota-used-up")
    assert "2 M-Pesa prompts a month" in body["detail"] and "next month" in body["detail"]
    # 2026-01-05 09:00 UTC is 12:00 in Nairobi; February starts there 26 days and 12 hours later.
    assert refused.headers["retry-after"] == str((26 * 24 + 12) * 3600)
    assert refused.headers["ratelimit"].endswith(f'"prompts";r=0;t={(26 * 24 + 12) * 3600}')
    assert pushes(api.hotspot) == 2
    assert (await api.get("/payments")).status_code == 200  # reading sends no prompt

    clock.advance(days=26, hours=12)
    assert (await api.pay(phone="0712 345 670", key="order-3")).status_code == 201
    assert pushes(api.hotspot) == 3


async def test_calls_and_prompts_are_counted_per_day_answered_and_failed(api, clock):
    today = date(2026, 1, 5)
    assert (await api.pay()).status_code == 201
    problem(await api.pay(), 409, "phone-busy")  # the same phone's prompt is still open
    await api.get("/payments")
    problem(await api.get("/payments/999"), 404, "not-found")
    assert await usage(api, today) == (4, 2, 2, 1)

    clock.advance(days=1)
    await api.get("/payments")
    assert await usage(api, today) == (4, 2, 2, 1)
    assert await usage(api, date(2026, 1, 6)) == (1, 0, 0, 0)


async def test_counts_are_written_with_the_next_call_with_no_transaction_of_their_own(api):
    store = api.hotspot.portal.services.store
    await api.get("/payments")
    assert await rows(store, "SELECT * FROM api_usage") == []  # held until something writes
    await api.get("/payments")  # its authentication writes the first call's count
    [counted] = await rows(store, "SELECT requests FROM api_usage")
    assert counted["requests"] == 1
