"""What the API's resources share: one of the business's by its id (another's is simply not found), the
address of a new one, and their lists: newest first, filtered by time, a page at a time by cursor."""

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, TypeVar

from litestar.datastructures import ResponseHeader, State
from litestar.params import QueryParameter
from msgspec import Meta

from ...store import Connection
from .problems import NOT_FOUND, FieldError, Problem, invalid

T = TypeVar("T")

PAGE = 50
LONGEST_PAGE = 100
LARGEST_ID = 2**63 - 1  # the database's largest integer: no id is larger
# What each list parameter must be: the OpenAPI document's description, and the error when it is not.
LIST_WORDS = {
    "since": "a time with its zone, e.g. 2026-01-05T09:00:00Z: those made then or later",
    "cursor": "a next_cursor from an earlier page",
    "limit": f"a whole number from 1 to {LONGEST_PAGE}",
}
LOCATION = ResponseHeader(name="Location", description="the resource's address", documentation_only=True)

Since = Annotated[datetime | None, QueryParameter(description=LIST_WORDS["since"])]
Cursor = Annotated[int | None, QueryParameter(description=LIST_WORDS["cursor"], ge=1, le=LARGEST_ID)]
Limit = Annotated[int, QueryParameter(description=LIST_WORDS["limit"], ge=1, le=LONGEST_PAGE)]
NextCursor = Annotated[str | None, Meta(description="pass as `cursor` for the next page; null: none")]


async def of_business(
    state: State, of_api: Callable[[Connection, int, int], T | None], tenant_id: int, item_id: int, what: str
) -> T:
    """The business's `what` of this id (`of_api` finds it), or 404."""
    found = await state.services.store.read(of_api, tenant_id, item_id) if item_id <= LARGEST_ID else None
    if found is None:
        raise Problem(NOT_FOUND, f"no {what} {item_id}")
    return found


def with_zone(since: datetime | None) -> datetime | None:
    """`since` as asked, refused without its zone: whose midnight would it be?"""
    if since is not None and since.tzinfo is None:
        raise invalid([FieldError(parameter="since", detail=LIST_WORDS["since"])], "parameters")
    return since


def page(found: Sequence[Any], limit: int) -> tuple[Sequence[Any], str | None]:
    """(the page, the next one's cursor) of up to `limit + 1` items read (one more tells whether there
    is a next page)."""
    shown = found[:limit]
    return shown, str(shown[-1].id) if len(found) > len(shown) else None
