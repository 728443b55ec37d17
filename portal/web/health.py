"""`GET /healthz`: is the process up and its database usable?"""

import sqlite3

from litestar import Response, get
from litestar.datastructures import State

from .. import __version__
from ..db import StoreError
from ..migrations import MIGRATIONS


@get("/healthz")
async def healthz(state: State) -> Response:
    db = state.services.db
    try:
        schema = await db.user_version()
        await db.fetchval("SELECT count(*) FROM tenants")
        database = {"state": "ok" if schema == len(MIGRATIONS) else "migrating", "schema_version": schema}
    except (sqlite3.Error, StoreError) as error:
        database = {"state": "error", "error": str(error)}
    healthy = database["state"] == "ok"
    return Response(
        {"status": "ok" if healthy else "unhealthy", "version": __version__, "database": database},
        status_code=200 if healthy else 503,
    )
