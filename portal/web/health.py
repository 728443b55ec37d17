"""`GET /healthz`: is the process up and its database usable?"""

from litestar import Response, get
from litestar.datastructures import State

from .. import __version__
from ..store import StoreError


@get("/healthz")
async def healthz(state: State) -> Response:
    store = state.services.store
    try:
        schema = await store.schema_version()
        database = {
            "state": "ok" if schema == store.latest_version else "migrating",
            "schema_version": schema,
        }
    except StoreError as error:
        database = {"state": "error", "error": str(error)}
    healthy = database["state"] == "ok"
    return Response(
        {"status": "ok" if healthy else "unhealthy", "version": __version__, "database": database},
        status_code=200 if healthy else 503,
    )
