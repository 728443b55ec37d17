"""Every admin error is a page in the admin's layout, in plain words, with a way back; what failed on our
side is logged under the reference the page shows."""

import logging
import re

import pytest

from portal.app import create_app
from portal.web.admin import payments
from tests.conftest import serving
from tests.seed import seed_tenant
from tests.web.admin.client import browser, csrf_of, sign_in


@pytest.fixture
async def alpha(store, clock, vault):
    return await seed_tenant(store, clock, vault, "alpha")


def assert_admin_page(response, status: int, heading: str, words: str) -> None:
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert "Content-Security-Policy" in response.headers
    assert f"<h1>{heading}</h1>" in response.text
    assert words in response.text
    assert '<a href="/admin">Back to the dashboard</a>' in response.text


@pytest.mark.parametrize(
    ("method", "path", "status", "heading", "words"),
    [
        ("GET", "/admin/payments/abc", 404, "Not found", "There is nothing here"),
        ("GET", "/admin/payments/999999", 404, "Not found", "There is nothing here"),
        ("GET", "/admin/no-such-page", 404, "Not found", "There is nothing here"),
        ("DELETE", "/admin/payments", 405, "Not possible here", "use the page&#39;s own buttons and links"),
    ],
)
async def test_an_admin_error_is_a_page_with_a_way_back(
    settings, clock, vault, alpha, method, path, status, heading, words
):
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        await sign_in(http, base, alpha.owner)
        response = await http.request(method, base + path)
    assert_admin_page(response, status, heading, words)


async def test_a_staff_refusal_is_a_page_with_a_way_back(settings, clock, vault, alpha):
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        page = await sign_in(http, base, alpha.staff)
        response = await http.post(
            f"{base}/admin/payments/{alpha.paid_payment_id}/reverse", data={"csrf": csrf_of(page.text)}
        )
    assert_admin_page(response, 403, "Not allowed", "Staff accounts can look at everything")


async def test_an_unknown_page_outside_the_admin_keeps_its_usual_answer(settings, clock, vault, http):
    async with serving(create_app(settings, clock=clock, vault=vault)) as base:
        response = await http.get(f"{base}/no-such-page")
    assert response.status_code == 404
    assert response.json() == {"status_code": 404, "detail": "Not Found"}


async def test_a_failure_on_our_side_is_a_page_whose_reference_the_log_line_carries(
    settings, clock, vault, alpha, caplog, monkeypatch
):
    def broken(*_):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(payments, "_payment_page", broken)
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        await sign_in(http, base, alpha.owner)
        with caplog.at_level(logging.ERROR, logger="portal.web.errors"):
            response = await http.get(f"{base}/admin/payments/{alpha.paid_payment_id}")
    assert_admin_page(response, 500, "Something went wrong", "nothing was changed by this page")
    assert "the disk is full" not in response.text
    reference = re.search(r"quote this reference: ([0-9a-f]{8})", response.text).group(1)
    [record] = [r for r in caplog.records if r.getMessage() == "request failed"]
    assert record.fields == {"reference": reference, "method": "GET", "route": "/admin/payments/{payment_id}"}
    assert "the disk is full" in str(record.exc_info[1])
