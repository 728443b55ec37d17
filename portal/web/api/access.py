"""`/api/v1/access`: time on the Wi-Fi for a device, given by another program (a hotel's front desk at
check-in), through the sessions and the router outbox that the admin's "Give access" and customers'
payments use (access/sessions.py): the time starts when the router confirms the device is online, a
device with time left gets the new time added, and DELETE ends it as the admin's "End access now"
does. The client is told when it starts and ends (`access.started`, `access.ended`)."""

from typing import Annotated, Literal

import msgspec
from litestar import Request, Response, delete, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody, KwargDefinition, QueryParameter

from ...access import routers, sessions
from ...access.sessions import STATES, ApiSession
from ...catalog import packages
from ...catalog.packages import Package
from ...gateways.base import normalize_mac
from ...store import Connection
from ...tenancy.api_clients import ApiClient
from ...tenancy.scope import of_tenant
from .problems import INVALID, NOT_FOUND, FieldError, documented, field_error, invalid
from .resources import (
    LIST_WORDS,
    LOCATION,
    PAGE,
    Cursor,
    Limit,
    NextCursor,
    Since,
    of_business,
    page,
    with_zone,
)

LONGEST = 31 * 24 * 3600  # a month at a time: a stay, not a typo
GIVE_WORDS = {
    "router": "the router's name in the business, as on the admin's Routers page",
    "mac": "the device's MAC address, like AA:BB:CC:DD:EE:FF",
    "package": "a package's id or name: the speed and data cap (and the time, unless `seconds` is given);"
    " without it, the cheapest package on sale",
    "seconds": f"how long, a whole number of seconds from 1 to {LONGEST:,} (31 days); without it, the"
    " package's time",
}
ACCESS_WORDS = LIST_WORDS | {
    "state": f"one of {', '.join(STATES)}",
    "router": "those on the router of this name",
    "mac": "those on the device of this MAC address",
}


class AccessRequest(msgspec.Struct, frozen=True):
    """Time for a device: a package, seconds, or both. Value limits are the handler's to check, so that
    every wrong field is named at once; the OpenAPI document shows them."""

    router: Annotated[str, KwargDefinition(description=GIVE_WORDS["router"])]
    mac: Annotated[str, KwargDefinition(description=GIVE_WORDS["mac"])]
    package: Annotated[int | str | None, KwargDefinition(description=GIVE_WORDS["package"])] = None
    seconds: Annotated[int | None, KwargDefinition(description=GIVE_WORDS["seconds"], ge=1, le=LONGEST)] = (
        None
    )


class AccessPage(msgspec.Struct, frozen=True):
    data: list[ApiSession]
    next_cursor: NextCursor


def _package(db: Connection, tenant_id: int, asked: int | str | None) -> Package | None:
    """The package asked for by id or name (one removed is no longer given), or the cheapest on sale."""
    if isinstance(asked, int):
        package = packages.get(db, asked, of_tenant(tenant_id))
        return package if package is not None and package.removed_at is None else None
    if isinstance(asked, str):
        return packages.by_name(db, tenant_id, asked)
    return packages.cheapest(db, tenant_id)


def _router_id(db: Connection, tenant_id: int, name: str) -> int | None:
    """The business's router of this name, if it is in use (not disabled or removed)."""
    router = routers.by_name(db, name)
    in_use = router is not None and router.disabled_at is None and router.removed_at is None
    return router.id if in_use and router.tenant_id == tenant_id else None


def _give(db: Connection, services, client: ApiClient, asked: AccessRequest) -> tuple[ApiSession, bool]:
    """(the session with the time, whether it is new); every wrong field is named at once."""
    errors = []
    router_id = _router_id(db, client.tenant_id, asked.router)
    if router_id is None:
        errors.append(field_error("router", f"the business has no router named {asked.router!r}"))
    try:
        mac = normalize_mac(asked.mac)
    except ValueError:
        errors.append(field_error("mac", GIVE_WORDS["mac"]))
    package = _package(db, client.tenant_id, asked.package)
    if package is None:
        what = "on sale" if asked.package is None else f"{asked.package!r}"
        errors.append(field_error("package", f"the business has no package {what}"))
    if asked.seconds is not None and not 1 <= asked.seconds <= LONGEST:
        errors.append(field_error("seconds", GIVE_WORDS["seconds"]))
    if asked.package is None and asked.seconds is None:
        errors.append(field_error("seconds", "give a package, seconds, or both"))
    if errors:
        raise invalid(errors)
    new = sessions.live_on_device(db, router_id, mac) is None
    session_id = sessions.open_session(
        db,
        services.clock,
        services.vault,
        tenant_id=client.tenant_id,
        router_id=router_id,
        package_id=package.id,
        mac=mac,
        ip=None,  # the router finds the device by its MAC
        seconds=asked.seconds or package.duration_seconds,
        api_client_id=client.id,
    )
    [view] = sessions.api_views(db, [sessions.get(db, session_id)])
    return view, new


@post(
    "/access",
    summary="Give a device time on the Wi-Fi",
    opt={"scope": "access:write", "words": GIVE_WORDS},
    responses=documented(INVALID),
    response_headers=[LOCATION],
)
async def give_access(request: Request, state: State, data: JSONBody[AccessRequest]) -> Response[ApiSession]:
    """Gives the device the time: 201 with a new session, waiting for the router (`pending`); 200 with
    the device's live session when it had one, the time added to it."""
    view, new = await state.services.store.write(_give, state.services, request.state.api_client, data)
    state.services.jobs.wake()
    return Response(view, status_code=201 if new else 200, headers={"Location": f"/api/v1/access/{view.id}"})


@get(
    "/access/{session_id:int}",
    summary="Read an access session",
    opt={"scope": "access:read"},
    responses=documented(NOT_FOUND),
)
async def read_access(request: Request, state: State, session_id: FromPath[int]) -> ApiSession:
    client: ApiClient = request.state.api_client
    session = await of_business(state, sessions.of_api, client.tenant_id, session_id, "access")
    [view] = await state.services.store.read(sessions.api_views, [session])
    return view


@delete(
    "/access/{session_id:int}",
    summary="End an access session now",
    status_code=200,
    opt={"scope": "access:write"},
    responses=documented(NOT_FOUND),
)
async def end_access(request: Request, state: State, session_id: FromPath[int]) -> ApiSession:
    """Ends the access now, as the admin's "End access now" does: the router logs the device out. An
    access that had ended is answered as it is."""
    client: ApiClient = request.state.api_client
    session = await of_business(state, sessions.of_api, client.tenant_id, session_id, "access")

    def end(db: Connection) -> ApiSession:
        sessions.end_session(db, state.services.clock, session.id)
        return sessions.api_views(db, [sessions.get(db, session.id)])[0]

    view = await state.services.store.write(end)
    state.services.jobs.wake()
    return view


@get(
    "/access",
    summary="List access sessions",
    opt={"scope": "access:read", "words": ACCESS_WORDS},
    responses=documented(INVALID),
)
async def list_access(
    request: Request,
    state: State,
    asked_state: Annotated[
        Literal[STATES] | None, QueryParameter(name="state", description=ACCESS_WORDS["state"])
    ] = None,
    since: Since = None,
    router: Annotated[str | None, QueryParameter(description=ACCESS_WORDS["router"])] = None,
    mac: Annotated[str | None, QueryParameter(description=ACCESS_WORDS["mac"])] = None,
    cursor: Cursor = None,
    limit: Limit = PAGE,
) -> AccessPage:
    """Sessions the business's API clients gave, newest first, `limit` at a time (50, at most 100);
    `next_cursor` fetches the next page."""
    client: ApiClient = request.state.api_client

    def listed(db: Connection) -> AccessPage:
        errors = []
        router_id = _router_id(db, client.tenant_id, router) if router else None
        if router and router_id is None:
            errors.append(
                FieldError(parameter="router", detail=f"the business has no router named {router!r}")
            )
        try:
            device = normalize_mac(mac) if mac else ""
        except ValueError:
            errors.append(FieldError(parameter="mac", detail=GIVE_WORDS["mac"]))
        if errors:
            raise invalid(errors, "parameters")
        found = sessions.api_page(
            db,
            client.tenant_id,
            state=asked_state or "",
            since=with_zone(since),
            router_id=router_id,
            mac=device,
            before_id=cursor,
            limit=limit + 1,
        )
        shown, next_cursor = page(found, limit)
        return AccessPage(sessions.api_views(db, list(shown)), next_cursor)

    return await state.services.store.read(listed)


HANDLERS = [give_access, read_access, end_access, list_access]
