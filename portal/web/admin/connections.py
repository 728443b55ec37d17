"""What the portal connects to: routers and M-Pesa accounts.

Their secrets can be set, never read. Adding and editing work the same way for both (one flow, told
by a `Kind` what differs); each can also be tried from here: a router's connection and set-up, an
account's Daraja credentials.
"""

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from litestar import Request, get, post
from litestar.exceptions import HTTPException
from litestar.params import FromPath
from litestar.response import Redirect, Template

from ... import routers
from ...gateway.base import GatewayError
from ...gateway.routeros import format_duration
from ...mpesa import accounts
from ...mpesa.accounts import ENVIRONMENTS, KINDS, SECRETS, AccountError, account_fields, read_account
from ...mpesa.daraja import AuthError, CredentialError, DarajaError, UnavailableError, ValidationError
from ...routers import RouterError, read_router, router_fields
from ...scope import Scope
from .base import (
    Result,
    Tenants,
    audit_change,
    form_fields,
    may_change,
    owned,
    page,
    services,
    tenant_for_new_rows,
)

CHANGED_MEANWHILE = (
    "This was changed elsewhere meanwhile, so nothing was saved. Reload the page and try again."
)


@dataclass(frozen=True)
class Kind:
    """What differs between a router and an M-Pesa account; the add and edit flow below serves both."""

    name: str  # in audit actions and targets: router_added, mpesa_account:3
    path: str  # the list page; the forms are {path}/new and {path}/{id}/edit
    template: str
    blank: Mapping[str, str]  # a new one's form
    # (form, stored=row or None when new) → spec, or what is wrong by field
    read: Callable[..., tuple[Any, dict[str, str]]]
    shown: Callable[[Mapping], dict[str, str]]  # a row, or a spec as a dict → what a form shows
    secrets: tuple[str, ...]  # fields never sent back to the browser, not even what was just typed
    rotated: Callable[[Any], list[str]]  # the secrets a spec replaces
    find: Callable[..., Awaitable[Any]]  # (db, scope, id) → row or None
    insert: Callable[..., Awaitable[int]]  # (tx, services, tenant_id, spec) → id
    update: Callable[..., Awaitable[bool]]  # (tx, services, row, spec) → False if the row changed meanwhile
    context: Callable[..., Awaitable[dict]]  # (request, tenant_id, fields) → what else the form shows
    check: Callable[..., Awaitable[None]]  # (request, tenant_id, spec): 404 if it names another's rows


async def _router_context(request: Request, tenant_id: int, fields: dict) -> dict:
    return {"accounts": await accounts.accounts(services(request).db, Scope((tenant_id,)))}


async def _check_router(request: Request, tenant_id: int, spec: routers.RouterSpec) -> None:
    """The router's M-Pesa account must be one of the router's own tenant."""
    if spec.mpesa_account_id is not None:
        await owned(request, accounts.account, Scope((tenant_id,)), spec.mpesa_account_id)


async def _account_context(request: Request, tenant_id: int, fields: dict) -> dict:
    environment = fields.get("environment", "")
    # An account on a Daraja simulator (the demo, a test) keeps it when edited.
    simulator = {} if environment in ENVIRONMENTS or not environment else {environment: environment}
    return {"kinds": KINDS, "environments": ENVIRONMENTS | simulator, "secrets": SECRETS}


async def _nothing_to_check(request: Request, tenant_id: int, spec: Any) -> None:
    return None


ROUTER = Kind(
    name="router",
    path="/admin/routers",
    template="router_form",
    # The API over TLS unless the owner unticks it: the plain API carries the router's password openly.
    blank={"hotspot_server": "all", "use_tls": "on"},
    read=read_router,
    shown=router_fields,
    secrets=("password",),
    rotated=lambda spec: ["password"] if spec.password else [],
    find=routers.router,
    insert=lambda tx, s, tenant_id, spec: routers.create_router(tx, s.clock, s.vault, tenant_id, spec),
    update=lambda tx, s, row, spec: routers.update_router(tx, s.vault, row["id"], row["tenant_id"], spec),
    context=_router_context,
    check=_check_router,
)
ACCOUNT = Kind(
    name="mpesa_account",
    path="/admin/mpesa",
    template="account_form",
    blank={"kind": "paybill", "environment": "production"},
    read=read_account,
    shown=account_fields,
    secrets=tuple(SECRETS),
    rotated=lambda spec: sorted(spec.secrets),
    find=accounts.account,
    insert=lambda tx, s, tenant_id, spec: accounts.insert_account(tx, s.vault, s.clock, tenant_id, spec),
    update=lambda tx, s, row, spec: accounts.update_account(
        tx, s.vault, s.clock, row["id"], row["tenant_id"], spec
    ),
    context=_account_context,
    check=_nothing_to_check,
)


async def _find(request: Request, tenants: Scope, kind: Kind, item_id: int):
    return await owned(request, kind.find, tenants, item_id)


async def _form(
    request: Request, kind: Kind, tenant_id: int, fields: dict, errors: dict, action: str, status_code=200
) -> Template:
    fields = {key: value for key, value in fields.items() if key not in kind.secrets}
    return await page(
        request,
        kind.template,
        status_code=status_code,
        fields=fields,
        errors=errors,
        action=action,
        new=action.endswith("/new"),
        **await kind.context(request, tenant_id, fields),
    )


async def _new(request: Request, tenants: Scope, kind: Kind) -> Template:
    tenant_id = tenant_for_new_rows(tenants)
    return await _form(request, kind, tenant_id, dict(kind.blank), {}, f"{kind.path}/new")


async def _create(request: Request, tenants: Scope, kind: Kind) -> Template | Redirect:
    tenant_id = tenant_for_new_rows(tenants)
    fields = form_fields(await request.form())
    spec, errors = kind.read(fields, stored=None)
    if spec is not None:
        await kind.check(request, tenant_id, spec)
        try:
            async with services(request).db.transaction() as tx:
                item_id = await kind.insert(tx, services(request), tenant_id, spec)
                await audit_change(
                    tx,
                    request,
                    tenant_id=tenant_id,
                    action=f"{kind.name}_added",
                    target=f"{kind.name}:{item_id}",
                    detail=kind.shown(asdict(spec)),
                )
            return Redirect(f"{kind.path}?done=saved", status_code=303)
        except (RouterError, AccountError) as error:
            errors = {error.field: str(error)}
    return await _form(request, kind, tenant_id, fields, errors, f"{kind.path}/new", status_code=400)


async def _edit(request: Request, tenants: Scope, kind: Kind, item_id: int) -> Template:
    row = await _find(request, tenants, kind, item_id)
    return await _form(request, kind, row["tenant_id"], kind.shown(row), {}, f"{kind.path}/{row['id']}/edit")


async def _update(request: Request, tenants: Scope, kind: Kind, item_id: int) -> Template | Redirect:
    row = await _find(request, tenants, kind, item_id)
    fields = form_fields(await request.form())
    spec, errors = kind.read(fields, stored=row)
    if spec is not None:
        await kind.check(request, row["tenant_id"], spec)
        before, after = kind.shown(row), kind.shown(asdict(spec))
        changed = sorted(key for key, value in after.items() if before[key] != value)
        target = f"{kind.name}:{row['id']}"
        try:
            async with services(request).db.transaction() as tx:
                if not await kind.update(tx, services(request), row, spec):
                    raise HTTPException(status_code=409, detail=CHANGED_MEANWHILE)
                if changed:
                    await audit_change(
                        tx,
                        request,
                        tenant_id=row["tenant_id"],
                        action=f"{kind.name}_changed",
                        target=target,
                        detail={"changed": changed},
                    )
                if rotated := kind.rotated(spec):
                    await audit_change(
                        tx,
                        request,
                        tenant_id=row["tenant_id"],
                        action=f"{kind.name}_credentials_rotated",
                        target=target,
                        detail={"rotated": rotated},
                    )
            return Redirect(f"{kind.path}?done=saved", status_code=303)
        except (RouterError, AccountError) as error:
            errors = {error.field: str(error)}
    action = f"{kind.path}/{row['id']}/edit"
    return await _form(request, kind, row["tenant_id"], fields, errors, action, status_code=400)


# -- routers --


async def _router_list(request: Request, tenants: Scope, result: Result | None = None) -> Template:
    return await page(
        request, "routers", routers=await routers.routers(services(request).db, tenants), result=result
    )


@get("/routers")
async def router_list(request: Request, tenants: Tenants) -> Template:
    return await _router_list(request, tenants)


@get("/routers/new", guards=[may_change])
async def router_new(request: Request, tenants: Tenants) -> Template:
    return await _new(request, tenants, ROUTER)


@post("/routers/new", guards=[may_change])
async def router_create(request: Request, tenants: Tenants) -> Template | Redirect:
    return await _create(request, tenants, ROUTER)


@get("/routers/{router_id:int}/edit", guards=[may_change])
async def router_edit(request: Request, tenants: Tenants, router_id: FromPath[int]) -> Template:
    return await _edit(request, tenants, ROUTER, router_id)


@post("/routers/{router_id:int}/edit", guards=[may_change])
async def router_update(request: Request, tenants: Tenants, router_id: FromPath[int]) -> Template | Redirect:
    return await _update(request, tenants, ROUTER, router_id)


@post("/routers/{router_id:int}/check", guards=[may_change])
async def router_check(request: Request, tenants: Tenants, router_id: FromPath[int]) -> Template:
    """Reaches the router and says what it is; what happened is remembered for the dashboard."""
    row = await _find(request, tenants, ROUTER, router_id)
    db, clock = services(request).db, services(request).clock
    try:
        health = await (await services(request).gateways.get(row)).health()
    except GatewayError as error:
        await routers.record_contact(db, clock, row["id"], str(error))
        result = Result(False, f"{row['name']} did not answer", [str(error)])
        return await _router_list(request, tenants, result)
    await routers.record_contact(db, clock, row["id"], None)
    lines = [
        f"Identity: {health.identity}",
        f"RouterOS {health.version} on {health.board or 'an unknown board'},"
        f" up {format_duration(health.uptime)}",
        f"Hotspot users: {health.users} ({health.our_users} made by portal)",
        f"Online now: {health.active} · devices on the hotspot: {health.hosts}",
    ]
    return await _router_list(request, tenants, Result(True, f"{row['name']} answers", lines))


@post("/routers/{router_id:int}/provision", guards=[may_change])
async def router_provision(request: Request, tenants: Tenants, router_id: FromPath[int]) -> Template:
    """Sets the router up for portal (package profiles, walled garden, login page); safe to repeat."""
    row = await _find(request, tenants, ROUTER, router_id)
    portal_url = services(request).settings.server.portal_url
    if not portal_url:
        explanation = (
            "The router needs the address at which Wi-Fi customers reach this portal. Set it as"
            " portal_url under [server] in /etc/portal/portal.toml (for example"
            ' portal_url = "http://10.5.50.2:8080"), restart portal, then provision again.'
        )
        return await _router_list(
            request, tenants, Result(False, f"{row['name']} was not set up", [explanation])
        )
    db, clock = services(request).db, services(request).clock
    try:
        changes = await routers.provision(db, services(request).gateways, row, portal_url)
    except GatewayError as error:
        await routers.record_contact(db, clock, row["id"], str(error) if error.outage else None)
        return await _router_list(
            request, tenants, Result(False, f"{row['name']} was not set up", [str(error)])
        )
    async with db.transaction() as tx:
        await routers.record_contact_in(tx, clock, row["id"], None)
        await audit_change(
            tx,
            request,
            tenant_id=row["tenant_id"],
            action="router_provisioned",
            target=f"router:{row['id']}",
            detail={"portal_url": portal_url},
        )
    return await _router_list(request, tenants, Result(True, f"{row['name']} is set up for portal", changes))


# -- M-Pesa accounts --


async def _account_list(request: Request, tenants: Scope, result: Result | None = None) -> Template:
    return await page(
        request,
        "accounts",
        accounts=await accounts.accounts(services(request).db, tenants),
        kinds=KINDS,
        result=result,
    )


@get("/mpesa")
async def account_list(request: Request, tenants: Tenants) -> Template:
    return await _account_list(request, tenants)


@get("/mpesa/new", guards=[may_change])
async def account_new(request: Request, tenants: Tenants) -> Template:
    return await _new(request, tenants, ACCOUNT)


@post("/mpesa/new", guards=[may_change])
async def account_create(request: Request, tenants: Tenants) -> Template | Redirect:
    return await _create(request, tenants, ACCOUNT)


@get("/mpesa/{account_id:int}/edit", guards=[may_change])
async def account_edit(request: Request, tenants: Tenants, account_id: FromPath[int]) -> Template:
    return await _edit(request, tenants, ACCOUNT, account_id)


@post("/mpesa/{account_id:int}/edit", guards=[may_change])
async def account_update(
    request: Request, tenants: Tenants, account_id: FromPath[int]
) -> Template | Redirect:
    return await _update(request, tenants, ACCOUNT, account_id)


@post("/mpesa/{account_id:int}/test", guards=[may_change])
async def account_test(request: Request, tenants: Tenants, account_id: FromPath[int]) -> Template:
    """Are the stored credentials right, for this environment? Asked of Daraja without charging anyone."""
    row = await _find(request, tenants, ACCOUNT, account_id)
    account = await accounts.load_account(services(request).db, services(request).vault, row["id"])
    try:
        await services(request).daraja.check_credentials(account)
    except DarajaError as error:
        result = Result(False, f"{row['name']}: the credentials did not work", [_daraja_trouble(error)])
    else:
        result = Result(
            True,
            f"{row['name']}: Daraja accepted the credentials",
            [
                "The consumer key and secret opened a session, and Daraja did not refuse the shortcode"
                " and passkey. A payment with the smallest package proves the rest."
            ],
        )
    return await _account_list(request, tenants, result)


def _daraja_trouble(error: DarajaError) -> str:
    """Daraja's refusal in plain words; its own words follow (they never hold a secret)."""
    if isinstance(error, AuthError):
        return (
            "Daraja refused the consumer key and secret. Check that both were copied whole from your app"
            " on the Daraja portal, and that the environment matches them (sandbox keys do not work in"
            f" production). Daraja said: {error}"
        )
    if isinstance(error, CredentialError | ValidationError):
        return (
            "Daraja accepted the consumer key and secret but refused the shortcode or the passkey. The"
            " shortcode is your PayBill number or, for a Till, the store number (head office), not the"
            " till number; the passkey is the one Safaricom sent for that shortcode when it went live"
            f" (the sandbox passkey works only with 174379). Daraja said: {error}"
        )
    if isinstance(error, UnavailableError):
        return f"Daraja could not be reached from this box, so nothing was checked: {error}. Try again later."
    return f"Daraja answered with an error: {error}"


handlers = [
    router_list,
    router_new,
    router_create,
    router_edit,
    router_update,
    router_check,
    router_provision,
    account_list,
    account_new,
    account_create,
    account_edit,
    account_update,
    account_test,
]
