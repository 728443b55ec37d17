"""Goodwill time given by staff: up to the business's daily limit each, counted from the audit log.

Every gift of time is audited with its minutes in the transaction that gives it, so the log is the
count: nothing else to keep in step, and the check and the gift happen in one transaction.
"""

from datetime import datetime

from ..store import Connection
from . import audit, tenants


class OverLimit(Exception):
    """More than is left of today's limit: `limit` minutes a day, `left` of them still to give."""

    def __init__(self, limit: int, left: int):
        super().__init__(f"{left} of {limit} minutes left today")
        self.limit = limit
        self.left = left


def allow(db: Connection, tenant_id: int, actor: str, minutes: int, day_start: datetime) -> None:
    """Raises OverLimit unless `actor` may give `minutes` more today (which began at `day_start`)."""
    limit = tenants.get(db, tenant_id).staff_goodwill_minutes
    left = max(0, limit - audit.minutes_given(db, tenant_id, actor, day_start))
    if minutes > left:
        raise OverLimit(limit, left)
