"""Packages and vouchers in the admin: forms, router tasks, ordering, batches, the printable sheet."""

import json
import re

import pytest

from portal.app import create_app
from portal.billing.vouchers import ALPHABET, normalize_code
from portal.vault import fingerprint
from tests.conftest import execute, rows, serving, value
from tests.seed import insert, seed_tenant
from tests.web.admin.client import browser, csrf_of, sign_in

PACKAGE = {
    "name": "Evening",
    "price": "1,500",
    "duration": "6",
    "duration_unit": "hours",
    "rate_limit": "1M/3M",
    "data_cap": "2",
    "data_cap_unit": "GB",
}
CODE = re.compile(r'<code class="voucher-code">([A-Z0-9-]+)</code>')


@pytest.fixture
async def alpha(store, clock, vault):
    seeded = await seed_tenant(store, clock, vault, "alpha")
    # A second router: package changes must reach both.
    await store.write(
        insert,
        "routers",
        tenant_id=seeded.tenant_id,
        name="alpha-annex",
        host="10.0.0.2",
        port=8728,
        username="portal",
        password_enc=vault.encrypt("x"),
        created_at="2026-01-01T00:00:00.000000+00:00",
    )
    return seeded


async def sync_tasks(store) -> list[tuple]:
    tasks = await rows(store, "SELECT router_id, kind, state FROM router_tasks ORDER BY id")
    return [tuple(task) for task in tasks]


async def test_creating_a_package_queues_a_plan_update_on_every_router(settings, clock, vault, store, alpha):
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, alpha.owner)).text)
        response = await http.post(f"{base}/admin/packages/new", data={**PACKAGE, "csrf": csrf})
    assert response.status_code == 200
    assert response.url.path == "/admin/packages"
    assert "Evening" in response.text and "KES 1,500" in response.text and "2 GB" in response.text
    [row] = await rows(store, "SELECT * FROM packages WHERE name = 'Evening'")
    assert (row["tenant_id"], row["price"], row["duration_seconds"]) == (alpha.tenant_id, 1500, 6 * 3600)
    assert (row["rate_limit"], row["data_cap_bytes"], row["position"]) == ("1M/3M", 2 * 10**9, 1)
    routers = {
        r[0] for r in await rows(store, "SELECT id FROM routers WHERE tenant_id = ?", (alpha.tenant_id,))
    }
    assert await sync_tasks(store) == [(router, "update_plans", "queued") for router in sorted(routers)]
    [audit] = await rows(store, "SELECT * FROM audit_events WHERE action = 'package_created'")
    assert (audit["actor"], audit["tenant_id"]) == (alpha.owner, alpha.tenant_id)


async def test_a_package_form_with_mistakes_explains_them_and_keeps_what_was_typed(
    settings, clock, vault, store, alpha
):
    typed = {**PACKAGE, "name": "", "price": "0", "duration": "1.5", "rate_limit": "fast", "data_cap": "-3"}
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, alpha.owner)).text)
        response = await http.post(f"{base}/admin/packages/new", data={**typed, "csrf": csrf})
    assert response.status_code == 400
    for message in (
        "Give the package a name",
        "whole number of shillings",
        "how long it lasts",
        "like 1M/2M",
        "MB or GB",
    ):
        assert message in response.text
    assert 'value="fast"' in response.text
    assert await value(store, "SELECT count(*) FROM packages") == 1
    assert await sync_tasks(store) == []


async def test_editing_a_package_records_what_changed_and_syncs_the_routers(
    settings, clock, vault, store, alpha
):
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        await sign_in(http, base, alpha.owner)
        form = await http.get(f"{base}/admin/packages/{alpha.package_id}/edit")
        assert 'value="Alpha hour"' in form.text
        assert '<option value="hours" selected>' in form.text
        fields = {
            "name": "Alpha hour",
            "price": "35",
            "duration": "1",
            "duration_unit": "hours",
            "rate_limit": "1M/2M",
            "data_cap": "",
            "data_cap_unit": "MB",
            "csrf": csrf_of(form.text),
        }
        unchanged = await http.post(
            f"{base}/admin/packages/{alpha.package_id}/edit", data={**fields, "price": "30"}
        )
        assert await sync_tasks(store) == []  # nothing changed, nothing to tell the routers
        changed = await http.post(f"{base}/admin/packages/{alpha.package_id}/edit", data=fields)
    assert unchanged.status_code == changed.status_code == 200
    assert await value(store, "SELECT price FROM packages WHERE id = ?", (alpha.package_id,)) == 35
    assert len(await sync_tasks(store)) == 2
    detail = await value(store, "SELECT detail FROM audit_events WHERE action = 'package_changed'")
    assert json.loads(detail) == {"price": [30, 35]}


async def test_packages_can_be_disabled_and_reordered(settings, clock, vault, store, alpha):
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, alpha.owner)).text)
        await http.post(f"{base}/admin/packages/new", data={**PACKAGE, "csrf": csrf})
        second = await value(store, "SELECT id FROM packages WHERE name = 'Evening'")
        await http.post(f"{base}/admin/packages/{second}/move", data={"csrf": csrf, "direction": "up"})
        await http.post(
            f"{base}/admin/packages/{second}/move", data={"csrf": csrf, "direction": "up"}
        )  # at the top
        hidden = await http.post(f"{base}/admin/packages/{alpha.package_id}/disable", data={"csrf": csrf})
        vouchers_page = await http.get(f"{base}/admin/vouchers")
    order = [row[0] for row in await rows(store, "SELECT name FROM packages ORDER BY position")]
    assert order == ["Evening", "Alpha hour"]
    assert hidden.text.index("Evening") < hidden.text.index("Alpha hour")
    assert await value(store, "SELECT hidden FROM packages WHERE id = ?", (alpha.package_id,)) == 1
    assert "Alpha hour" not in vouchers_page.text  # no new vouchers for a package that is not sold
    actions = [row[0] for row in await rows(store, "SELECT action FROM audit_events")]
    assert "package_disabled" in actions and "package_moved" in actions


async def test_a_voucher_batch_is_stored_as_fingerprints_and_ciphertext(settings, clock, vault, store, alpha):
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, alpha.owner)).text)
        response = await http.post(
            f"{base}/admin/vouchers", data={"csrf": csrf, "package_id": alpha.package_id, "count": "30"}
        )
        batch = response.url.path.rsplit("/", 1)[1]
        sheet = await http.get(f"{base}/admin/vouchers/{batch}/print")
    assert "Vouchers generated." in response.text
    codes = CODE.findall(response.text)
    assert len(codes) == len(set(codes)) == 30
    assert all(re.fullmatch(f"[{ALPHABET}]{{5}}-[{ALPHABET}]{{5}}", code) for code in codes)
    stored = await rows(store, "SELECT * FROM vouchers WHERE batch = ?", (batch,))
    assert {row["code_hash"] for row in stored} == {fingerprint(normalize_code(code)) for code in codes}
    assert {vault.decrypt(row["code_enc"]) for row in stored} == {normalize_code(code) for code in codes}
    assert all(row["state"] == "unused" and row["package_id"] == alpha.package_id for row in stored)
    assert sheet.text.count('class="ticket"') == 30
    assert "@page{size:A4" in sheet.text
    assert all(code in sheet.text for code in codes)


async def test_voiding_a_batch_voids_only_its_unused_vouchers(settings, clock, vault, store, alpha):
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, alpha.owner)).text)
        made = await http.post(
            f"{base}/admin/vouchers", data={"csrf": csrf, "package_id": alpha.package_id, "count": "3"}
        )
        batch = made.url.path.rsplit("/", 1)[1]
        first = await value(store, "SELECT min(id) FROM vouchers")
        await execute(
            store, "UPDATE vouchers SET state = 'used', used_at = created_at WHERE id = ?", (first,)
        )
        voided = await http.post(f"{base}/admin/vouchers/{batch}/void", data={"csrf": csrf})
        sheet = await http.get(f"{base}/admin/vouchers/{batch}/print")
        listing = await http.get(f"{base}/admin/vouchers")
    assert "Unused vouchers in this batch are void." in voided.text
    states = [row[0] for row in await rows(store, "SELECT state FROM vouchers ORDER BY id")]
    assert states == ["used", "void", "void"]
    assert sheet.text.count('class="ticket"') == 0
    assert re.search(
        rf"{batch}</code></a></td>.*?"
        r'<td class="num">0</td><td class="num">1</td><td class="num">2</td>',
        listing.text,
        re.S,
    )
    assert json.loads(
        await value(store, "SELECT detail FROM audit_events WHERE action = 'vouchers_voided'")
    ) == {"count": 2}


async def test_voucher_batch_size_is_bounded(settings, clock, vault, store, alpha):
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, alpha.owner)).text)
        too_many = await http.post(
            f"{base}/admin/vouchers", data={"csrf": csrf, "package_id": alpha.package_id, "count": "501"}
        )
        no_package = await http.post(f"{base}/admin/vouchers", data={"csrf": csrf, "count": "5"})
        unknown_batch = await http.get(f"{base}/admin/vouchers/not-a-batch")
    assert too_many.status_code == no_package.status_code == 400
    assert "Make 1 to 500 vouchers at a time." in too_many.text
    assert "Pick a package." in no_package.text
    assert unknown_batch.status_code == 404
    assert await value(store, "SELECT count(*) FROM vouchers") == 0


async def test_a_batch_sells_at_the_price_asked_and_the_owner_marks_it_sold_once(
    settings, clock, vault, store, alpha
):
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, alpha.owner)).text)

        async def generate(**fields):
            data = {"csrf": csrf, "package_id": alpha.package_id, "count": "2"}
            return await http.post(f"{base}/admin/vouchers", data=data | fields)

        at_package_price = await generate(price="")
        free = await generate(price="0")
        bad = await generate(price="-5")
        dear = await generate(price="1,000")
        batch = dear.url.path.rsplit("/", 1)[1]
        sold = await http.post(f"{base}/admin/vouchers/{batch}/sold", data={"csrf": csrf})
        again = await http.post(f"{base}/admin/vouchers/{batch}/sold", data={"csrf": csrf})
        listing = await http.get(f"{base}/admin/vouchers")
    assert 'id="voucher-price">KES 30<' in at_package_price.text  # the package's price
    assert 'id="voucher-price">free<' in free.text and "as sold</button>" not in free.text  # nothing to sell
    assert bad.status_code == 400 and "from 0 (free) to 250,000" in bad.text
    assert "Mark the 2 unused as sold</button>" in dear.text
    assert "count as sold now, and not again when they are used" in sold.text
    assert "as sold</button>" not in sold.text and "2 unused ones are marked sold" in sold.text
    assert again.status_code == 200
    prices = await rows(
        store, "SELECT price, count(*), count(sold_at) FROM vouchers GROUP BY batch ORDER BY id"
    )
    assert [tuple(row) for row in prices] == [(30, 2, 0), (0, 2, 0), (1000, 2, 2)]
    events = await rows(
        store, "SELECT action, detail FROM audit_events WHERE action LIKE 'vouchers_%' ORDER BY id"
    )
    assert [(event["action"], json.loads(event["detail"]).get("price")) for event in events] == [
        ("vouchers_generated", 30),
        ("vouchers_generated", 0),
        ("vouchers_generated", 1000),
        ("vouchers_sold", 1000),  # once: the second press found none left unsold
    ]
    assert '<td class="num">KES 1,000</td>' in listing.text


WIFI_PAGE = {"router": "alpha-router", "mac": "AA:BB:CC:DD:EE:01", "ip": "10.5.50.9"}


async def test_a_disabled_package_is_not_offered_on_the_wifi_page_until_enabled_again(
    settings, clock, vault, store, alpha
):
    package = f"/admin/packages/{alpha.package_id}"
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, alpha.owner)).text)
        offered = await http.get(base, params=WIFI_PAGE)
        asked = await http.get(f"{base}{package}/disable")
        still_offered = await http.get(base, params=WIFI_PAGE)
        disabled = await http.post(f"{base}{package}/disable", data={"csrf": csrf})
        not_offered = await http.get(base, params=WIFI_PAGE)
        await http.post(f"{base}{package}/enable", data={"csrf": csrf})
        offered_again = await http.get(base, params=WIFI_PAGE)
    assert "Alpha hour" in offered.text and "Alpha hour" in still_offered.text
    assert "The Wi-Fi page no longer offers Alpha hour" in asked.text
    assert "1 customer is online with it now: they keep their time until it ends." in asked.text
    assert "Disabled. You can enable it again" in disabled.text
    assert "Alpha hour" not in not_offered.text and "No packages are on sale right now" in not_offered.text
    assert "Alpha hour" in offered_again.text
    actions = await rows(
        store, "SELECT action FROM audit_events WHERE target = ?", (f"package:{alpha.package_id}",)
    )
    assert [row[0] for row in actions] == ["package_disabled", "package_enabled"]


async def test_a_package_nobody_bought_is_deleted_and_one_with_history_kept_off_the_list(
    settings, clock, vault, store, alpha
):
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, alpha.owner)).text)
        await http.post(f"{base}/admin/packages/new", data={**PACKAGE, "csrf": csrf})
        unsold = await value(store, "SELECT id FROM packages WHERE name = 'Evening'")
        ask_unsold = await http.get(f"{base}/admin/packages/{unsold}/remove")
        deleted = await http.post(f"{base}/admin/packages/{unsold}/remove", data={"csrf": csrf})
        ask_sold = await http.get(f"{base}/admin/packages/{alpha.package_id}/remove")
        kept = await http.post(f"{base}/admin/packages/{alpha.package_id}/remove", data={"csrf": csrf})
        session = await http.get(f"{base}/admin/sessions/{alpha.session_id}")
    assert "Nothing was ever sold or used through Evening: it is deleted" in ask_unsold.text
    assert deleted.url.path == "/admin/packages" and "Deleted." in deleted.text
    assert await value(store, "SELECT count(*) FROM packages WHERE id = ?", (unsold,)) == 0
    assert "Alpha hour has history (3 payments, sessions, vouchers or receipts name it)" in ask_sold.text
    assert "Kept for the books" in kept.text or "kept for the books" in kept.text
    assert "Alpha hour" not in kept.text.split("<table")[1]  # off the list
    assert "Alpha hour" in session.text  # the books still name it
    [row] = await rows(store, "SELECT hidden, removed_at FROM packages WHERE id = ?", (alpha.package_id,))
    assert row["hidden"] == 1 and row["removed_at"] is not None


async def test_voiding_asks_first_saying_what_happens_and_acts_only_on_confirm(
    settings, clock, vault, store, alpha
):
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, alpha.owner)).text)
        made = await http.post(
            f"{base}/admin/vouchers", data={"csrf": csrf, "package_id": alpha.package_id, "count": "3"}
        )
        batch = made.url.path.rsplit("/", 1)[1]
        asked = await http.get(f"{base}/admin/vouchers/{batch}/void")
        unused_when_asked = await value(store, "SELECT count(*) FROM vouchers WHERE state = 'unused'")
        voided = await http.post(f"{base}/admin/vouchers/{batch}/void", data={"csrf": csrf})
    assert f'href="/admin/vouchers/{batch}/void"' in made.text  # a link to the question, not a form
    assert asked.status_code == 200 and f"Void the 3 unused vouchers of batch {batch}?" in asked.text
    assert "stop working now" in asked.text and "can&#39;t be undone" in asked.text
    assert unused_when_asked == 3
    assert "Unused vouchers in this batch are void." in voided.text
    assert await value(store, "SELECT count(*) FROM vouchers WHERE state = 'void'") == 3


async def test_a_batch_none_of_which_was_used_is_deleted_and_a_used_one_kept_with_its_unused_voided(
    settings, clock, vault, store, alpha
):
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, alpha.owner)).text)
        batches = []
        for _ in range(2):
            made = await http.post(
                f"{base}/admin/vouchers", data={"csrf": csrf, "package_id": alpha.package_id, "count": "2"}
            )
            batches.append(made.url.path.rsplit("/", 1)[1])
        unused, used = batches
        await execute(
            store,
            "UPDATE vouchers SET state = 'used', used_at = created_at WHERE id = ("
            "SELECT min(id) FROM vouchers WHERE batch = ?)",
            (used,),
        )
        ask_unused = await http.get(f"{base}/admin/vouchers/{unused}/remove")
        await http.post(f"{base}/admin/vouchers/{unused}/remove", data={"csrf": csrf})
        ask_used = await http.get(f"{base}/admin/vouchers/{used}/remove")
        kept = await http.post(f"{base}/admin/vouchers/{used}/remove", data={"csrf": csrf})
    assert "None of its 2 vouchers was used or sold: the batch is deleted" in ask_unused.text
    assert "1 of its vouchers were used or sold, so the batch is not deleted" in ask_used.text
    assert "Its 1 unused vouchers are voided now" in ask_used.text
    assert unused not in kept.text and used not in kept.text  # neither is listed
    states = await rows(store, "SELECT batch, state, removed_at IS NOT NULL FROM vouchers ORDER BY id")
    assert [tuple(row) for row in states] == [(used, "used", 1), (used, "void", 1)]


async def test_staff_make_a_batch_at_the_packages_price_print_it_and_mark_it_sold(
    settings, clock, vault, store, alpha
):
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, alpha.staff)).text)
        form = await http.get(f"{base}/admin/vouchers")
        cheaper = await http.post(
            f"{base}/admin/vouchers",
            data={"csrf": csrf, "package_id": alpha.package_id, "count": "2", "price": "0"},
        )
        made = await http.post(
            f"{base}/admin/vouchers", data={"csrf": csrf, "package_id": alpha.package_id, "count": "2"}
        )
        batch = made.url.path.rsplit("/", 1)[1]
        sheet = await http.get(f"{base}/admin/vouchers/{batch}/print")
        sold = await http.post(f"{base}/admin/vouchers/{batch}/sold", data={"csrf": csrf})
    assert 'action="/admin/vouchers"' in form.text and 'name="price"' not in form.text
    assert cheaper.status_code == 403 and "sell at their package&#39;s price" in cheaper.text
    assert len(CODE.findall(made.text)) == 2 and sheet.text.count('class="ticket"') == 2
    assert "count as sold now" in sold.text
    found = await rows(store, "SELECT price, made_by, sold_at IS NOT NULL FROM vouchers")
    assert [tuple(row) for row in found] == [(30, alpha.staff_id, 1)] * 2
    actors = await rows(
        store, "SELECT actor, action FROM audit_events WHERE action LIKE 'vouchers_%' ORDER BY id"
    )
    assert [tuple(row) for row in actors] == [
        (alpha.staff, "vouchers_generated"),
        (alpha.staff, "vouchers_sold"),
    ]


async def test_staff_see_no_unused_codes_of_a_batch_someone_else_made(settings, clock, vault, store, alpha):
    async with (
        serving(create_app(settings, clock=clock, vault=vault)) as base,
        browser() as owner,
        browser() as staff,
    ):
        csrf = csrf_of((await sign_in(owner, base, alpha.owner)).text)
        made = await owner.post(
            f"{base}/admin/vouchers", data={"csrf": csrf, "package_id": alpha.package_id, "count": "2"}
        )
        batch = made.url.path.rsplit("/", 1)[1]
        await sign_in(staff, base, alpha.staff)
        seen = await staff.get(f"{base}/admin/vouchers/{batch}")
        sheet = await staff.get(f"{base}/admin/vouchers/{batch}/print")
    codes = CODE.findall(made.text)
    assert len(codes) == 2
    assert seen.status_code == 200 and not any(code in seen.text for code in codes)
    assert 'id="codes-hidden"' in seen.text and "/print" not in seen.text
    assert sheet.status_code == 403 and not any(code in sheet.text for code in codes)
    assert "for whoever made it, and the owner" in sheet.text
