"""Routers and M-Pesa accounts in the admin: secrets are write-only, rotations are audited, and each can
be tried: a router's connection and set-up (the RouterOS emulator), an account's credentials (the
Daraja simulator)."""

import json
from dataclasses import replace

import pytest
from msgspec import structs

from portal import settings as config
from portal.access import routers
from portal.app import create_app
from portal.billing import c2b
from portal.clock import to_text
from portal.gateways.routeros.form import read_router
from portal.sim.daraja import SANDBOX_PASSKEY
from portal.tenancy.admins import create_admin
from tests.billing.test_c2b import by_hand
from tests.conftest import execute, free_port, rows, serving, value
from tests.seed import PASSWORD, on_emulator, seed_tenant
from tests.web.admin.client import browser, csrf_of, sign_in

ROUTER = {
    "name": "cafe-annex",
    "host": "192.168.88.2",
    "port": "",
    "use_tls": "on",
    "username": "portal-api",
    "password": "s3cret router password",
    "hotspot_server": "hotspot1",
}
ACCOUNT = {
    "name": "Shop till",
    "kind": "till",
    "shortcode": "7654321",
    "till_number": "1234567",
    "environment": "production",
    "consumer_key": "ck-first-consumer-key",
    "consumer_secret": "cs-first-consumer-secret",
    "passkey": "pk-first-passkey",
}
SECRET_VALUES = ("ck-first-consumer-key", "cs-first-consumer-secret", "pk-first-passkey", "pk-second-passkey")


@pytest.fixture
async def alpha(store, clock, vault):
    return await seed_tenant(store, clock, vault, "alpha")


async def everything_stored(store) -> str:
    """Every stored value as text, to look for plaintext secrets in."""
    tables = ("routers", "mpesa_accounts", "audit_events", "router_tasks")
    return repr([tuple(row) for table in tables for row in await rows(store, f"SELECT * FROM {table}")])


async def test_a_new_router_starts_with_the_api_over_tls_ticked(settings, clock, vault, alpha):
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        await sign_in(http, base, alpha.owner)
        form = await http.get(f"{base}/admin/routers/new")
    assert '<input type="checkbox" name="use_tls" checked>' in form.text


async def test_a_router_password_is_stored_encrypted_and_never_shown(settings, clock, vault, store, alpha):
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, alpha.owner)).text)
        added = await http.post(
            f"{base}/admin/routers/new", data={**ROUTER, "mpesa_account_id": alpha.account_id, "csrf": csrf}
        )
        [router] = await rows(store, "SELECT * FROM routers WHERE name = 'cafe-annex'")
        same_account = {"mpesa_account_id": alpha.account_id}
        form = await http.get(f"{base}/admin/routers/{router['id']}/edit")
        edited = {**ROUTER, **same_account, "hotspot_server": "hotspot2"}
        kept = await http.post(
            f"{base}/admin/routers/{router['id']}/edit", data={**edited, "password": "", "csrf": csrf}
        )
        after_keep = await value(store, "SELECT password_enc FROM routers WHERE id = ?", (router["id"],))
        await http.post(
            f"{base}/admin/routers/{router['id']}/edit",
            data={**edited, "host": "192.168.88.3", "password": "the next password", "csrf": csrf},
        )
        after_change = await value(store, "SELECT password_enc FROM routers WHERE id = ?", (router["id"],))
    assert added.url.path == kept.url.path == "/admin/routers"
    assert added.status_code == kept.status_code == 200
    assert (router["port"], router["use_tls"], router["mpesa_account_id"]) == (8729, 1, alpha.account_id)
    assert vault.decrypt(router["password_enc"]) == ROUTER["password"]
    assert vault.decrypt(after_keep) == ROUTER["password"]
    assert vault.decrypt(after_change) == "the next password"
    for page in (added, form, kept):
        assert ROUTER["password"] not in page.text
    assert "password set" in added.text
    assert 'name="password" type="password"' in form.text and 'value=""' in form.text
    stored = await everything_stored(store)
    assert ROUTER["password"] not in stored and "the next password" not in stored
    actions = [
        tuple(row)
        for row in await rows(store, "SELECT action, detail FROM audit_events WHERE action LIKE 'router%'")
    ]
    assert [action for action, _ in actions] == [
        "router_added",
        "router_changed",
        "router_changed",
        "router_credentials_rotated",
    ]
    assert json.loads(actions[1][1]) == {"changed": ["hotspot_server"]}
    assert json.loads(actions[2][1]) == {"changed": ["host"]}
    # The new router gets the tenant's packages as plans.
    assert (
        await value(
            store,
            "SELECT count(*) FROM router_tasks WHERE router_id = ? AND kind = 'update_plans'",
            (router["id"],),
        )
        == 1
    )


@pytest.mark.parametrize(
    "moved",
    [{"host": "192.168.88.66"}, {"port": "18728"}, {"use_tls": "on"}, {"username": "admin"}],
    ids=["host", "port", "tls", "user"],
)
async def test_a_router_pointed_elsewhere_keeps_no_password_until_it_is_typed_again(
    settings, clock, vault, store, alpha, moved
):
    """Otherwise anyone able to edit the router could point it at a host of theirs and press Check
    connection, which logs in there with the stored password."""
    seeded = {"name": "alpha-router", "host": "10.0.0.1", "port": "8728", "username": "portal"}
    where = "SELECT host, port, use_tls, username, password_enc FROM routers WHERE id = ?"
    [before] = await rows(store, where, (alpha.router_id,))
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, alpha.owner)).text)
        edit = f"{base}/admin/routers/{alpha.router_id}/edit"
        refused = await http.post(edit, data={**seeded, **moved, "password": "", "csrf": csrf})
        [unchanged] = await rows(store, where, (alpha.router_id,))
        retyped = await http.post(edit, data={**seeded, **moved, "password": "typed again", "csrf": csrf})
    assert refused.status_code == 400
    assert "type the password again" in refused.text
    assert "router password" not in refused.text
    assert tuple(unchanged) == tuple(before)
    assert retyped.url.path == "/admin/routers"
    [after] = await rows(store, "SELECT password_enc FROM routers WHERE id = ?", (alpha.router_id,))
    assert vault.decrypt(after["password_enc"]) == "typed again"


async def test_an_edit_racing_a_move_keeps_no_password_for_the_new_place(clock, vault, store, alpha):
    """The form was read while the router was here; it moved before the edit was saved."""
    stored = await store.read(routers.get, alpha.router_id)
    form = {"name": "alpha-router", "host": "10.0.0.2", "port": "8728", "username": "portal"}
    spec, errors = read_router(form, stored=structs.replace(stored, host="10.0.0.2"))
    assert errors == {} and spec.password is None
    assert not await store.write(routers.update, vault, alpha.router_id, alpha.tenant_id, spec)
    assert await value(store, "SELECT host FROM routers WHERE id = ?", (alpha.router_id,)) == "10.0.0.1"


async def test_router_form_mistakes_are_explained_and_the_password_is_not_echoed(
    settings, clock, vault, store, alpha
):
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, alpha.owner)).text)
        bad = await http.post(
            f"{base}/admin/routers/new",
            data={**ROUTER, "name": "café main", "host": "not a host!", "port": "99999", "csrf": csrf},
        )
        taken = await http.post(
            f"{base}/admin/routers/new", data={**ROUTER, "name": "alpha-router", "csrf": csrf}
        )
        no_password = await http.post(
            f"{base}/admin/routers/new", data={**ROUTER, "password": "", "csrf": csrf}
        )
    assert bad.status_code == taken.status_code == no_password.status_code == 400
    assert (
        "Use letters, digits" in bad.text
        and "address on the network" in bad.text
        and "1 to 65535" in bad.text
    )
    assert routers.NAME_TAKEN in taken.text
    assert "Give that user" in no_password.text
    assert ROUTER["password"] not in bad.text + taken.text
    assert 'value="not a host!"' in bad.text
    assert await value(store, "SELECT count(*) FROM routers") == 1


async def test_mpesa_credentials_are_write_only_and_rotate_one_at_a_time(
    settings, clock, vault, store, alpha
):
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, alpha.owner)).text)
        added = await http.post(f"{base}/admin/mpesa/new", data={**ACCOUNT, "csrf": csrf})
        [account] = await rows(store, "SELECT * FROM mpesa_accounts WHERE name = 'Shop till'")
        form = await http.get(f"{base}/admin/mpesa/{account['id']}/edit")
        rotated = await http.post(
            f"{base}/admin/mpesa/{account['id']}/edit",
            data={
                **ACCOUNT,
                "consumer_key": "",
                "consumer_secret": "",
                "passkey": "pk-second-passkey",
                "csrf": csrf,
            },
        )
        [after] = await rows(store, "SELECT * FROM mpesa_accounts WHERE id = ?", (account["id"],))
    assert added.url.path == rotated.url.path == "/admin/mpesa"
    assert added.status_code == rotated.status_code == 200
    assert (account["kind"], account["shortcode"], account["till_number"]) == ("till", "7654321", "1234567")
    assert vault.decrypt(after["consumer_key_enc"]) == "ck-first-consumer-key"
    assert vault.decrypt(after["consumer_secret_enc"]) == "cs-first-consumer-secret"
    assert vault.decrypt(after["passkey_enc"]) == "pk-second-passkey"
    for page in (added, form, rotated):
        for secret in SECRET_VALUES:
            assert secret not in page.text
    assert form.text.count('<span class="state state-ok">set</span>') == 3
    stored = await everything_stored(store)
    assert not any(secret in stored for secret in SECRET_VALUES)
    detail = await value(
        store, "SELECT detail FROM audit_events WHERE action = 'mpesa_account_credentials_rotated'"
    )
    assert json.loads(detail) == {"rotated": ["passkey"]}
    assert not await value(store, "SELECT count(*) FROM audit_events WHERE action = 'mpesa_account_changed'")


async def test_mpesa_form_catches_till_and_paybill_mix_ups_without_echoing_secrets(
    settings, clock, vault, store, alpha
):
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, alpha.owner)).text)
        till = await http.post(f"{base}/admin/mpesa/new", data={**ACCOUNT, "till_number": "", "csrf": csrf})
        paybill = await http.post(
            f"{base}/admin/mpesa/new", data={**ACCOUNT, "kind": "paybill", "csrf": csrf}
        )
        missing = await http.post(f"{base}/admin/mpesa/new", data={**ACCOUNT, "passkey": "", "csrf": csrf})
    assert till.status_code == paybill.status_code == missing.status_code == 400
    assert "A Till needs its till number" in till.text
    assert "A PayBill has no till number" in paybill.text
    assert "Paste the passkey" in missing.text
    assert not any(secret in till.text + paybill.text + missing.text for secret in SECRET_VALUES)
    assert await value(store, "SELECT count(*) FROM mpesa_accounts") == 1


async def test_a_platform_admin_must_pick_a_tenant_before_adding_to_one(settings, clock, vault, store, alpha):
    await seed_tenant(store, clock, vault, "beta", phone="254722000000")
    await store.write(
        create_admin, clock, email="root@example.com", password=PASSWORD, role="platform", tenant_id=None
    )
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, "root@example.com")).text)
        refused = await http.post(f"{base}/admin/mpesa/new", data={**ACCOUNT, "csrf": csrf})
        await http.post(f"{base}/admin/tenant", data={"csrf": csrf, "tenant": alpha.tenant_id})
        added = await http.post(f"{base}/admin/mpesa/new", data={**ACCOUNT, "csrf": csrf})
    assert refused.status_code == 409
    assert "Pick a tenant" in refused.text
    assert added.url.path == "/admin/mpesa" and added.status_code == 200
    assert (
        await value(store, "SELECT tenant_id FROM mpesa_accounts WHERE name = 'Shop till'") == alpha.tenant_id
    )


async def dashboard_alarm(http, base) -> bool:
    return "Router unreachable" in (await http.get(f"{base}/admin")).text


async def test_check_connection_shows_the_router_and_clears_the_dashboards_alarm(
    settings, clock, vault, store, alpha, emulator
):
    await on_emulator(store, vault, alpha.router_id, emulator.port, password="wrong password")
    check = f"/admin/routers/{alpha.router_id}/check"
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, alpha.owner)).text)
        refused = await http.post(base + check, data={"csrf": csrf})
        alarm_after_refusal = await dashboard_alarm(http, base)
        await on_emulator(store, vault, alpha.router_id, emulator.port)
        answered = await http.post(base + check, data={"csrf": csrf})
        alarm_after_answer = await dashboard_alarm(http, base)
    assert refused.status_code == answered.status_code == 200
    assert "alpha-router did not answer" in refused.text
    assert "the router refused the API login (check the user and password)" in refused.text
    assert "wrong password" not in refused.text
    assert alarm_after_refusal and not alarm_after_answer
    assert "alpha-router answers" in answered.text
    assert "Identity: cafe-router" in answered.text and "RouterOS 7.18.2 on hAP ac^2" in answered.text
    [router] = await rows(
        store, "SELECT last_error, last_seen_at FROM routers WHERE id = ?", (alpha.router_id,)
    )
    assert router["last_error"] is None and router["last_seen_at"] == to_text(clock.now())


async def test_provision_sets_the_router_up_at_the_portals_address(
    settings, clock, vault, store, alpha, emulator
):
    await on_emulator(store, vault, alpha.router_id, emulator.port)
    provision = f"/admin/routers/{alpha.router_id}/provision"
    port = free_port()
    pages = f"http://127.0.0.1:{port}"  # the router fetches its login page from this very portal
    settings = replace(settings, server=replace(settings.server, portal_url=pages))
    async with serving(create_app(settings, clock=clock, vault=vault), port) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, alpha.owner)).text)
        done = await http.post(base + provision, data={"csrf": csrf})
    assert done.status_code == 200 and "alpha-router is set up for portal" in done.text
    assert "walled garden opened to 127.0.0.1" in done.text
    assert f"login page fetched from {pages}/hotspot/login.html?router=alpha-router" in done.text
    login_page = emulator.files["flash/hotspot/login.html"].decode()
    assert f"{pages}/?router=alpha-router&mac=$(mac-esc)&ip=$(ip-esc)" in login_page
    detail = await value(store, "SELECT detail FROM audit_events WHERE action = 'router_provisioned'")
    assert json.loads(detail) == {"portal_url": pages}


async def test_provision_says_what_to_set_when_the_portal_has_no_address_and_why_a_router_failed(
    settings, clock, vault, store, alpha, emulator
):
    await on_emulator(store, vault, alpha.router_id, emulator.port)
    provision = f"/admin/routers/{alpha.router_id}/provision"
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, alpha.owner)).text)
        unset = await http.post(base + provision, data={"csrf": csrf})
    # The login page's address answers 404: the router's own refusal is shown.
    settings = replace(
        settings, server=replace(settings.server, portal_url=f"http://127.0.0.1:{free_port()}")
    )
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, alpha.owner)).text)
        unfetched = await http.post(base + provision, data={"csrf": csrf})
    assert unset.status_code == unfetched.status_code == 200
    assert "alpha-router was not set up" in unset.text and "portal_url under [server]" in unset.text
    assert "the router could not fetch" in unfetched.text and "connection failed" in unfetched.text
    assert not await value(store, "SELECT count(*) FROM audit_events WHERE action = 'router_provisioned'")


async def as_platform_admin(http, base: str, store, clock, tenant_id: int) -> str:
    """Signs in as the box's platform admin, looking at one tenant; returns the CSRF token."""
    await store.write(
        create_admin, clock, email="root@example.com", password=PASSWORD, role="platform", tenant_id=None
    )
    csrf = csrf_of((await sign_in(http, base, "root@example.com")).text)
    await http.post(f"{base}/admin/tenant", data={"csrf": csrf, "tenant": tenant_id})
    return csrf


async def test_an_owner_may_point_an_account_only_at_darajas_own_environments(
    settings, clock, vault, store, alpha, daraja
):
    elsewhere = {**ACCOUNT, "environment": "http://10.0.0.5:5432/", "name": "Probe"}
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, alpha.owner)).text)
        added = await http.post(f"{base}/admin/mpesa/new", data={**elsewhere, "csrf": csrf})
        edit = f"{base}/admin/mpesa/{alpha.account_id}/edit"
        shown = await http.get(edit)
        moved = await http.post(edit, data={**ACCOUNT, "environment": daraja.base_url, "csrf": csrf})
    assert added.status_code == moved.status_code == 400
    assert "Pick sandbox or production." in added.text and "Pick sandbox or production." in moved.text
    assert not await value(store, "SELECT count(*) FROM mpesa_accounts WHERE name = 'Probe'")
    assert not daraja.sim.requests  # nothing was sent anywhere
    assert shown.status_code == 200


async def test_test_credentials_asks_daraja_and_explains_a_refusal_without_echoing_the_secret(
    settings, clock, vault, store, alpha, daraja
):
    sim = {
        **ACCOUNT,
        "kind": "paybill",
        "shortcode": "174379",
        "till_number": "",
        "environment": daraja.base_url,
        "consumer_key": "sim-consumer-key",
        "consumer_secret": "sim-consumer-secret",
        "passkey": SANDBOX_PASSKEY,
    }
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        csrf = await as_platform_admin(http, base, store, clock, alpha.tenant_id)  # a simulator's URL
        await http.post(f"{base}/admin/mpesa/new", data={**sim, "csrf": csrf})
        account_id = await value(store, "SELECT id FROM mpesa_accounts WHERE name = ?", (sim["name"],))
        edit_form = await http.get(f"{base}/admin/mpesa/{account_id}/edit")
        worked = await http.post(f"{base}/admin/mpesa/{account_id}/test", data={"csrf": csrf})
        wrong = {**sim, "consumer_key": "", "consumer_secret": "a-mistyped-secret", "passkey": ""}
        await http.post(f"{base}/admin/mpesa/{account_id}/edit", data={**wrong, "csrf": csrf})
        refused = await http.post(f"{base}/admin/mpesa/{account_id}/test", data={"csrf": csrf})
    assert f'<option value="{daraja.base_url}" selected>' in edit_form.text  # kept when edited
    assert worked.status_code == refused.status_code == 200
    assert "Shop till: Daraja accepted the credentials" in worked.text
    assert "Shop till: the consumer key or secret is wrong" in refused.text
    assert "Consumer key and secret: refused" in refused.text
    assert "a-mistyped-secret" not in refused.text and "sim-consumer" not in refused.text + worked.text


async def test_an_account_pointed_elsewhere_sends_its_stored_secrets_nowhere_until_typed_again(
    settings, clock, vault, store, alpha, daraja
):
    """Otherwise anyone able to edit the account could point it at a URL of theirs and press Test
    credentials, which sends the consumer key and secret, and the passkey, there. Here the simulator
    plays that URL; the account's own environment answers nothing."""
    nowhere = f"http://127.0.0.1:{free_port()}"
    await execute(
        store, "UPDATE mpesa_accounts SET environment = ? WHERE id = ?", (nowhere, alpha.account_id)
    )
    fields = {"name": "alpha-paybill", "kind": "paybill", "shortcode": "174379", "till_number": ""}
    blank = dict.fromkeys(["consumer_key", "consumer_secret", "passkey"], "")
    typed = {
        "consumer_key": "sim-consumer-key",
        "consumer_secret": "sim-consumer-secret",
        "passkey": SANDBOX_PASSKEY,
    }
    edit, test = (f"/admin/mpesa/{alpha.account_id}/{action}" for action in ("edit", "test"))
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        csrf = await as_platform_admin(http, base, store, clock, alpha.tenant_id)
        moved = {**fields, "environment": daraja.base_url, "csrf": csrf}
        refused = await http.post(base + edit, data={**moved, **blank})
        partly = await http.post(base + edit, data={**moved, **blank, "passkey": SANDBOX_PASSKEY})
        tried = await http.post(base + test, data={"csrf": csrf})
        reached = dict(daraja.sim.requests)
        retyped = await http.post(base + edit, data={**moved, **typed})
        worked = await http.post(base + test, data={"csrf": csrf})
    assert refused.status_code == partly.status_code == 400
    assert refused.text.count("type the consumer key, secret and passkey again") == 3
    assert partly.text.count("type the consumer key, secret and passkey again") == 2
    assert "could not be reached" in tried.text
    assert reached == {}
    assert retyped.url.path == "/admin/mpesa"
    assert "Daraja accepted the credentials" in worked.text


@pytest.mark.parametrize(
    ("wrong", "title", "lines"),
    [
        (
            {"consumer_secret": "a-mistyped-secret"},
            "the consumer key or secret is wrong",
            ["Consumer key and secret: refused", "Shortcode and passkey: not checked"],
        ),
        (
            {"shortcode": "999999"},
            "the shortcode is wrong",
            ["Consumer key and secret: right", "Shortcode 999999: Daraja does not know it",
             "Daraja said: Merchant does not exist"],
        ),
        (
            {"passkey": "a-mistyped-passkey"},
            "the passkey is wrong",
            ["Consumer key and secret: right", "Shortcode 174379: known to Daraja", "Passkey: refused",
             "Daraja said: [MerchantValidate] - Wrong credentials"],
        ),
    ],
)  # fmt: skip
async def test_test_credentials_names_the_one_daraja_refused(
    settings, clock, vault, store, alpha, daraja, wrong, title, lines
):
    typed = {
        "consumer_key": "sim-consumer-key",
        "consumer_secret": "sim-consumer-secret",
        "passkey": SANDBOX_PASSKEY,
        "shortcode": "174379",
    } | wrong
    await execute(
        store,
        "UPDATE mpesa_accounts SET environment = ?, consumer_key_enc = ?, consumer_secret_enc = ?,"
        " passkey_enc = ?, shortcode = ? WHERE id = ?",
        (
            daraja.base_url,
            *(vault.encrypt(typed[name]) for name in ("consumer_key", "consumer_secret", "passkey")),
            typed["shortcode"],
            alpha.account_id,
        ),
    )
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, alpha.owner)).text)
        answer = await http.post(f"{base}/admin/mpesa/{alpha.account_id}/test", data={"csrf": csrf})
    result = answer.text[answer.text.index('<section id="result"') : answer.text.index("</section>")]
    assert f"alpha-paybill: {title}" in result
    assert all(line.replace("'", "&#39;") in result for line in lines), result
    assert result.lower().count("refused") <= 1  # said once, not repeated in Daraja's name
    assert "a-mistyped" not in result
    assert daraja.sim.prompts == {}


async def test_test_credentials_says_when_daraja_cannot_be_reached(settings, clock, vault, store, alpha):
    nowhere = f"http://127.0.0.1:{free_port()}"
    await execute(
        store, "UPDATE mpesa_accounts SET environment = ? WHERE id = ?", (nowhere, alpha.account_id)
    )
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, alpha.owner)).text)
        answer = await http.post(f"{base}/admin/mpesa/{alpha.account_id}/test", data={"csrf": csrf})
    assert answer.status_code == 200
    assert "Daraja could not be reached from this box, so nothing was checked" in answer.text


async def test_an_owner_sets_the_account_words_for_wifi_and_money_not_spent_follows_them(
    settings, clock, vault, store, alpha
):
    where = {"account_id": alpha.account_id, "tenant_id": alpha.tenant_id}
    await store.write(c2b.record, clock, payment=by_hand("SGR0000NET", "NET", 50), **where)
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        await sign_in(http, base, alpha.staff)
        as_staff = await http.get(f"{base}/admin/mpesa")
        http.cookies.clear()
        csrf = csrf_of((await sign_in(http, base, alpha.owner)).text)
        shown = await http.get(f"{base}/admin/mpesa")
        refused = await http.post(
            f"{base}/admin/mpesa/wifi-words", data={"csrf": csrf, "wifi_words": "WIFI; NET"}
        )
        saved = await http.post(
            f"{base}/admin/mpesa/wifi-words", data={"csrf": csrf, "wifi_words": " net , Wi-Fi "}
        )
    assert (
        '<strong id="wifi-words-now">WIFI</strong>' in as_staff.text
        and 'name="wifi_words"' not in as_staff.text
    )
    assert 'name="wifi_words" value="WIFI"' in shown.text
    assert refused.status_code == 400 and "separate words with commas" in refused.text
    assert 'value="WIFI; NET"' in refused.text
    assert saved.status_code == 200 and saved.url.path == "/admin/mpesa" and "Saved." in saved.text
    assert 'name="wifi_words" value="net, Wi-Fi"' in saved.text
    assert (
        await value(store, "SELECT wifi_words FROM tenants WHERE id = ?", (alpha.tenant_id,)) == "net, Wi-Fi"
    )
    assert await value(store, "SELECT for_wifi FROM c2b_payments") == 1
    [event] = await rows(
        store, "SELECT actor, target, detail FROM audit_events WHERE action = 'wifi_words_changed'"
    )
    assert (event["actor"], event["target"]) == (alpha.owner, f"tenant:{alpha.tenant_id}")
    assert json.loads(event["detail"]) == {"words": ["WIFI", "net, Wi-Fi"], "payments_changed": 1}


async def test_a_router_outside_the_allowed_networks_is_refused_when_added_edited_or_checked(
    settings, clock, vault, store, alpha, emulator
):
    """An owner can't make the box connect to itself or to the internet, and learns nothing of what is
    there: the emulator on loopback, in the tests' ranges, is outside the default ones."""
    await on_emulator(store, vault, alpha.router_id, emulator.port)
    private_only = replace(settings, routers=config.load(None, environ={}).routers)
    outside = "127.0.0.1 is outside the networks this box may reach routers on"
    async with serving(create_app(private_only, clock=clock, vault=vault)) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, alpha.owner)).text)
        added = await http.post(
            f"{base}/admin/routers/new",
            data={**ROUTER, "host": "127.0.0.1", "port": str(emulator.port), "csrf": csrf},
        )
        edited = await http.post(
            f"{base}/admin/routers/{alpha.router_id}/edit",
            data={**ROUTER, "name": "alpha-router", "host": "localhost", "port": "22", "csrf": csrf},
        )
        checked = await http.post(f"{base}/admin/routers/{alpha.router_id}/check", data={"csrf": csrf})
        listed = await http.get(f"{base}/admin/routers")
    assert added.status_code == edited.status_code == 400
    assert outside in added.text and "localhost is outside the networks" in edited.text
    assert "alpha-router did not answer" in checked.text and outside in checked.text
    assert await value(store, "SELECT count(*) FROM routers") == 1
    assert not emulator.sentences and not emulator.connections
    assert f"127.0.0.1:{emulator.port}" in listed.text  # routers are listed by host and port


def attention_of(dashboard: str) -> str:
    """The dashboard's "Needs attention" box."""
    return dashboard.split('class="card alerts"')[1].split("</section>")[0] if "alerts" in dashboard else ""


async def test_a_mistyped_router_disabled_or_removed_leaves_needs_attention(
    settings, clock, vault, store, alpha
):
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, alpha.owner)).text)
        await http.post(f"{base}/admin/routers/new", data={**ROUTER, "csrf": csrf})
        mistyped = await value(store, "SELECT id FROM routers WHERE name = ?", (ROUTER["name"],))
        # It never answers: its plans keep failing, and so does its connection.
        await execute(store, "UPDATE routers SET last_error = 'no route to host' WHERE id = ?", (mistyped,))
        await execute(
            store,
            "UPDATE router_tasks SET attempts = 5, last_error = 'no route' WHERE router_id = ?",
            (mistyped,),
        )
        alarmed = await http.get(f"{base}/admin")
        asked = await http.get(f"{base}/admin/routers/{mistyped}/disable")
        disabled = await http.post(f"{base}/admin/routers/{mistyped}/disable", data={"csrf": csrf})
        calm = await http.get(f"{base}/admin")
        asked_removal = await http.get(f"{base}/admin/routers/{mistyped}/remove")
        removed = await http.post(f"{base}/admin/routers/{mistyped}/remove", data={"csrf": csrf})
        again = await http.post(f"{base}/admin/routers/new", data={**ROUTER, "csrf": csrf})
    assert "Router unreachable" in alarmed.text and "Router tasks failing" in alarmed.text
    assert "cafe-annex" in attention_of(alarmed.text)
    assert "It leaves “Needs attention” and “Router tasks failing”" in asked.text
    assert (
        "Disabled. You can enable it again" in disabled.text and "sells nothing, not checked" in disabled.text
    )
    assert "cafe-annex" not in attention_of(calm.text)  # (the seeded router stays: it is unreachable too)
    assert "Nothing was ever sold or used through cafe-annex: it is deleted" in asked_removal.text
    assert "Deleted." in removed.text and "cafe-annex" not in removed.text.split("<table")[1]
    assert again.url.path == "/admin/routers"  # the name is free again
    actions = await rows(
        store, "SELECT action, detail FROM audit_events WHERE target = ? ORDER BY id", (f"router:{mistyped}",)
    )
    assert [row[0] for row in actions] == [
        "router_added",
        "router_disabled",
        "router_removed",
        "router_added",
    ]
    assert json.loads(actions[2][1]) == {"name": "cafe-annex", "kept": False}


async def test_a_router_with_customers_is_kept_for_the_books_and_its_wifi_page_sells_nothing(
    settings, clock, vault, store, alpha
):
    wifi_page = {"router": "alpha-router", "mac": "AA:BB:CC:DD:EE:01", "ip": "10.5.50.9"}
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, alpha.owner)).text)
        selling = await http.get(base, params=wifi_page)
        asked = await http.get(f"{base}/admin/routers/{alpha.router_id}/remove")
        kept = await http.post(f"{base}/admin/routers/{alpha.router_id}/remove", data={"csrf": csrf})
        not_selling = await http.get(base, params=wifi_page)
        session = await http.get(f"{base}/admin/sessions/{alpha.session_id}")
    assert "Alpha hour" in selling.text
    assert "alpha-router has history" in asked.text and "kept for the books" in asked.text
    assert "1 customer is online through alpha-router now: they keep their time until it ends" in asked.text
    assert "kept for the books" in kept.text and "alpha-router" not in kept.text.split("<table")[1]
    assert not_selling.status_code == 404 and "Alpha hour" not in not_selling.text
    assert "alpha-router" in session.text  # the books name it still
    state = await value(store, "SELECT state FROM access_sessions WHERE id = ?", (alpha.session_id,))
    assert state == "active"  # the customer keeps their time


async def test_disabling_an_account_asks_first_and_its_routers_pay_into_the_next_one(
    settings, clock, vault, store, alpha
):
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, alpha.owner)).text)
        await http.post(f"{base}/admin/mpesa/new", data={**ACCOUNT, "csrf": csrf})
        asked = await http.get(f"{base}/admin/mpesa/{alpha.account_id}/disable")
        named_when_asked = await value(
            store, "SELECT mpesa_account_id FROM routers WHERE id = ?", (alpha.router_id,)
        )
        disabled = await http.post(f"{base}/admin/mpesa/{alpha.account_id}/disable", data={"csrf": csrf})
        enabled = await http.post(f"{base}/admin/mpesa/{alpha.account_id}/enable", data={"csrf": csrf})
    assert "New payments stop going to alpha-paybill" in asked.text
    assert "alpha-router take payments through Shop till from now on." in asked.text
    assert named_when_asked == alpha.account_id
    assert "Disabled." in disabled.text
    assert "Enabled" in enabled.text
    assert await value(store, "SELECT mpesa_account_id FROM routers WHERE id = ?", (alpha.router_id,)) is None
    assert (
        await value(store, "SELECT disabled_at FROM mpesa_accounts WHERE id = ?", (alpha.account_id,)) is None
    )


async def test_staff_check_a_routers_connection_but_change_nothing_of_it(
    settings, clock, vault, store, alpha, emulator
):
    await on_emulator(store, vault, alpha.router_id, emulator.port)
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, alpha.staff)).text)
        listed = await http.get(f"{base}/admin/routers")
        checked = await http.post(f"{base}/admin/routers/{alpha.router_id}/check", data={"csrf": csrf})
        disabling = await http.post(f"{base}/admin/routers/{alpha.router_id}/disable", data={"csrf": csrf})
    assert "Check connection" in listed.text
    assert "/edit" not in listed.text and "/remove" not in listed.text and "/disable" not in listed.text
    assert checked.status_code == 200 and "alpha-router answers" in checked.text
    assert disabling.status_code == 403
    assert await value(store, "SELECT disabled_at FROM routers WHERE id = ?", (alpha.router_id,)) is None
