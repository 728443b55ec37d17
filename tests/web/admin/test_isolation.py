"""Tenants kept apart, staff kept read-only, forms kept same-site: checked over every admin route.

The routes are read from the app itself, so a page added later is covered without editing this file
(and a path parameter this file doesn't know fails the test instead of being skipped).
"""

import re

import pytest

from portal.access import routers
from portal.app import create_app
from portal.billing import vouchers
from portal.catalog.packages import NameTaken
from portal.mpesa import accounts
from portal.tenancy import api_clients, webhooks
from portal.tenancy.admins import create_admin
from tests.conftest import free_port, rows, serving, value
from tests.seed import PASSWORD, seed_tenant
from tests.web.admin.client import browser, csrf_of, sign_in
from tests.web.admin.test_catalog import PACKAGE
from tests.web.admin.test_connections import ACCOUNT, ROUTER

PARAMETER = re.compile(r"\{(\w+)(?::\w+)?\}")
# Everything any admin form reads, filled in validly, so a refusal can only come from who is asking.
FORM = {
    "name": "changed-name",
    "price": "99",
    "duration": "2",
    "duration_unit": "hours",
    "rate_limit": "2M/4M",
    "host": "10.9.9.9",
    "port": "8728",
    "username": "intruder",
    "password": "a new router password",
    "hotspot_server": "all",
    "kind": "paybill",
    "shortcode": "600999",
    "environment": "sandbox",
    "consumer_key": "stolen key",
    "consumer_secret": "stolen secret",
    "passkey": "stolen passkey",
    "reason": "taking it",
    "hidden": "1",
    "direction": "up",
    "count": "5",
    "minutes": "30",
    "mac": "AA:BB:CC:DD:EE:99",
    "current": PASSWORD,
    "new": "a brand new password",
    "again": "a brand new password",
    "scope": "payments:write",
    "url": "https://intruder.example/hooks",
    "requests_per_minute": "100000",
    "pushes_per_month": "100000",
}
COUNTER = {  # what staff may post (tenancy/admins.py RIGHTS)
    "/admin/sessions/new",
    "/admin/sessions/{session_id:int}/extend",
    "/admin/vouchers",
    "/admin/vouchers/{batch:str}/sold",
    "/admin/routers/{router_id:int}/check",
}
TABLES = (
    "tenants", "admin_users", "mpesa_accounts", "routers", "packages", "access_sessions", "payments",
    "payment_events", "vouchers", "router_tasks", "audit_events", "api_clients", "webhook_endpoints",
    "webhook_messages",
)  # fmt: skip


def admin_routes(app, method: str) -> list[str]:
    return sorted(
        route.path
        for route in app.routes
        if route.path.startswith("/admin") and method in route.methods and route.path != "/admin/login"
    )


def fill(path: str, ids: dict) -> str:
    return PARAMETER.sub(lambda found: str(ids[found.group(1)]), path)


async def snapshot(store) -> dict:
    """Every row of every table that an admin page could change."""
    found = {}
    for table in TABLES:
        found[table] = [tuple(row) for row in await rows(store, f"SELECT * FROM {table} ORDER BY rowid")]
    return found


@pytest.fixture
async def two_tenants(store, clock, vault):
    alpha = await seed_tenant(store, clock, vault, "alpha")
    beta = await seed_tenant(store, clock, vault, "beta", phone="254722000000")
    for seeded in (alpha, beta):
        seeded.batch = await store.write(
            vouchers.generate_batch, clock, vault, seeded.tenant_id, seeded.package_id, 3
        )
        await store.write(add_api_client, clock, vault, seeded)
    return alpha, beta


def add_api_client(db, clock, vault, seeded) -> None:
    """An API client ("Alpha shop"), its webhook and an event delivered to it (so it may be sent again)."""
    client, _ = api_clients.create(
        db, clock, seeded.tenant_id, f"{seeded.slug.title()} shop", ["payments:read"]
    )
    endpoint, _ = webhooks.add(db, clock, vault, client.id, f"https://{seeded.slug}.example/hooks")
    webhooks.queue(db, clock, client.id, "payment.paid", f"payment:{seeded.paid_payment_id}", {})
    [message] = webhooks.due(db, clock.now(), 1)
    webhooks.record_attempt(db, clock, message, 204, None)
    seeded.api_client_id, seeded.endpoint_id, seeded.message_id = client.id, endpoint.id, message.id


def ids_of(seeded) -> dict:
    return {
        "payment_id": seeded.paid_payment_id,
        "package_id": seeded.package_id,
        "router_id": seeded.router_id,
        "account_id": seeded.account_id,
        "batch": seeded.batch,
        "session_id": seeded.session_id,
        "user_id": seeded.staff_id,
        "customer": seeded.paid_payment_id,
        "client_id": seeded.api_client_id,
        "endpoint_id": seeded.endpoint_id,
        "message_id": seeded.message_id,
    }


async def test_an_owner_reaches_nothing_of_another_tenant_through_any_admin_url(
    settings, clock, vault, store, two_tenants
):
    alpha, beta = two_tenants
    app = create_app(settings, clock=clock, vault=vault)
    async with serving(app) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, alpha.owner)).text)
        before = await snapshot(store)
        answers = {}
        for path in admin_routes(app, "GET"):
            if "{" in path:
                answers["GET " + path] = (await http.get(base + fill(path, ids_of(beta)))).status_code
        for path in admin_routes(app, "POST"):
            if "{" in path:
                url = base + fill(path, ids_of(beta))
                answers["POST " + path] = (await http.post(url, data={**FORM, "csrf": csrf})).status_code
        # Forms whose fields name another tenant's rows.
        for name, path, data in [
            ("voucher batch for their package", "/admin/vouchers", {"package_id": beta.package_id}),
            ("new router paid to their account", "/admin/routers/new", {"mpesa_account_id": beta.account_id}),
            (
                "own router paid to their account",
                f"/admin/routers/{alpha.router_id}/edit",
                {"mpesa_account_id": beta.account_id},
            ),
            (
                "own session moved to their router",
                f"/admin/sessions/{alpha.session_id}/move",
                {"router_id": beta.router_id},
            ),
            (
                "access given on their router",
                "/admin/sessions/new",
                {"router_id": beta.router_id, "package_id": alpha.package_id},
            ),
            (
                "access given with their package",
                "/admin/sessions/new",
                {"router_id": alpha.router_id, "package_id": beta.package_id},
            ),
        ]:
            response = await http.post(base + path, data={**FORM, **data, "csrf": csrf})
            answers[name] = response.status_code
        picking = await http.post(f"{base}/admin/tenant", data={"csrf": csrf, "tenant": beta.tenant_id})
    assert len(answers) >= 16
    assert answers == dict.fromkeys(answers, 404)
    assert picking.status_code == 403
    assert await snapshot(store) == before


async def test_no_admin_page_shows_another_tenants_rows(settings, clock, vault, store, two_tenants):
    alpha, beta = two_tenants
    theirs = [
        "Beta hour",
        "beta-router",
        "beta-paybill",
        "0722 000 000",
        "254722000000",
        "RBETA0001",
        beta.batch,
        "AA:BB:CC:00:00:02",
        "Beta Wi-Fi",
        "Beta shop",
    ]
    theirs += [await value(store, "SELECT ref FROM payments WHERE id = ?", (beta.paid_payment_id,))]
    app = create_app(settings, clock=clock, vault=vault)
    async with serving(app) as base, browser() as http:
        await sign_in(http, base, alpha.owner)
        pages = {}
        for path in admin_routes(app, "GET"):
            if "{" not in path:
                response = await http.get(base + path)
                assert response.status_code == 200, path
                pages[path] = response.text
        for path in (
            "/admin/payments/{payment_id}",
            "/admin/vouchers/{batch}",
            "/admin/vouchers/{batch}/print",
            "/admin/sessions/{session_id}",
            "/admin/customers/{customer}",
            "/admin/api-clients/{client_id}",
        ):
            pages[path] = (await http.get(base + fill(path, ids_of(alpha)))).text
    assert "Alpha hour" in pages["/admin/packages"]  # the pages do show this tenant's own rows
    assert (
        "Alpha shop" in pages["/admin/api-clients"]
        and "payment.paid" in pages["/admin/api-clients/{client_id}"]
    )
    assert "alpha-router" in pages["/admin/routers"]
    leaks = {(path, text) for path, page in pages.items() for text in theirs if text in page}
    assert leaks == set()


async def test_a_platform_admin_looking_at_one_tenant_reaches_no_other(
    settings, clock, vault, store, two_tenants
):
    alpha, beta = two_tenants
    await store.write(
        create_admin, clock, email="root@example.com", password=PASSWORD, role="platform", tenant_id=None
    )
    app = create_app(settings, clock=clock, vault=vault)
    async with serving(app) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, "root@example.com")).text)
        await http.post(f"{base}/admin/tenant", data={"csrf": csrf, "tenant": beta.tenant_id})
        theirs = await http.get(f"{base}/admin/payments/{alpha.paid_payment_id}")
        own = await http.get(f"{base}/admin/payments/{beta.paid_payment_id}")
        await http.post(f"{base}/admin/tenant", data={"csrf": csrf, "tenant": ""})
        everyone = await http.get(f"{base}/admin/payments/{alpha.paid_payment_id}")
    assert theirs.status_code == 404
    assert own.status_code == 200
    assert everyone.status_code == 200


async def test_staff_change_nothing_through_any_admin_form(settings, clock, vault, store, two_tenants):
    alpha, _ = two_tenants
    app = create_app(settings, clock=clock, vault=vault)
    # Their own session and password, and the statement check, which posts a file only to read it;
    # and the counter's work, which test_sessions, test_catalog and test_connections prove they may do.
    allowed = {"/admin/logout", "/admin/account/password", "/admin/reconcile", *COUNTER}
    async with serving(app) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, alpha.staff)).text)
        before = await snapshot(store)
        answers = {}
        for path in admin_routes(app, "POST"):
            if path not in allowed:
                url = base + fill(path, ids_of(alpha))
                data = {**FORM, "csrf": csrf, "package_id": alpha.package_id, "tenant": alpha.tenant_id}
                answers["POST " + path] = (await http.post(url, data=data)).status_code
        for path in ("/admin/packages/new", "/admin/routers/new", "/admin/mpesa/new"):
            answers["GET " + path] = (await http.get(base + path)).status_code
        for path in admin_routes(app, "GET"):
            if path.endswith("/edit"):
                answers["GET " + path] = (await http.get(base + fill(path, ids_of(alpha)))).status_code
    assert len(answers) >= 16
    assert answers == dict.fromkeys(answers, 403)
    assert await snapshot(store) == before


async def test_every_admin_form_refuses_a_post_without_its_csrf_token(
    settings, clock, vault, store, two_tenants
):
    alpha, _ = two_tenants
    app = create_app(settings, clock=clock, vault=vault)
    async with serving(app) as base, browser() as http:
        await sign_in(http, base, alpha.owner)
        before = await snapshot(store)
        answers = {}
        for path in admin_routes(app, "POST"):
            url = base + fill(path, ids_of(alpha))
            data = {**FORM, "package_id": alpha.package_id}
            answers[path] = (await http.post(url, data=data)).status_code
            answers[path + " (forged token)"] = (
                await http.post(url, data={**data, "csrf": "forged"})
            ).status_code
            answers[path + " (as JSON)"] = (await http.post(url, json=data)).status_code
    assert len(answers) >= 36
    assert answers == dict.fromkeys(answers, 403)
    assert await snapshot(store) == before


async def test_ids_that_cannot_exist_are_not_found_never_an_error(settings, clock, vault, store, two_tenants):
    alpha, _ = two_tenants
    app = create_app(settings, clock=clock, vault=vault)
    huge, negative = "9" * 25, "-1"
    async with serving(app) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, alpha.owner)).text)
        before = await snapshot(store)
        answers, pages = {}, {}
        for method in ("GET", "POST"):
            for path in admin_routes(app, method):
                if "{" in path:
                    for bad in (huge, negative, "x"):
                        url = base + fill(path, dict.fromkeys(ids_of(alpha), bad))
                        response = await http.request(
                            method, url, data={**FORM, "csrf": csrf} if method == "POST" else None
                        )
                        answers[f"{method} {path} {bad}"] = response.status_code
                        pages[f"{method} {path} {bad}"] = response.headers["content-type"]
        for path, field in [("/admin/vouchers", "package_id"), ("/admin/routers/new", "mpesa_account_id")]:
            response = await http.post(base + path, data={**FORM, field: huge, "csrf": csrf})
            answers[f"{path} {field}"] = response.status_code
        for path, field in [
            ("/admin/vouchers", "count"),
            ("/admin/packages/new", "price"),
            ("/admin/sessions/new", "router_id"),
            (f"/admin/sessions/{alpha.session_id}/extend", "minutes"),
            (f"/admin/routers/{alpha.router_id}/edit", "port"),
            (f"/admin/mpesa/{alpha.account_id}/edit", "shortcode"),
        ]:  # digits that are not 0-9: '²' passes str.isdigit() but not int()
            response = await http.post(base + path, data={**FORM, field: "²²²²²", "csrf": csrf})
            answers[f"{path} {field}=²"] = response.status_code
        answers["GET /admin/payments?page=²"] = (await http.get(f"{base}/admin/payments?page=²")).status_code
    assert {status for status in answers.values()} <= {200, 400, 404}
    assert {path for path, status in answers.items() if status == 200} == {"GET /admin/payments?page=²"}
    assert answers["/admin/vouchers package_id"] == 404
    assert {page.partition(";")[0] for page in pages.values()} == {"text/html"}  # never JSON
    assert await snapshot(store) == before


async def test_a_file_posted_where_text_belongs_is_never_an_error(settings, clock, vault, store, two_tenants):
    alpha, _ = two_tenants
    nowhere = free_port()  # Check connection and Test credentials reach a loopback port nobody answers

    def point_nowhere_and_add_a_platform_admin(db) -> None:
        db.execute("UPDATE routers SET host = '127.0.0.1', port = ? WHERE id = ?", (nowhere, alpha.router_id))
        db.execute(
            "UPDATE mpesa_accounts SET environment = ? WHERE id = ?",
            (f"http://127.0.0.1:{nowhere}", alpha.account_id),
        )
        create_admin(db, clock, email="root@example.com", password=PASSWORD, role="platform", tenant_id=None)

    await store.write(point_nowhere_and_add_a_platform_admin)
    text_fields = [*FORM, "email", "next", "package_id", "router_id", "mpesa_account_id", "tenant"]
    files = {name: ("typed.txt", b"1", "text/plain") for name in text_fields}
    app = create_app(settings, clock=clock, vault=vault)
    answers = {}
    async with serving(app) as base, browser() as http:
        login = await http.get(f"{base}/admin/login")
        signing_in = await http.post(f"{base}/admin/login", data={"csrf": csrf_of(login.text)}, files=files)
        answers["POST /admin/login"] = signing_in.status_code
        csrf = csrf_of((await sign_in(http, base, alpha.owner)).text)
        # Signing out last, so that every other form is posted signed in.
        paths = sorted(admin_routes(app, "POST"), key=lambda path: path == "/admin/logout")
        for path in paths:
            response = await http.post(base + fill(path, ids_of(alpha)), data={"csrf": csrf}, files=files)
            answers["POST " + path] = response.status_code
    async with serving(app) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, "root@example.com")).text)
        picking = await http.post(f"{base}/admin/tenant", data={"csrf": csrf}, files=files)
        answers["POST /admin/tenant (platform admin)"] = picking.status_code
    assert len(answers) >= 20
    assert {path: status for path, status in answers.items() if status >= 500} == {}
    assert answers["POST /admin/login"] == 401


@pytest.mark.parametrize(
    ("table", "path", "form", "taken"),
    [
        ("packages", "/admin/packages", PACKAGE, str(NameTaken())),
        ("mpesa_accounts", "/admin/mpesa", ACCOUNT, accounts.NAME_TAKEN),
    ],
)
async def test_a_name_is_unique_in_its_business_only(
    settings, clock, vault, store, two_tenants, table, path, form, taken
):
    alpha, _ = two_tenants
    names = {"packages": ("Alpha hour", "Beta hour"), "mpesa_accounts": ("alpha-paybill", "beta-paybill")}
    ours, theirs = names[table]
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, alpha.owner)).text)
        added = await http.post(f"{base}{path}/new", data={**form, "name": theirs, "csrf": csrf})
        added_id = await value(
            store, f"SELECT id FROM {table} WHERE tenant_id = ? AND name = ?", (alpha.tenant_id, theirs)
        )
        again = await http.post(f"{base}{path}/new", data={**form, "name": ours, "csrf": csrf})
        renamed = await http.post(f"{base}{path}/{added_id}/edit", data={**form, "name": ours, "csrf": csrf})
    assert added.status_code == 200 and added_id
    assert again.status_code == renamed.status_code == 400
    assert taken in again.text and taken in renamed.text
    assert f'value="{ours}"' in again.text
    assert await value(store, f"SELECT count(*) FROM {table} WHERE name = ?", (ours,)) == 1


async def test_a_router_name_another_business_uses_is_refused_without_saying_whose(
    settings, clock, vault, store, two_tenants
):
    alpha, _ = two_tenants
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, alpha.owner)).text)
        edit = {**ROUTER, "host": "10.0.0.1", "port": "8728"}  # the place its password was typed for
        refusals = [
            await http.post(
                f"{base}/admin/routers/new", data={**ROUTER, "name": "beta-router", "csrf": csrf}
            ),
            await http.post(
                f"{base}/admin/routers/{alpha.router_id}/edit",
                data={**edit, "name": "beta-router", "csrf": csrf},
            ),
        ]
    for refused in refusals:
        assert refused.status_code == 400
        assert routers.NAME_TAKEN in refused.text  # the splash finds a router by its name alone
        assert "Another router" not in refused.text and "Beta" not in refused.text
    assert await value(store, "SELECT count(*) FROM routers WHERE name = 'beta-router'") == 1
