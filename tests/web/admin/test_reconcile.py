"""The statement check's page: an owner uploads the M-Pesa statement and reads, in words, what is on one
side only; bad files are answered in words; another business's accounts and payments stay out of it."""

import re

import pytest

from portal.app import create_app
from portal.billing.mpesa_statement import MAX_BYTES
from portal.clock import FixedClock
from tests.billing.sample_statement import DAY_AFTER, SAMPLE, eat, seed_sample
from tests.conftest import rows, serving, value
from tests.seed import insert_payment, seed_tenant
from tests.web.admin.client import browser, csrf_of, sign_in


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(DAY_AFTER)


@pytest.fixture
async def shop(store, clock, vault):
    return await store.write(seed_sample, clock, vault)


async def upload(http, base: str, account_id: int, data: bytes, name: str = "statement.csv", **extra):
    csrf = csrf_of((await http.get(f"{base}/admin/reconcile")).text)
    return await http.post(
        f"{base}/admin/reconcile",
        data={"csrf": csrf, "account": str(account_id), **extra},
        files={"statement": (name, data, "text/csv")},
    )


def text_of(html: str) -> str:
    """The page's words, without its markup, as a person reads them."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def total(html: str, kind: str) -> str:
    row = re.search(rf'<tr id="total-{kind}".*?</tr>', html, re.S).group()
    return text_of(row)


async def row_counts(store) -> dict[str, int]:
    tables = [row["name"] for row in await rows(store, "SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {table: await value(store, f"SELECT count(*) FROM {table}") for table in tables}


async def test_an_owner_uploads_the_statement_and_reads_what_each_line_on_one_side_means(
    settings, clock, vault, store, shop
):
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        await sign_in(http, base, shop.seeded.owner)
        assert 'href="/admin/reconcile"' in (await http.get(f"{base}/admin/payments")).text
        before = await row_counts(store)
        response = await upload(http, base, shop.seeded.account_id, SAMPLE.read_bytes())
    assert response.status_code == 200
    page = text_of(response.text)
    assert total(response.text, "matched") == "Matched 3 KES 160"
    assert total(response.text, "never_reached") == "Paid, never reached the portal 4 KES 110"
    assert total(response.text, "missing") == "Wi-Fi sold, missing from M-Pesa 1 KES 30"
    assert total(response.text, "charge") == "M-Pesa charges 1 KES 0.50"
    # The extra receipts, each with the payment it probably is, where there is one.
    assert f'href="/admin/payments/{shop.unknown}"' in response.text
    assert (
        "its account number WiFi0badc0de names this payment (unknown). The customer may be owed access."
        in page
    )
    assert "Probably this payment (expired): the same amount, from the same number, 1 min apart." in page
    assert "Paid by hand to WIFI, one of your words for Wi-Fi, but M-Pesa never told the portal" in page
    assert (
        "TLA0000013 KES 30 2547****0013 - PETER K Paid to this account, but the portal has no record" in page
    )
    # The payment missing from the statement, and the one M-Pesa reversed.
    assert f'href="/admin/payments/{shop.missing}"' in response.text
    assert (
        "The portal counts this payment paid (receipt TLA0000099), but the statement does not list it."
        in page
    )
    assert f'href="/admin/payments/{shop.paid}"' in response.text
    assert "Reversed on M-Pesa but still counted as paid: mark the payment reversed." in page
    # The rent, and the amounts that differ.
    assert "Paid to the account RENT-APT4, not one of your words for Wi-Fi: not Wi-Fi money" in page
    assert "The portal counted KES 30 for this receipt; M-Pesa says KES 50." in page
    assert await row_counts(store) == before  # the statement was read and forgotten


async def test_staff_check_a_statement_too(settings, clock, vault, store, shop):
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        await sign_in(http, base, shop.seeded.staff)
        assert 'href="/admin/reconcile"' in (await http.get(f"{base}/admin")).text  # in the menu
        response = await upload(http, base, shop.seeded.account_id, SAMPLE.read_bytes())
    assert response.status_code == 200
    assert total(response.text, "missing") == "Wi-Fi sold, missing from M-Pesa 1 KES 30"


@pytest.mark.parametrize(
    ("data", "name", "said"),
    [
        (
            b"%PDF-1.7\n",
            "statement.pdf",
            "That is a PDF. On the M-Pesa business portal, export the statement as CSV",
        ),
        (
            b"Name,Phone\nJane,0712345678\n",
            "people.csv",
            "it has no header row with Receipt No., Completion Time and Paid In",
        ),
        (b"", "statement.csv", "That file is empty."),
        (b"Receipt No.,Completion Time,Paid In\n" + b"x" * MAX_BYTES, "big.csv", "That file is over 5 MB"),
        (b"", "", "Choose the statement file first."),
    ],
)
async def test_a_file_that_is_no_statement_is_answered_in_words(
    settings, clock, vault, store, shop, data, name, said
):
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        await sign_in(http, base, shop.seeded.owner)
        response = await upload(http, base, shop.seeded.account_id, data, name)
    assert response.status_code == 400
    assert said in text_of(response.text)
    assert 'type="file"' in response.text  # the form, to try again


async def test_a_file_far_too_big_is_refused_before_it_is_read(settings, clock, vault, store, shop):
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        await sign_in(http, base, shop.seeded.owner)
        response = await upload(http, base, shop.seeded.account_id, b"x" * (2 * MAX_BYTES + 1))
    assert response.status_code == 413
    assert "That file is too big to upload here." in response.text


@pytest.mark.parametrize("csrf", [{}, {"csrf": "forged"}])
async def test_an_upload_without_the_session_s_csrf_token_is_refused(
    settings, clock, vault, store, shop, csrf
):
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        await sign_in(http, base, shop.seeded.owner)
        response = await http.post(
            f"{base}/admin/reconcile",
            data={**csrf, "account": str(shop.seeded.account_id)},
            files={"statement": ("statement.csv", SAMPLE.read_bytes(), "text/csv")},
        )
    assert response.status_code == 403
    assert "This form was not accepted" in text_of(response.text)
    assert 'id="total-' not in response.text


async def test_another_business_s_account_is_neither_offered_nor_checked(settings, clock, vault, store, shop):
    beta = await seed_tenant(store, clock, vault, "beta")
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        await sign_in(http, base, shop.seeded.owner)
        form = (await http.get(f"{base}/admin/reconcile")).text
        theirs = await upload(http, base, beta.account_id, SAMPLE.read_bytes())
    assert "alpha-paybill" in form
    assert "beta-paybill" not in form
    assert theirs.status_code == 404


async def test_another_business_s_payments_are_never_matched_on_the_page(settings, clock, vault, store, shop):
    """Beta was paid with a receipt of alpha's statement and has a payment its next line could be: alpha
    is shown neither."""
    beta = await seed_tenant(store, clock, vault, "beta")
    common = {"tenant_id": beta.tenant_id, "mpesa_account_id": beta.account_id, "package_id": beta.package_id}
    theirs = [
        await store.write(
            insert_payment, **common, phone="254700000013", amount=30, state="paid", at=eat(15, 4, 55),
            receipt="TLA0000013",
        ),
        await store.write(
            insert_payment, **common, phone="254700000013", amount=30, state="expired", at=eat(15, 4, 30)
        ),
    ]  # fmt: skip
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        await sign_in(http, base, shop.seeded.owner)
        response = await upload(http, base, shop.seeded.account_id, SAMPLE.read_bytes())
    assert response.status_code == 200
    assert "TLA0000013 KES 30 2547****0013 - PETER K Paid to this account, but the portal has no record" in (
        text_of(response.text)
    )
    assert total(response.text, "missing") == "Wi-Fi sold, missing from M-Pesa 1 KES 30"  # alpha's own
    linked = {int(found) for found in re.findall(r'href="/admin/payments/(\d+)"', response.text)}
    assert linked and linked.isdisjoint(theirs)
