"""A sample M-Pesa statement (sample-statement.csv, of 4 December 2026, as the M-Pesa business portal
exports it) and the portal's side of that day, for the statement check's tests."""

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from portal.clock import FixedClock, to_text
from portal.store import Connection
from portal.vault import Vault
from tests.seed import Seeded, insert, insert_payment, seed_tenant_in

SAMPLE = Path(__file__).with_name("sample-statement.csv")
DAY_AFTER = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)  # the owner checks the statement the next morning


def eat(hours: int, minutes: int, seconds: int = 0) -> str:
    """A moment of 4 December 2026 in Nairobi (UTC+3), stored as UTC."""
    return to_text(datetime(2026, 12, 4, hours - 3, minutes, seconds, tzinfo=UTC))


@dataclass
class SampleShop:
    seeded: Seeded
    paid: int  # TLA0000001, still paid although the statement reverses it
    paid_without_receipt: int  # confirmed by query: the statement finds it by its account number
    differs: int  # paid 30 by the portal's word; the statement says 50
    unknown: int  # its push's answer was lost; the statement has its money (TLA0000004)
    expired: int  # expired; TLA0000005 is probably it (amount, number, time)
    missing: int  # paid in the portal, absent from the statement
    by_hand: int  # paid by hand to WIFI (TLA0000007)


def seed_sample(db: Connection, clock: FixedClock, vault: Vault, slug: str = "alpha") -> SampleShop:
    seeded = seed_tenant_in(db, clock, vault, slug)
    common = {
        "tenant_id": seeded.tenant_id,
        "mpesa_account_id": seeded.account_id,
        "package_id": seeded.package_id,
        "router_id": seeded.router_id,
        "phone": "254712345678",
        "amount": 30,
    }
    return SampleShop(
        seeded=seeded,
        paid=insert_payment(
            db, **common, ref="7e7e7e7e00000001", state="paid", at=eat(9, 0), receipt="TLA0000001"
        ),
        paid_without_receipt=insert_payment(
            db, **common, ref="a1b2c3d400000002", state="paid", at=eat(9, 29, 50)
        ),
        differs=insert_payment(
            db, **common, ref="c0ffee0000000003", state="paid", at=eat(9, 59, 50), receipt="TLA0000003"
        ),
        unknown=insert_payment(db, **common, ref="0badc0de00000004", state="unknown", at=eat(10, 59, 45)),
        expired=insert_payment(db, **common, ref="e1e1e1e100000005", state="expired", at=eat(11, 29, 30)),
        missing=insert_payment(
            db, **common, ref="ffff000000000006", state="paid", at=eat(10, 30), receipt="TLA0000099"
        ),
        by_hand=insert(
            db,
            "c2b_payments",
            tenant_id=seeded.tenant_id,
            mpesa_account_id=seeded.account_id,
            receipt="TLA0000007",
            amount=100,
            bill_ref="wifi",
            msisdn="2547****1122",
            payer_name="ANN N",
            received_at=eat(12, 10, 2),
            for_wifi=1,
        ),
    )
