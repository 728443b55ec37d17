"""Signing in to the admin: sessions, cookies, CSRF, lock-out, throttling, roles, restarts."""

import html
import re
from dataclasses import replace
from datetime import timedelta
from ipaddress import ip_network

import pytest

from portal import settings as config
from portal.app import create_app
from portal.clock import to_text
from portal.store.sqlite import SQLiteStore
from portal.tenancy import admins
from portal.tenancy.admins import LOCKOUT, MAX_FAILURES, UNKNOWN_EMAIL
from portal.tenancy.passwords import verify_password
from portal.web.admin.auth import SIGN_IN_REFUSED
from tests.conftest import rows, serving, value
from tests.seed import PASSWORD, seed_tenant
from tests.web.admin.client import browser, csrf_of, sign_in


@pytest.fixture
async def alpha(store, clock, vault):
    return await seed_tenant(store, clock, vault, "alpha")


def app_for(settings, clock, vault):
    return create_app(settings, clock=clock, vault=vault)


async def audit_actions(store) -> list[str]:
    return [row["action"] for row in await rows(store, "SELECT action FROM audit_events ORDER BY id")]


async def test_sign_in_sets_a_private_session_cookie_and_opens_the_dashboard(
    settings, clock, vault, store, alpha
):
    async with serving(app_for(settings, clock, vault)) as base, browser() as http:
        response = await sign_in(http, base, alpha.owner)
        assert response.status_code == 200
        assert response.url.path == "/admin"
        assert "Earnings per day" in response.text
        posted = next(r for r in response.history if r.request.method == "POST")
        cookie = next(c for c in posted.headers.get_list("set-cookie") if c.startswith("portal_admin="))
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/admin" in cookie
    assert "Secure" not in cookie  # plain HTTP on the LAN: a Secure cookie would never come back
    stored = await value(store, "SELECT token_hash FROM admin_sessions")
    assert stored not in cookie  # only the fingerprint is stored
    assert await audit_actions(store) == ["sign_in"]


@pytest.mark.parametrize(
    ("trusted", "forwarded_proto", "secure"),
    [
        (True, "https", True),  # HTTPS ended at a trusted proxy on this box
        (True, "http", False),
        (False, "https", False),  # anyone can write the header: only a trusted proxy is believed
    ],
)
async def test_cookies_are_secure_and_hsts_sent_exactly_when_the_browser_came_over_https(
    tmp_path, clock, vault, trusted, forwarded_proto, secure
):
    server = {"public_url": "https://wifi.example.co.ke"}  # the callbacks' address says nothing about this
    server |= {"trusted_proxies": ["127.0.0.1"]} if trusted else {}
    settings = config.from_mapping(
        {"store": {"data_dir": str(tmp_path)}, "server": server}, environ={}, source="test"
    )
    async with serving(app_for(settings, clock, vault)) as base, browser() as http:
        store = await SQLiteStore.open(settings.database_path)
        try:
            seeded = await seed_tenant(store, clock, vault, "alpha")
        finally:
            await store.close()
        http.headers["X-Forwarded-Proto"] = forwarded_proto
        form = await http.get(f"{base}/admin/login")
        # A browser sends a Secure cookie over HTTPS only, as it came here; the test hands it back itself.
        http.cookies.set(
            "portal_login", form.cookies["portal_login"], domain="127.0.0.1", path="/admin/login"
        )
        response = await http.post(
            f"{base}/admin/login",
            data={"email": seeded.owner, "password": PASSWORD, "csrf": csrf_of(form.text)},
            follow_redirects=False,
        )
    assert response.status_code == 303
    for answer in (form, response):
        assert ("Secure" in answer.headers["set-cookie"]) is secure
        assert answer.headers.get("strict-transport-security") == ("max-age=31536000" if secure else None)


def refusal(page) -> tuple[int, str]:
    found = re.search(r'<p class="error-box" role="alert">(.*?)</p>', page.text)
    return page.status_code, found.group(1) if found else ""


async def test_wrong_password_is_refused_with_the_same_words_as_an_unknown_email(
    settings, clock, vault, store, alpha
):
    async with serving(app_for(settings, clock, vault)) as base, browser() as http:
        wrong = await sign_in(http, base, alpha.owner, "not the password")
        unknown = await sign_in(http, base, "nobody@alpha.example", PASSWORD)
        dashboard = await http.get(f"{base}/admin", follow_redirects=False)
    assert refusal(wrong) == refusal(unknown)
    assert refusal(wrong) == (401, html.escape(SIGN_IN_REFUSED))
    assert "Wrong email or password." in wrong.text
    assert dashboard.status_code == 303
    assert await audit_actions(store) == ["sign_in_failed"] * 2


async def test_a_failed_sign_in_audits_what_was_typed_only_when_it_is_an_admins_email(
    settings, clock, vault, store, alpha
):
    typed_passwords = ["hunter2@home", PASSWORD, "nobody@alpha.example"]  # one of them an email, even
    async with serving(app_for(settings, clock, vault)) as base, browser() as http:
        await sign_in(http, base, alpha.owner, "not the password")
        for typed in typed_passwords:
            await sign_in(http, base, typed, typed)
    events = [dict(row) for row in await rows(store, "SELECT * FROM audit_events ORDER BY id")]
    assert [event["actor"] for event in events] == [alpha.owner] + [UNKNOWN_EMAIL] * 3
    assert not any(typed in repr(events) for typed in typed_passwords)


def behind_a_proxy(settings):
    """The admin behind a proxy on loopback, so each test request can come from an address of its own."""
    return replace(settings, server=replace(settings.server, trusted_proxies=(ip_network("127.0.0.1/32"),)))


async def sign_in_from(http, base, address: str, email: str, password: str):
    http.headers["X-Forwarded-For"] = address
    return await sign_in(http, base, email, password)


async def test_failures_slow_an_account_down_at_that_address_only_and_never_lock_its_owner_out(
    settings, clock, vault, store, alpha, monkeypatch
):
    checked = []  # every password hash checked: a refusal that skipped it would answer sooner
    monkeypatch.setattr(admins, "verify_password", lambda *args: checked.append(1) or verify_password(*args))
    async with serving(app_for(behind_a_proxy(settings), clock, vault)) as base, browser() as http:
        attacker = "203.0.113.9"
        known = [refusal(await sign_in_from(http, base, attacker, alpha.owner, "guess")) for _ in range(3)]
        slowed = await sign_in_from(http, base, attacker, alpha.owner, PASSWORD)  # even the right one
        clock.advance(seconds=2)
        once_more = refusal(await sign_in_from(http, base, attacker, alpha.owner, "guess"))
        slower = await sign_in_from(http, base, attacker, alpha.owner, "guess")
        # Meanwhile the owner, from the office, signs in at once.
        async with browser() as office:
            owner = await sign_in_from(office, base, "192.168.88.10", alpha.owner, PASSWORD)
        clock.advance(seconds=4)
        unknown = [
            refusal(await sign_in_from(http, base, "198.51.100.7", "x@y.example", "g")) for _ in range(3)
        ]
        unknown_slowed = await sign_in_from(http, base, "198.51.100.7", "x@y.example", "g")
        patient = await sign_in_from(http, base, attacker, alpha.owner, PASSWORD)
    assert known == unknown == [(401, html.escape(SIGN_IN_REFUSED))] * 3 and once_more == known[0]
    assert refusal(slowed) == (429, "Too many failed sign-ins from here. Wait 2 seconds and try again.")
    assert refusal(slower) == (429, "Too many failed sign-ins from here. Wait 4 seconds and try again.")
    assert refusal(unknown_slowed) == (
        429,
        "Too many failed sign-ins from here. Wait 2 seconds and try again.",
    )
    assert owner.url.path == patient.url.path == "/admin"
    assert len(checked) == 4 + 1 + 3 + 1  # a slowed try checks no password: it is refused before
    assert "account_locked" not in await audit_actions(store)


async def test_an_address_with_many_failures_is_slowed_down_whatever_the_account(
    settings, clock, vault, store, alpha
):
    async with serving(app_for(behind_a_proxy(settings), clock, vault)) as base, browser() as http:
        spread = [
            (await sign_in_from(http, base, "203.0.113.9", f"guess{n}@example.com", "x")).status_code
            for n in range(admins.FREE_PER_ADDRESS)
        ]
        slowed = await sign_in_from(http, base, "203.0.113.9", alpha.owner, PASSWORD)
        async with browser() as office:
            elsewhere = await sign_in_from(office, base, "192.168.88.10", alpha.owner, PASSWORD)
        clock.advance(seconds=2)
        waited = await sign_in_from(http, base, "203.0.113.9", alpha.owner, PASSWORD)
    assert spread == [401] * admins.FREE_PER_ADDRESS
    assert refusal(slowed)[0] == 429
    assert elsewhere.url.path == waited.url.path == "/admin"


async def test_the_owner_signs_in_at_once_after_an_attackers_100_wrong_guesses_from_another_address(
    settings, clock, vault, store, alpha
):
    attacker = "203.0.113.9"
    async with serving(app_for(behind_a_proxy(settings), clock, vault)) as base, browser() as http:
        guesses = []
        for n in range(100):
            guesses.append((await sign_in_from(http, base, attacker, alpha.owner, f"guess {n}")).status_code)
            clock.advance(admins.LONGEST_WAIT.total_seconds())  # the attacker waits out every slowdown
        clock.advance(seconds=-1)
        still_slowed = await sign_in_from(http, base, attacker, alpha.owner, PASSWORD)
        async with browser() as office:
            owner = await sign_in_from(office, base, "192.168.88.10", alpha.owner, PASSWORD)
    assert guesses == [401] * 100  # every guess was really tried, none refused for a lock
    assert refusal(still_slowed) == (429, "Too many failed sign-ins from here. Wait 1 second and try again.")
    assert owner.url.path == "/admin"
    actions = await audit_actions(store)
    assert actions.count("sign_in_failed") == 100
    assert "account_locked" not in actions


async def test_each_failure_past_the_free_ones_doubles_the_wait_at_the_guessing_address_up_to_15_minutes(
    settings, clock, vault, store, alpha
):
    attacker = "203.0.113.9"
    async with serving(app_for(behind_a_proxy(settings), clock, vault)) as base, browser() as http:
        for _ in range(admins.FREE_PER_ACCOUNT):
            await sign_in_from(http, base, attacker, alpha.owner, "guess")
        waits = []
        for n in range(11):
            slowed = await sign_in_from(http, base, attacker, alpha.owner, "guess")
            waits.append(re.search(r"Wait (.*) and try again", refusal(slowed)[1]).group(1))
            wait = min(admins.FIRST_WAIT * 2**n, admins.LONGEST_WAIT)
            clock.advance((wait - timedelta(seconds=1)).total_seconds())
            assert refusal(await sign_in_from(http, base, attacker, alpha.owner, "guess"))[0] == 429
            clock.advance(seconds=1)
            assert refusal(await sign_in_from(http, base, attacker, alpha.owner, "guess"))[0] == 401
    assert waits == [
        "2 seconds", "4 seconds", "8 seconds", "16 seconds", "32 seconds", "64 seconds",
        "3 minutes", "5 minutes", "9 minutes", "15 minutes", "15 minutes",
    ]  # fmt: skip


async def test_sign_in_form_posted_without_its_token_is_rejected(settings, clock, vault, store, alpha):
    async with serving(app_for(settings, clock, vault)) as base, browser() as http:
        forged = await http.post(f"{base}/admin/login", data={"email": alpha.owner, "password": PASSWORD})
        await http.get(f"{base}/admin/login")
        wrong_token = await http.post(
            f"{base}/admin/login", data={"email": alpha.owner, "password": PASSWORD, "csrf": "forged"}
        )
    assert forged.status_code == 403
    assert "cookie" in forged.text
    assert wrong_token.status_code == 403
    assert "came from another site" in wrong_token.text
    assert await value(store, "SELECT count(*) FROM admin_sessions") == 0


async def test_a_post_without_the_session_csrf_token_is_rejected_and_changes_nothing(
    settings, clock, vault, store, alpha
):
    async with serving(app_for(settings, clock, vault)) as base, browser() as http:
        await sign_in(http, base, alpha.owner)
        data = {"current": PASSWORD, "new": "a brand new password", "again": "a brand new password"}
        missing = await http.post(f"{base}/admin/account/password", data=data)
        wrong = await http.post(f"{base}/admin/account/password", data={**data, "csrf": "x" * 43})
        signed_out = await http.post(f"{base}/admin/logout")
        still_in = await http.get(f"{base}/admin")
    assert missing.status_code == wrong.status_code == signed_out.status_code == 403
    assert "came from another site" in missing.text
    assert still_in.status_code == 200
    assert still_in.url.path == "/admin"
    stored = await value(store, "SELECT password_hash FROM admin_users WHERE email = ?", (alpha.owner,))
    assert verify_password(PASSWORD, stored)


async def test_session_survives_a_restart(settings, clock, vault, alpha):
    async with serving(app_for(settings, clock, vault)) as base, browser() as http:
        await sign_in(http, base, alpha.owner)
        cookie = http.cookies["portal_admin"]
    # A new process on the same database: nothing was kept in memory.
    async with serving(app_for(settings, clock, vault)) as base, browser() as http:
        http.cookies.set("portal_admin", cookie, domain="127.0.0.1", path="/admin")
        response = await http.get(f"{base}/admin", follow_redirects=False)
    assert response.status_code == 200
    assert "Earnings per day" in response.text


async def test_session_ends_after_its_lifetime(settings, clock, vault, alpha):
    async with serving(app_for(settings, clock, vault)) as base, browser() as http:
        await sign_in(http, base, alpha.owner)
        clock.advance(days=7, seconds=1)
        response = await http.get(f"{base}/admin", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/login"


async def test_sign_out_ends_the_session_even_for_a_copied_cookie(settings, clock, vault, store, alpha):
    async with serving(app_for(settings, clock, vault)) as base, browser() as http:
        page = await sign_in(http, base, alpha.owner)
        cookie = http.cookies["portal_admin"]
        out = await http.post(f"{base}/admin/logout", data={"csrf": csrf_of(page.text)})
        assert out.url.path == "/admin/login"
        http.cookies.set("portal_admin", cookie, domain="127.0.0.1", path="/admin")
        replay = await http.get(f"{base}/admin", follow_redirects=False)
    assert replay.status_code == 303
    assert await value(store, "SELECT count(*) FROM admin_sessions") == 0
    assert (await audit_actions(store))[-1] == "sign_out"


async def test_changing_the_password_signs_out_other_devices(settings, clock, vault, store, alpha):
    new = "a brand new password"
    async with serving(app_for(settings, clock, vault)) as base, browser() as phone, browser() as laptop:
        await sign_in(phone, base, alpha.owner)
        page = await sign_in(laptop, base, alpha.owner)
        short = await laptop.post(
            f"{base}/admin/account/password",
            data={"csrf": csrf_of(page.text), "current": PASSWORD, "new": "short", "again": "short"},
        )
        assert short.status_code == 400
        assert "at least 10 characters" in short.text
        changed = await laptop.post(
            f"{base}/admin/account/password",
            data={"csrf": csrf_of(page.text), "current": PASSWORD, "new": new, "again": new},
        )
        assert changed.status_code == 200
        assert "Password changed" in changed.text
        assert (await laptop.get(f"{base}/admin")).url.path == "/admin"  # this device got a new session
        assert (await phone.get(f"{base}/admin")).url.path == "/admin/login"
        assert (await sign_in(phone, base, alpha.owner, new)).url.path == "/admin"
    assert "password_changed" in await audit_actions(store)


async def test_wrong_current_passwords_lock_the_account_and_end_its_sessions(
    settings, clock, vault, store, alpha
):
    """A stolen session can't find the password behind it by guessing it on the change password form."""
    new = "a brand new password"
    async with serving(app_for(settings, clock, vault)) as base, browser() as thief, browser() as owner:
        csrf = csrf_of((await sign_in(thief, base, alpha.owner)).text)
        await sign_in(owner, base, alpha.owner)

        async def guess(current: str):
            data = {"csrf": csrf, "current": current, "new": new, "again": new}
            return await thief.post(f"{base}/admin/account/password", data=data)

        wrong = [await guess(f"guess {n}") for n in range(MAX_FAILURES)]
        right = await guess(PASSWORD)
        owner_page = await owner.get(f"{base}/admin")
        signing_in = await sign_in(owner, base, alpha.owner)
        clock.advance(LOCKOUT.total_seconds())
        opened = await sign_in(owner, base, alpha.owner)
    assert [page.status_code for page in wrong] == [400] * MAX_FAILURES
    assert all("The current password is wrong." in page.text for page in wrong[:-1])
    assert "locked for 15 minutes and signed out everywhere" in wrong[-1].text
    assert right.url.path == owner_page.url.path == "/admin/login"  # both sessions ended
    assert signing_in.status_code == 401
    assert opened.url.path == "/admin"
    stored = await value(store, "SELECT password_hash FROM admin_users WHERE email = ?", (alpha.owner,))
    assert verify_password(PASSWORD, stored)
    failures = await rows(
        store, "SELECT actor, at, source_ip FROM audit_events WHERE action = 'password_change_failed'"
    )
    assert [tuple(row) for row in failures] == [
        (alpha.owner, to_text(clock.now() - LOCKOUT), "127.0.0.1")
    ] * 5
    assert (await audit_actions(store)).count("account_locked") == 1


async def test_a_page_asked_for_before_signing_in_opens_after_signing_in(settings, clock, vault, alpha):
    async with serving(app_for(settings, clock, vault)) as base, browser() as http:
        login = await http.get(f"{base}/admin/payments?state=paid")
        assert login.url.path == "/admin/login"
        response = await http.post(
            f"{base}/admin/login",
            data={
                "email": alpha.owner,
                "password": PASSWORD,
                "csrf": csrf_of(login.text),
                "next": "/admin/payments?state=paid",
            },
        )
        assert response.url.path == "/admin/payments"
        assert response.url.query == b"state=paid"


async def test_sign_in_never_redirects_to_another_site(settings, clock, vault, alpha):
    async with serving(app_for(settings, clock, vault)) as base, browser() as http:
        form = await http.get(f"{base}/admin/login")
        response = await http.post(
            f"{base}/admin/login",
            data={
                "email": alpha.owner,
                "password": PASSWORD,
                "csrf": csrf_of(form.text),
                "next": "//evil.example/admin",
            },
            follow_redirects=False,
        )
    assert response.headers["location"] == "/admin"


async def test_admin_pages_are_not_cached_and_load_nothing_from_elsewhere(settings, clock, vault, alpha):
    async with serving(app_for(settings, clock, vault)) as base, browser() as http:
        page = await sign_in(http, base, alpha.owner)
    assert page.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "http://" not in page.text.replace(base, "")
    assert "https://" not in page.text


async def test_a_sign_in_token_counts_only_with_the_pre_session_this_server_gave_it(
    settings, clock, vault, store, alpha
):
    async with serving(app_for(settings, clock, vault)) as base, browser() as http:
        # An attacker who can plant a cookie plants a pair that agrees: it proves nothing.
        http.cookies.set("portal_login", "planted", domain="127.0.0.1", path="/admin/login")
        planted = await http.post(
            f"{base}/admin/login", data={"email": alpha.owner, "password": PASSWORD, "csrf": "planted"}
        )
        # Nor does a real token under another form's cookie.
        mine = await http.get(f"{base}/admin/login")
        await http.get(f"{base}/admin/login")
        swapped = await http.post(
            f"{base}/admin/login",
            data={"email": alpha.owner, "password": PASSWORD, "csrf": csrf_of(mine.text)},
        )
        clock.advance(hours=2)
        fresh = await http.get(f"{base}/admin/login")
        clock.advance(hours=2)
        expired = await http.post(
            f"{base}/admin/login",
            data={"email": alpha.owner, "password": PASSWORD, "csrf": csrf_of(fresh.text)},
        )
        signed_in = await sign_in(http, base, alpha.owner)
    assert [planted.status_code, swapped.status_code, expired.status_code] == [403, 403, 403]
    assert signed_in.status_code == 200 and signed_in.url.path == "/admin"
    assert await value(store, "SELECT count(*) FROM admin_sessions") == 1
