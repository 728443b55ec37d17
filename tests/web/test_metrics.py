"""`GET /metrics` over real HTTP, on a database seeded with SQL."""

from dataclasses import replace

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from portal import settings as config
from portal.app import create_app
from portal.clock import to_text
from tests.conftest import free_port, serving

NOW = "2026-01-05T09:00:00.000000+00:00"


def scrape(text: str) -> dict[tuple[str, frozenset], float]:
    """{(sample name, labels): value} for every sample on the page."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(page: dict, name: str, **labels: str) -> float | None:
    return page.get((name, frozenset(labels.items())))


def seed(db, clock, vault, lobby_port: int) -> None:
    """Two routers for the running portal to look after: `lobby` answers (an emulator), `garden` is down.
    Queued tasks are due later, so what the page reports is what was seeded. (Run it in a write.)"""
    for slug in ("cafe", "salon"):
        db.execute("INSERT INTO tenants (slug, name, created_at) VALUES (?, ?, ?)", (slug, slug, NOW))
    db.execute(
        "INSERT INTO mpesa_accounts (tenant_id, name, shortcode, kind, environment, consumer_key_enc,"
        " consumer_secret_enc, passkey_enc, created_at, updated_at)"
        " VALUES (1, 'main', '174379', 'paybill', 'sandbox', 'x', 'x', 'x', ?, ?)",
        (NOW, NOW),
    )
    db.execute(
        "INSERT INTO packages (tenant_id, name, price, duration_seconds, created_at, updated_at)"
        " VALUES (1, '1 hour', 10, 3600, ?, ?)",
        (NOW, NOW),
    )
    for number, (tenant, state) in enumerate(
        [(1, "paid"), (1, "paid"), (1, "pending"), (1, "failed"), (2, "paid")], start=1
    ):
        db.execute(
            "INSERT INTO payments (tenant_id, ref, callback_token, mpesa_account_id, package_id, phone,"
            " amount, state, created_at, updated_at) VALUES (?, ?, ?, 1, 1, '254712345678', 10, ?, ?, ?)",
            (tenant, f"r{number}", f"t{number}", state, NOW, NOW),
        )
    seen = to_text(clock.now())
    db.execute(
        "INSERT INTO routers (tenant_id, name, host, port, username, password_enc, last_seen_at,"
        " created_at) VALUES (1, 'lobby', '127.0.0.1', ?, 'admin', ?, ?, ?)",
        (lobby_port, vault.encrypt("secret"), seen, NOW),
    )
    db.execute(
        "INSERT INTO routers (tenant_id, name, host, port, username, password_enc, last_seen_at,"
        " last_error, created_at) VALUES (1, 'garden', '127.0.0.1', ?, 'admin', ?, ?, 'down', ?)",
        (free_port(), vault.encrypt("secret"), NOW, NOW),
    )
    for router, state in [(1, "queued"), (1, "queued"), (1, "done"), (2, "queued"), (2, "failed")]:
        db.execute(
            "INSERT INTO router_tasks (router_id, kind, state, next_attempt_at, created_at)"
            " VALUES (?, 'update_plans', ?, '2100-01-01T00:00:00.000000+00:00', ?)",
            (router, state, NOW),
        )
    for number, (router, state) in enumerate([(1, "active"), (1, "active"), (1, "expired")]):
        db.execute(
            "INSERT INTO access_sessions (tenant_id, router_id, package_id, mac, state, paid_seconds,"
            " access_code_hash, access_code_enc, created_at, updated_at)"
            " VALUES (1, ?, 1, ?, ?, 3600, ?, 'x', ?, ?)",
            (router, f"AA:BB:CC:DD:EE:0{number}", state, f"h{number}", NOW, NOW),
        )


def remove_garden_and_pay(db) -> None:
    db.execute("UPDATE payments SET state = 'paid' WHERE state = 'pending'")
    db.execute("DELETE FROM router_tasks WHERE router_id = 2")
    db.execute("DELETE FROM routers WHERE name = 'garden'")


async def test_metrics_report_what_the_database_holds_at_scrape_time(settings, clock, vault, store, emulator):
    await store.write(seed, clock, vault, emulator.port)
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, httpx.AsyncClient() as http:
        response = await http.get(f"{base}/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        page = scrape(response.text)
        assert value(page, "portal_payments", tenant="cafe", state="paid") == 2
        assert value(page, "portal_payments", tenant="cafe", state="pending") == 1
        assert value(page, "portal_payments", tenant="cafe", state="failed") == 1
        assert value(page, "portal_payments", tenant="salon", state="paid") == 1
        assert value(page, "portal_router_tasks_queued", router="lobby") == 2
        assert value(page, "portal_router_tasks_queued", router="garden") == 1
        assert value(page, "portal_access_sessions_active", router="lobby") == 2
        assert value(page, "portal_router_up", router="lobby") == 1
        assert value(page, "portal_router_up", router="garden") == 0
        assert (
            value(page, "portal_router_last_seen_timestamp_seconds", router="lobby")
            == clock.now().timestamp()
        )

        # The next scrape reads the database again: a payment paid, a router removed.
        await store.write(remove_garden_and_pay)
        page = scrape((await http.get(f"{base}/metrics")).text)
    assert value(page, "portal_payments", tenant="cafe", state="paid") == 3
    assert value(page, "portal_payments", tenant="cafe", state="pending") is None
    assert value(page, "portal_router_up", router="garden") is None
    assert value(page, "portal_router_up", router="lobby") == 1


async def test_events_observed_by_the_app_appear_on_the_page(settings, clock, vault):
    app = create_app(settings, clock=clock, vault=vault)
    async with serving(app) as base, httpx.AsyncClient() as http:
        page = scrape((await http.get(f"{base}/metrics")).text)
        # Both confirmation paths are there from the start, at zero.
        assert value(page, "portal_payment_confirmations_total", path="callback") == 0
        assert value(page, "portal_payment_confirmations_total", path="query") == 0

        metrics = app.state.services.metrics
        metrics.stk_push_seconds.observe(1.2)
        metrics.stk_push_seconds.observe(4.0)
        metrics.confirmations.labels(path="query").inc()
        metrics.router_task_failures.labels(router="lobby", kind="grant").inc()
        page = scrape((await http.get(f"{base}/metrics")).text)
    assert value(page, "portal_stk_push_seconds_count") == 2
    assert value(page, "portal_stk_push_seconds_bucket", le="1.5") == 1
    assert value(page, "portal_stk_push_seconds_bucket", le="5.0") == 2
    assert value(page, "portal_payment_confirmations_total", path="query") == 1
    assert value(page, "portal_router_task_failures_total", router="lobby", kind="grant") == 1
    assert value(page, "process_resident_memory_bytes") > 0


async def test_each_app_counts_for_itself(settings, clock, vault):
    first = create_app(settings, clock=clock, vault=vault)
    second = create_app(settings, clock=clock, vault=vault)
    async with serving(first) as one, serving(second) as two, httpx.AsyncClient() as http:
        first.state.services.metrics.confirmations.labels(path="callback").inc()
        page_one = scrape((await http.get(f"{one}/metrics")).text)
        page_two = scrape((await http.get(f"{two}/metrics")).text)
    assert value(page_one, "portal_payment_confirmations_total", path="callback") == 1
    assert value(page_two, "portal_payment_confirmations_total", path="callback") == 0


@pytest.fixture
def token_settings(tmp_path):
    secret = tmp_path / "metrics.token"
    secret.write_text("scrape-me-7f3a\n")
    return config.from_mapping(
        {"store": {"data_dir": str(tmp_path)}},
        environ={"PORTAL_METRICS_TOKEN_FILE": str(secret)},
        source="test",
    )


@pytest.mark.parametrize(
    ("authorization", "status"),
    [(None, 401), ("Bearer wrong", 401), ("Bearer scrape-me-7f3", 401), ("Bearer scrape-me-7f3a", 200)],
)
async def test_metrics_need_the_token_when_one_is_set(token_settings, clock, vault, authorization, status):
    headers = {"Authorization": authorization} if authorization else {}
    async with (
        serving(create_app(token_settings, clock=clock, vault=vault)) as base,
        httpx.AsyncClient() as http,
    ):
        response = await http.get(f"{base}/metrics", headers=headers)
    assert response.status_code == status
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "scrape-me" not in response.text and "portal_payments" not in response.text
    else:
        assert "portal_stk_push_seconds" in response.text


@pytest.mark.parametrize(("forwarded_for", "status"), [("10.5.50.7", 403), ("192.0.2.1", 403), (None, 200)])
async def test_metrics_without_a_token_answer_only_this_box(settings, clock, vault, forwarded_for, status):
    """Behind a proxy on loopback, as the hotspot's customers would reach it."""
    proxy = config.from_mapping({}, environ={"PORTAL_SERVER_TRUSTED_PROXIES": "127.0.0.1"}).server
    settings = replace(settings, server=proxy)
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, httpx.AsyncClient() as http:
        response = await http.get(f"{base}/metrics", headers=headers)
    assert response.status_code == status
    assert ("portal_payments" in response.text) is (status == 200)
