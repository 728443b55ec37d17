"""What is sold: packages (create, edit, hide, order) and voucher batches (generate, print, void)."""

from litestar import Request, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template

from ... import packages, vouchers
from ...numbers import is_digits, whole
from ...packages import CAP_UNITS, DURATION_UNITS, package_fields, read_package
from ...scope import Scope
from .base import (
    Tenants,
    audit_change,
    form_fields,
    may_change,
    owned,
    page,
    services,
    tenant_for_new_rows,
)

NEW_PACKAGE = {"duration": "1", "duration_unit": "hours", "data_cap_unit": "MB"}


async def _package(request: Request, tenants: Scope, package_id: int | str):
    return await owned(request, packages.package, tenants, package_id)


async def _package_form(request: Request, *, fields: dict, errors: dict, action: str, status_code: int = 200):
    return await page(
        request,
        "package_form",
        status_code=status_code,
        fields=fields,
        errors=errors,
        action=action,
        duration_units=list(DURATION_UNITS),
        cap_units=list(CAP_UNITS),
    )


@get("/packages")
async def package_list(request: Request, tenants: Tenants) -> Template:
    return await page(request, "packages", packages=await packages.packages(services(request).db, tenants))


@get("/packages/new", guards=[may_change])
async def package_new(request: Request, tenants: Tenants) -> Template:
    tenant_for_new_rows(tenants)
    return await _package_form(request, fields=NEW_PACKAGE, errors={}, action="/admin/packages/new")


@post("/packages/new", guards=[may_change])
async def package_create(request: Request, tenants: Tenants) -> Template | Redirect:
    tenant_id = tenant_for_new_rows(tenants)
    fields = form_fields(await request.form())
    spec, errors = read_package(fields)
    if spec is None:
        return await _package_form(
            request, fields=fields, errors=errors, action="/admin/packages/new", status_code=400
        )
    async with services(request).db.transaction() as tx:
        package_id = await packages.create_package(tx, services(request).clock, tenant_id, spec)
        await audit_change(
            tx,
            request,
            tenant_id=tenant_id,
            action="package_created",
            target=f"package:{package_id}",
            detail={"name": spec.name, "price": spec.price},
        )
    return Redirect("/admin/packages?done=saved", status_code=303)


@get("/packages/{package_id:int}/edit", guards=[may_change])
async def package_edit(request: Request, tenants: Tenants, package_id: FromPath[int]) -> Template:
    row = await _package(request, tenants, package_id)
    return await _package_form(
        request, fields=package_fields(row), errors={}, action=f"/admin/packages/{package_id}/edit"
    )


@post("/packages/{package_id:int}/edit", guards=[may_change])
async def package_update(
    request: Request, tenants: Tenants, package_id: FromPath[int]
) -> Template | Redirect:
    row = await _package(request, tenants, package_id)
    fields = form_fields(await request.form())
    spec, errors = read_package(fields)
    if spec is None:
        return await _package_form(
            request,
            fields=fields,
            errors=errors,
            action=f"/admin/packages/{package_id}/edit",
            status_code=400,
        )
    async with services(request).db.transaction() as tx:
        if changed := packages.changes(row, spec):
            await packages.update_package(tx, services(request).clock, package_id, row["tenant_id"], spec)
            await audit_change(
                tx,
                request,
                tenant_id=row["tenant_id"],
                action="package_changed",
                target=f"package:{package_id}",
                detail=changed,
            )
    return Redirect("/admin/packages?done=saved", status_code=303)


@post("/packages/{package_id:int}/hide", guards=[may_change])
async def package_hide(request: Request, tenants: Tenants, package_id: FromPath[int]) -> Redirect:
    row = await _package(request, tenants, package_id)
    hidden = form_fields(await request.form()).get("hidden") == "1"
    async with services(request).db.transaction() as tx:
        if await packages.set_hidden(tx, services(request).clock, package_id, row["tenant_id"], hidden):
            await audit_change(
                tx,
                request,
                tenant_id=row["tenant_id"],
                action="package_hidden" if hidden else "package_shown",
                target=f"package:{package_id}",
            )
    return Redirect("/admin/packages", status_code=303)


@post("/packages/{package_id:int}/move", guards=[may_change])
async def package_move(request: Request, tenants: Tenants, package_id: FromPath[int]) -> Redirect:
    row = await _package(request, tenants, package_id)
    step = -1 if form_fields(await request.form()).get("direction") == "up" else 1
    async with services(request).db.transaction() as tx:
        if await packages.move_package(tx, services(request).clock, package_id, row["tenant_id"], step):
            await audit_change(
                tx,
                request,
                tenant_id=row["tenant_id"],
                action="package_moved",
                target=f"package:{package_id}",
                detail={"direction": "up" if step < 0 else "down"},
            )
    return Redirect("/admin/packages", status_code=303)


@get("/vouchers")
async def voucher_list(request: Request, tenants: Tenants) -> Template:
    return await _voucher_list(request, tenants)


async def _voucher_list(request: Request, tenants: Scope, status_code: int = 200, **extra) -> Template:
    db = services(request).db
    on_sale = [row for row in await packages.packages(db, tenants) if not row["hidden"]]
    return await page(
        request,
        "vouchers",
        status_code=status_code,
        batches=await vouchers.batches(db, tenants),
        packages=on_sale,
        max_batch=vouchers.MAX_BATCH,
        **extra,
    )


@post("/vouchers", guards=[may_change])
async def voucher_generate(request: Request, tenants: Tenants) -> Template | Redirect:
    fields = form_fields(await request.form())
    package_id, count = fields.get("package_id", ""), fields.get("count", "").strip()
    if not is_digits(package_id):
        return await _voucher_list(
            request, tenants, 400, fields=fields, errors={"package_id": "Pick a package."}
        )
    row = await _package(request, tenants, package_id)  # the package decides the tenant
    if not 1 <= (whole(count, 5) or 0) <= vouchers.MAX_BATCH:
        error = f"Make 1 to {vouchers.MAX_BATCH} vouchers at a time."
        return await _voucher_list(request, tenants, 400, fields=fields, errors={"count": error})
    async with services(request).db.transaction() as tx:
        batch = await vouchers.generate_batch(
            tx, services(request).clock, services(request).vault, row["tenant_id"], row["id"], int(count)
        )
        await audit_change(
            tx,
            request,
            tenant_id=row["tenant_id"],
            action="vouchers_generated",
            target=f"batch:{batch}",
            detail={"package": row["name"], "count": int(count)},
        )
    return Redirect(f"/admin/vouchers/{batch}?done=generated", status_code=303)


async def _batch(request: Request, tenants: Scope, batch: str):
    row = await vouchers.batch(services(request).db, tenants, batch) if vouchers.is_batch(batch) else None
    if row is None:
        raise NotFoundException()
    return row


@get("/vouchers/{batch:str}")
async def voucher_batch(request: Request, tenants: Tenants, batch: FromPath[str]) -> Template:
    row = await _batch(request, tenants, batch)
    codes = await vouchers.batch_vouchers(services(request).db, services(request).vault, tenants, batch)
    return await page(request, "voucher_batch", batch=row, vouchers=codes)


@get("/vouchers/{batch:str}/print")
async def voucher_sheet(request: Request, tenants: Tenants, batch: FromPath[str]) -> Template:
    row = await _batch(request, tenants, batch)
    codes = await vouchers.batch_vouchers(services(request).db, services(request).vault, tenants, batch)
    return await page(
        request, "voucher_sheet", batch=row, vouchers=[code for code in codes if code.state == "unused"]
    )


@post("/vouchers/{batch:str}/void", guards=[may_change])
async def voucher_void(request: Request, tenants: Tenants, batch: FromPath[str]) -> Redirect:
    row = await _batch(request, tenants, batch)
    async with services(request).db.transaction() as tx:
        if voided := await vouchers.void_unused(tx, row["tenant_id"], batch):
            await audit_change(
                tx,
                request,
                tenant_id=row["tenant_id"],
                action="vouchers_voided",
                target=f"batch:{batch}",
                detail={"count": voided},
            )
    return Redirect(f"/admin/vouchers/{batch}?done=voided", status_code=303)


handlers = [
    package_list,
    package_new,
    package_create,
    package_edit,
    package_update,
    package_hide,
    package_move,
    voucher_list,
    voucher_generate,
    voucher_batch,
    voucher_sheet,
    voucher_void,
]
