"""What the dashboard flags for the owner's attention (billing/attention.py): customers who paid and are
not online, routers that do not answer, router tasks that keep failing, Daraja refusing payments."""

from datetime import timedelta

from portal.access import routers
from portal.billing.attention import TASK_ATTEMPTS_SHOWN, attention
from portal.clock import to_text
from portal.tenancy.scope import Scope
from tests.seed import insert, insert_payment, insert_session, seed_tenant


async def test_attention_shows_paid_customers_not_online_routers_down_and_daraja_errors(store, clock, vault):
    alpha = await seed_tenant(store, clock, vault, "alpha")  # paid with an active session: not stuck
    common = {
        "tenant_id": alpha.tenant_id,
        "mpesa_account_id": alpha.account_id,
        "package_id": alpha.package_id,
        "router_id": alpha.router_id,
        "amount": 10,
    }
    three_minutes_ago = to_text(clock.now() - timedelta(minutes=3))

    def add_trouble(db) -> tuple[int, int]:
        waiting = insert_payment(db, **common, phone="254711000001", state="paid", at=three_minutes_ago)
        pending = insert_session(
            db,
            clock,
            vault,
            alpha.tenant_id,
            alpha.router_id,
            alpha.package_id,
            "AA:BB:CC:00:00:11",
            state="pending",
            started_at=None,
        )
        unconfirmed = insert_payment(
            db,
            **common,
            phone="254711000006",
            state="paid",
            at=to_text(clock.now() - timedelta(minutes=4)),
            access_session_id=pending,
        )
        # Paid 30 seconds ago: the router normally lets it in within seconds, so not yet a problem.
        insert_payment(
            db, **common, phone="254711000002", state="paid", at=to_text(clock.now() - timedelta(seconds=30))
        )
        for phone, code in (("254711000003", "2028"), ("254711000004", "1032"), ("254711000005", "2028")):
            insert_payment(
                db,
                **common,
                phone=phone,
                state="failed",
                at=to_text(clock.now()),
                result_code=code,
                result_desc="The request is not permitted according to product assignment.",
            )
        routers.record_contact(db, clock, alpha.router_id, error="connection refused")
        insert(
            db,
            "router_tasks",
            router_id=alpha.router_id,
            kind="grant",
            attempts=TASK_ATTEMPTS_SHOWN,
            next_attempt_at=to_text(clock.now()),
            last_error="connection refused",
            created_at=to_text(clock.now()),
        )
        return waiting, unconfirmed

    waiting, unconfirmed = await store.write(add_trouble)
    flagged = await store.read(attention, Scope((alpha.tenant_id,)), clock.now())
    assert [(row.payment.id, row.router, row.has_session) for row in flagged.unconnected] == [
        (waiting, "alpha-router", False),
        (unconfirmed, "alpha-router", True),
    ]
    assert [router.name for router in flagged.routers_down] == ["alpha-router"]
    # Cancelled (1032) is the payer's doing: nothing for the owner to fix.
    assert [(row.code, row.count) for row in flagged.daraja_errors] == [("2028", 2)]
    assert [(row.name, row.count, row.last_error) for row in flagged.router_tasks] == [
        ("alpha-router", 1, "connection refused")
    ]
    assert flagged
    assert not await store.read(attention, Scope((999,)), clock.now())
