"""The owner's check against the M-Pesa statement: reading the file the M-Pesa business portal exports,
and sorting every line and every payment on one side only into what it means."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from portal.billing import mpesa_statement
from portal.billing.mpesa_statement import MAX_BYTES, StatementRefused
from portal.clock import FixedClock
from portal.mpesa import accounts
from tests.billing.sample_statement import DAY_AFTER, SAMPLE, eat, seed_sample
from tests.conftest import execute
from tests.seed import insert_payment, seed_tenant

HEADER = (
    "Receipt No.,Completion Time,Initiation Time,Details,Transaction Status,Paid In,Withdrawn,Balance,"
    "Balance Confirmed,Reason Type,Other Party Info,Linked Transaction ID,A/C No.\n"
)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(DAY_AFTER)


@pytest.fixture
async def shop(store, clock, vault):
    return await store.write(seed_sample, clock, vault)


async def check(store, account_id: int, data: bytes) -> mpesa_statement.Reconciliation:
    account = await store.read(accounts.get, account_id)
    return await store.read(mpesa_statement.reconcile, account, mpesa_statement.read(data))


def sorted_out(result) -> dict[str, tuple]:
    """Each finding by its receipt (or, in the portal only, its payment's id): kind, how, linked record."""
    return {
        (finding.line.receipt if finding.line else f"payment {(finding.payment or finding.by_hand).id}"): (
            finding.kind,
            finding.how,
            finding.payment.id if finding.payment else finding.by_hand.id if finding.by_hand else None,
        )
        for finding in result.findings
    }


async def test_the_sample_statement_sorts_every_line_and_every_payment_into_what_it_means(store, shop):
    result = await check(store, shop.seeded.account_id, SAMPLE.read_bytes())
    assert sorted_out(result) == {
        "TLA0000001": ("matched", "receipt", shop.paid),
        "TLA0000002": ("matched", "account", shop.paid_without_receipt),  # confirmed by query: no receipt
        "TLA0000003": ("amount_differs", "receipt", shop.differs),
        "TLA0000004": ("never_reached", "account", shop.unknown),  # the customer may be owed access
        "TLA0000005": ("never_reached", "amount_phone_time", shop.expired),
        "TLA0000006": ("not_wifi", "account_words", None),  # the rent
        "TLA0000007": ("matched", "by_hand", shop.by_hand),
        "TLA0000008": ("charge", "", None),
        "TLA0000009": ("reversed_still_paid", "payment", shop.paid),
        "TLA0000010": ("money_out", "", None),
        "TLA0000011": ("no_money", "not_completed", None),
        "TLA0000012": ("never_reached", "wifi_words", None),  # paid by hand; its confirmation never came
        "TLA0000013": ("never_reached", "unexplained", None),
        f"payment {shop.missing}": ("missing", "payment", shop.missing),
    }
    totals = result.totals
    assert (totals["matched"].count, totals["matched"].amount) == (3, Decimal(160))
    assert (totals["never_reached"].count, totals["never_reached"].amount) == (4, Decimal(110))
    assert (totals["missing"].count, totals["missing"].amount) == (1, Decimal(30))
    assert (totals["not_wifi"].count, totals["not_wifi"].amount) == (1, Decimal(3000))
    assert (totals["charge"].count, totals["charge"].amount) == (1, Decimal("0.50"))
    assert (totals["money_out"].count, totals["money_out"].amount) == (1, Decimal(2000))
    assert (totals["no_money"].count, totals["no_money"].amount) == (1, Decimal(0))  # it failed
    assert totals["reversal"].count == 0
    assert (result.start, result.end) == (
        datetime(2026, 12, 4, 6, 0, 10, tzinfo=UTC),
        datetime(2026, 12, 4, 12, 5, tzinfo=UTC),
    )


async def test_a_reversal_the_owner_marked_in_the_portal_too_is_only_a_reversal(store, shop):
    await execute(store, "UPDATE payments SET state = 'reversed' WHERE id = ?", (shop.paid,))
    result = await check(store, shop.seeded.account_id, SAMPLE.read_bytes())
    assert sorted_out(result)["TLA0000009"] == ("reversal", "marked_reversed", shop.paid)
    assert sorted_out(result)["TLA0000001"] == ("matched", "receipt", shop.paid)  # the money did come in


async def test_a_reversal_of_nothing_the_portal_knows_is_a_plain_reversal(store, shop):
    line = "TLB0000001,2026-12-04 13:00:00,,Reversal,Completed,,30.00,,,Pay Bill Reversal,,TLZ9999999,\n"
    result = await check(store, shop.seeded.account_id, (HEADER + line).encode())
    assert sorted_out(result)["TLB0000001"] == ("reversal", "unrelated", None)


async def test_a_payment_confirmed_without_its_receipt_is_matched_by_amount_number_and_time(
    store, clock, vault
):
    seeded = await seed_tenant(store, clock, vault, "till")
    paid = await store.write(
        insert_payment,
        tenant_id=seeded.tenant_id,
        mpesa_account_id=seeded.account_id,
        package_id=seeded.package_id,
        phone="254700111222",
        amount=30,
        state="paid",
        at=eat(9, 59, 40),
    )
    lines = (
        # Another payer of the same amount at the same time is not it: the number differs.
        "TLC0000001,2026-12-04 10:00:00,,Buy Goods,Completed,30.00,,,,Buy Goods,0799***999 - X,,\n"
        "TLC0000002,2026-12-04 10:00:05,,Buy Goods,Completed,30.00,,,,Buy Goods,0700***222 - Y,,\n"
    )
    result = await check(store, seeded.account_id, (HEADER + lines).encode())
    assert sorted_out(result) == {
        "TLC0000001": ("never_reached", "unexplained", None),
        "TLC0000002": ("matched", "amount_phone_time", paid),
    }


async def test_another_business_s_payments_are_never_matched_nor_missing(store, clock, vault, shop):
    beta = await seed_tenant(store, clock, vault, "beta")
    common = {"tenant_id": beta.tenant_id, "mpesa_account_id": beta.account_id, "package_id": beta.package_id}
    theirs = [
        await store.write(
            insert_payment,
            **common,
            phone="254700000013",
            amount=30,
            state="paid",
            at=eat(15, 4, 55),
            receipt="TLA0000013",
        ),
        await store.write(
            insert_payment,
            **common,
            phone="254700000014",
            amount=30,
            state="paid",
            at=eat(12, 0),
            ref="5e5e5e5e00000000",
        ),
        await store.write(
            insert_payment, **common, phone="254799990013", amount=30, state="expired", at=eat(15, 4, 30)
        ),
    ]
    result = await check(store, shop.seeded.account_id, SAMPLE.read_bytes())
    assert sorted_out(result)["TLA0000013"] == ("never_reached", "unexplained", None)
    linked = {finding.payment.id for finding in result.findings if finding.payment}
    assert linked.isdisjoint(theirs)
    assert result.totals["missing"].count == 1  # alpha's own


def test_the_header_row_is_found_after_any_preamble_whatever_its_spelling():
    data = (
        "\ufeffORGANISATION NAME;Alpha\n"
        "Statement period;01/12/2026 - 04/12/2026\n"
        "\n"
        "receipt no;COMPLETION  TIME;Details;Transaction status;paid in;WITHDRAWN;a/c no\n"
        'TLD0000001;04/12/2026 09:00;Pay Bill;COMPLETED;"1,500.00";;WIFI\n'
        "TLD0000002;04/12/2026 09:05;Charge;Completed;;-1.50;\n"
    ).encode()
    statement = mpesa_statement.read(data)
    first, second = statement.lines
    assert (first.receipt, first.paid_in, first.account, first.number) == (
        "TLD0000001",
        Decimal(1500),
        "WIFI",
        5,
    )
    assert first.at == datetime(2026, 12, 4, 6, 0, tzinfo=UTC)  # Nairobi time, kept as UTC
    assert (second.withdrawn, second.completed) == (Decimal("1.50"), True)


def test_lines_without_a_receipt_such_as_the_totals_are_passed_over():
    data = (
        HEADER + "TLE0000001,2026-12-04 10:00:00,,x,Completed,30.00,,,,,,,\n,,,Totals,,30.00,,,,,,,\n"
    ).encode()
    assert [line.receipt for line in mpesa_statement.read(data).lines] == ["TLE0000001"]


@pytest.mark.parametrize(
    ("data", "reason", "line"),
    [
        (b"", "empty", 0),
        (b"%PDF-1.7\n...", "pdf", 0),
        (b"PK\x03\x04\x14\x00", "spreadsheet", 0),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "not_text", 0),
        (b"Name,Phone\nJane,0712345678\n", "no_header", 0),
        (b"Receipt No.,Paid In\nTLF0000001,30\n", "no_header", 0),  # no time: nothing to match it by
        (HEADER.encode(), "no_lines", 0),
        ((HEADER + "TLF0000001,2026-12-04 10:00:00,,x,Completed,thirty,,,,,,,\n").encode(), "bad_amount", 2),
        ((HEADER + "TLF0000001,yesterday,,x,Completed,30.00,,,,,,,\n").encode(), "bad_time", 2),
        (HEADER.encode() + b"x" * MAX_BYTES, "too_big", 0),
    ],
)
def test_a_file_that_is_no_statement_is_refused_with_its_reason(data, reason, line):
    with pytest.raises(StatementRefused) as refused:
        mpesa_statement.read(data)
    assert (refused.value.reason, refused.value.line) == (reason, line)
