"""What the portal connects to: routers and M-Pesa accounts. Their secrets can be set, never read."""

from dataclasses import asdict

from litestar import Request, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template

from ... import mpesa_accounts, routers
from ...mpesa_accounts import ENVIRONMENTS, KINDS, SECRETS, account_fields, read_account
from ...routers import RouterError, read_router, router_fields
from ...scope import Scope
from .base import Tenants, audit_change, form_fields, may_change, page, row_id, services, tenant_for_new_rows


@get("/routers")
async def router_list(request: Request, tenants: Tenants) -> Template:
    return await page(request, "routers", routers=await routers.routers(services(request).db, tenants))


async def _router(request: Request, tenants: Scope, router_id: int):
    row = await routers.router(services(request).db, tenants, row_id(router_id))
    if row is None:
        raise NotFoundException()
    return row


async def _router_form(
    request: Request, tenant_id: int, *, fields: dict, errors: dict, action: str, status_code: int = 200
) -> Template:
    return await page(
        request,
        "router_form",
        status_code=status_code,
        fields=fields,
        errors=errors,
        action=action,
        accounts=await mpesa_accounts.accounts(services(request).db, Scope((tenant_id,))),
    )


async def _check_account(request: Request, tenant_id: int, spec: routers.RouterSpec) -> None:
    """The router's M-Pesa account must be one of the router's own tenant."""
    if spec.mpesa_account_id is not None and not await mpesa_accounts.account(
        services(request).db, Scope((tenant_id,)), row_id(spec.mpesa_account_id)
    ):
        raise NotFoundException()


@get("/routers/new", guards=[may_change])
async def router_new(request: Request, tenants: Tenants) -> Template:
    tenant_id = tenant_for_new_rows(tenants)
    return await _router_form(
        request, tenant_id, fields={"hotspot_server": "all"}, errors={}, action="/admin/routers/new"
    )


@post("/routers/new", guards=[may_change])
async def router_create(request: Request, tenants: Tenants) -> Template | Redirect:
    tenant_id = tenant_for_new_rows(tenants)
    fields = form_fields(await request.form())
    spec, errors = read_router(fields, new=True)
    if spec is not None:
        await _check_account(request, tenant_id, spec)
        try:
            async with services(request).db.transaction() as tx:
                router_id = await routers.create_router(
                    tx, services(request).clock, services(request).vault, tenant_id, spec
                )
                await audit_change(
                    tx,
                    request,
                    tenant_id=tenant_id,
                    action="router_added",
                    target=f"router:{spec.name}",
                    detail={"host": spec.host, "port": spec.port, "username": spec.username, "id": router_id},
                )
            return Redirect("/admin/routers?done=saved", status_code=303)
        except RouterError as error:
            errors = {error.field: str(error)}
    fields.pop("password", None)
    return await _router_form(
        request, tenant_id, fields=fields, errors=errors, action="/admin/routers/new", status_code=400
    )


@get("/routers/{router_id:int}/edit", guards=[may_change])
async def router_edit(request: Request, tenants: Tenants, router_id: FromPath[int]) -> Template:
    row = await _router(request, tenants, router_id)
    return await _router_form(
        request,
        row["tenant_id"],
        fields=router_fields(row),
        errors={},
        action=f"/admin/routers/{router_id}/edit",
    )


@post("/routers/{router_id:int}/edit", guards=[may_change])
async def router_update(request: Request, tenants: Tenants, router_id: FromPath[int]) -> Template | Redirect:
    row = await _router(request, tenants, router_id)
    fields = form_fields(await request.form())
    spec, errors = read_router(fields, new=False)
    if spec is not None:
        await _check_account(request, row["tenant_id"], spec)
        before = router_fields(row)
        changed = sorted(key for key, value in router_fields(asdict(spec)).items() if before[key] != value)
        try:
            async with services(request).db.transaction() as tx:
                await routers.update_router(tx, services(request).vault, router_id, row["tenant_id"], spec)
                if changed:
                    await audit_change(
                        tx,
                        request,
                        tenant_id=row["tenant_id"],
                        action="router_changed",
                        target=f"router:{spec.name}",
                        detail={"changed": changed},
                    )
                if spec.password:
                    await audit_change(
                        tx,
                        request,
                        tenant_id=row["tenant_id"],
                        action="router_password_changed",
                        target=f"router:{spec.name}",
                    )
            return Redirect("/admin/routers?done=saved", status_code=303)
        except RouterError as error:
            errors = {error.field: str(error)}
    fields.pop("password", None)
    return await _router_form(
        request,
        row["tenant_id"],
        fields=fields,
        errors=errors,
        action=f"/admin/routers/{router_id}/edit",
        status_code=400,
    )


@get("/mpesa")
async def account_list(request: Request, tenants: Tenants) -> Template:
    return await page(
        request,
        "accounts",
        accounts=await mpesa_accounts.accounts(services(request).db, tenants),
        kinds=KINDS,
    )


async def _account(request: Request, tenants: Scope, account_id: int):
    row = await mpesa_accounts.account(services(request).db, tenants, row_id(account_id))
    if row is None:
        raise NotFoundException()
    return row


async def _account_form(
    request: Request, *, fields: dict, errors: dict, action: str, new: bool, status_code=200
):
    for secret in SECRETS:  # never sent back to the browser, not even what was just typed
        fields.pop(secret, None)
    return await page(
        request,
        "account_form",
        status_code=status_code,
        fields=fields,
        errors=errors,
        action=action,
        new=new,
        kinds=KINDS,
        environments=ENVIRONMENTS,
        secrets=SECRETS,
    )


@get("/mpesa/new", guards=[may_change])
async def account_new(request: Request, tenants: Tenants) -> Template:
    tenant_for_new_rows(tenants)
    fields = {"kind": "paybill", "environment": "production"}
    return await _account_form(request, fields=fields, errors={}, action="/admin/mpesa/new", new=True)


@post("/mpesa/new", guards=[may_change])
async def account_create(request: Request, tenants: Tenants) -> Template | Redirect:
    tenant_id = tenant_for_new_rows(tenants)
    fields = form_fields(await request.form())
    spec, errors = read_account(fields, new=True)
    if spec is None:
        return await _account_form(
            request, fields=fields, errors=errors, action="/admin/mpesa/new", new=True, status_code=400
        )
    async with services(request).db.transaction() as tx:
        account_id = await mpesa_accounts.create_account(
            tx, services(request).clock, services(request).vault, tenant_id, spec
        )
        await audit_change(
            tx,
            request,
            tenant_id=tenant_id,
            action="mpesa_account_added",
            target=f"mpesa_account:{account_id}",
            detail={
                "name": spec.name,
                "kind": spec.kind,
                "shortcode": spec.shortcode,
                "environment": spec.environment,
            },
        )
    return Redirect("/admin/mpesa?done=saved", status_code=303)


@get("/mpesa/{account_id:int}/edit", guards=[may_change])
async def account_edit(request: Request, tenants: Tenants, account_id: FromPath[int]) -> Template:
    row = await _account(request, tenants, account_id)
    return await _account_form(
        request, fields=account_fields(row), errors={}, action=f"/admin/mpesa/{account_id}/edit", new=False
    )


@post("/mpesa/{account_id:int}/edit", guards=[may_change])
async def account_update(
    request: Request, tenants: Tenants, account_id: FromPath[int]
) -> Template | Redirect:
    row = await _account(request, tenants, account_id)
    fields = form_fields(await request.form())
    spec, errors = read_account(fields, new=False)
    if spec is None:
        return await _account_form(
            request,
            fields=fields,
            errors=errors,
            action=f"/admin/mpesa/{account_id}/edit",
            new=False,
            status_code=400,
        )
    before = account_fields(row)
    changed = sorted(key for key, value in account_fields(asdict(spec)).items() if before[key] != value)
    target = f"mpesa_account:{account_id}"
    async with services(request).db.transaction() as tx:
        await mpesa_accounts.update_account(
            tx, services(request).clock, services(request).vault, account_id, row["tenant_id"], spec
        )
        if changed:
            await audit_change(
                tx,
                request,
                tenant_id=row["tenant_id"],
                action="mpesa_account_changed",
                target=target,
                detail={"changed": changed},
            )
        if spec.secrets:
            await audit_change(
                tx,
                request,
                tenant_id=row["tenant_id"],
                action="mpesa_credentials_rotated",
                target=target,
                detail={"rotated": sorted(spec.secrets)},
            )
    return Redirect("/admin/mpesa?done=saved", status_code=303)


handlers = [
    router_list,
    router_new,
    router_create,
    router_edit,
    router_update,
    account_list,
    account_new,
    account_create,
    account_edit,
    account_update,
]
