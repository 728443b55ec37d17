"""Packages and vouchers in the admin: forms, router tasks, ordering, batches, the printable sheet."""

import json
import re

import pytest

from portal.app import create_app
from portal.vault import fingerprint
from portal.vouchers import ALPHABET, normalize_code
from tests.conftest import serving
from tests.seed import insert, seed_tenant
from tests.web.conftest import browser, csrf_of, sign_in

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
async def alpha(db, clock, vault):
    seeded = await seed_tenant(db, clock, vault, "alpha")
    async with db.transaction() as tx:  # a second router: profile changes must reach both
        await insert(
            tx,
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


async def sync_tasks(db) -> list[tuple]:
    rows = await db.fetchall("SELECT router_id, kind, state FROM router_tasks ORDER BY id")
    return [tuple(row) for row in rows]


async def test_creating_a_package_queues_a_profile_sync_on_every_router(settings, clock, vault, db, alpha):
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, alpha.owner)).text)
        response = await http.post(f"{base}/admin/packages/new", data={**PACKAGE, "csrf": csrf})
    assert response.status_code == 200
    assert response.url.path == "/admin/packages"
    assert "Evening" in response.text and "KES 1,500" in response.text and "2 GB" in response.text
    row = await db.fetchone("SELECT * FROM packages WHERE name = 'Evening'")
    assert (row["tenant_id"], row["price"], row["duration_seconds"]) == (alpha.tenant_id, 1500, 6 * 3600)
    assert (row["rate_limit"], row["data_cap_bytes"], row["position"]) == ("1M/3M", 2 * 10**9, 1)
    routers = {
        r[0] for r in await db.fetchall("SELECT id FROM routers WHERE tenant_id = ?", (alpha.tenant_id,))
    }
    assert await sync_tasks(db) == [(router, "sync_profiles", "queued") for router in sorted(routers)]
    audit = await db.fetchone("SELECT * FROM audit_events WHERE action = 'package_created'")
    assert (audit["actor"], audit["tenant_id"]) == (alpha.owner, alpha.tenant_id)


async def test_a_package_form_with_mistakes_explains_them_and_keeps_what_was_typed(
    settings, clock, vault, db, alpha
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
    assert await db.fetchval("SELECT count(*) FROM packages") == 1
    assert await sync_tasks(db) == []


async def test_editing_a_package_records_what_changed_and_syncs_the_routers(
    settings, clock, vault, db, alpha
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
        assert await sync_tasks(db) == []  # nothing changed, nothing to tell the routers
        changed = await http.post(f"{base}/admin/packages/{alpha.package_id}/edit", data=fields)
    assert unchanged.status_code == changed.status_code == 200
    assert await db.fetchval("SELECT price FROM packages WHERE id = ?", (alpha.package_id,)) == 35
    assert len(await sync_tasks(db)) == 2
    detail = await db.fetchval("SELECT detail FROM audit_events WHERE action = 'package_changed'")
    assert json.loads(detail) == {"price": [30, 35]}


async def test_packages_can_be_hidden_and_reordered(settings, clock, vault, db, alpha):
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, alpha.owner)).text)
        await http.post(f"{base}/admin/packages/new", data={**PACKAGE, "csrf": csrf})
        second = await db.fetchval("SELECT id FROM packages WHERE name = 'Evening'")
        await http.post(f"{base}/admin/packages/{second}/move", data={"csrf": csrf, "direction": "up"})
        await http.post(
            f"{base}/admin/packages/{second}/move", data={"csrf": csrf, "direction": "up"}
        )  # at the top
        hidden = await http.post(
            f"{base}/admin/packages/{alpha.package_id}/hide", data={"csrf": csrf, "hidden": "1"}
        )
        vouchers_page = await http.get(f"{base}/admin/vouchers")
    order = [row[0] for row in await db.fetchall("SELECT name FROM packages ORDER BY position")]
    assert order == ["Evening", "Alpha hour"]
    assert hidden.text.index("Evening") < hidden.text.index("Alpha hour")
    assert await db.fetchval("SELECT hidden FROM packages WHERE id = ?", (alpha.package_id,)) == 1
    assert "Alpha hour" not in vouchers_page.text  # no new vouchers for a package that is not sold
    actions = [row[0] for row in await db.fetchall("SELECT action FROM audit_events")]
    assert "package_hidden" in actions and "package_moved" in actions


async def test_a_voucher_batch_is_stored_as_fingerprints_and_ciphertext(settings, clock, vault, db, alpha):
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
    rows = await db.fetchall("SELECT * FROM vouchers WHERE batch = ?", (batch,))
    assert {row["code_hash"] for row in rows} == {fingerprint(normalize_code(code)) for code in codes}
    assert {vault.decrypt(row["code_enc"]) for row in rows} == {normalize_code(code) for code in codes}
    assert all(row["state"] == "unused" and row["package_id"] == alpha.package_id for row in rows)
    assert sheet.text.count('class="ticket"') == 30
    assert "@page{size:A4" in sheet.text
    assert all(code in sheet.text for code in codes)


async def test_voiding_a_batch_voids_only_its_unused_vouchers(settings, clock, vault, db, alpha):
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, alpha.owner)).text)
        made = await http.post(
            f"{base}/admin/vouchers", data={"csrf": csrf, "package_id": alpha.package_id, "count": "3"}
        )
        batch = made.url.path.rsplit("/", 1)[1]
        first = await db.fetchval("SELECT min(id) FROM vouchers")
        async with db.transaction() as tx:
            await tx.execute(
                "UPDATE vouchers SET state = 'used', used_at = created_at WHERE id = ?", (first,)
            )
        voided = await http.post(f"{base}/admin/vouchers/{batch}/void", data={"csrf": csrf})
        sheet = await http.get(f"{base}/admin/vouchers/{batch}/print")
        listing = await http.get(f"{base}/admin/vouchers")
    assert "Unused vouchers in this batch are void." in voided.text
    states = [row[0] for row in await db.fetchall("SELECT state FROM vouchers ORDER BY id")]
    assert states == ["used", "void", "void"]
    assert sheet.text.count('class="ticket"') == 0
    assert re.search(
        rf"{batch}</code></a></td>.*?"
        r'<td class="num">0</td><td class="num">1</td><td class="num">2</td>',
        listing.text,
        re.S,
    )
    assert json.loads(
        await db.fetchval("SELECT detail FROM audit_events WHERE action = 'vouchers_voided'")
    ) == {"count": 2}


async def test_voucher_batch_size_is_bounded(settings, clock, vault, db, alpha):
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
    assert await db.fetchval("SELECT count(*) FROM vouchers") == 0
