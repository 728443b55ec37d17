"""What is sold: packages (create, edit, hide, order) and voucher batches (generate at a price, print,
mark sold, void)."""

from collections.abc import Callable
from dataclasses import replace

from litestar import Request, get, post
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.params import FromPath
from litestar.response import Redirect, Template

from ...access import plans
from ...billing import removal, vouchers
from ...catalog import packages
from ...catalog.packages import MAX_DURATION, MAX_PRICE, Package, PackageSpec
from ...gateways.base import SPEED
from ...store import Connection
from ...tenancy.admins import SEE_EVERY_VOUCHER_CODE, SELL_VOUCHERS, SET_VOUCHER_PRICE, Admin
from ...tenancy.scope import Scope
from ...typed_numbers import is_digits, whole
from .base import (
    REFUSED,
    CurrentAdmin,
    Shown,
    Tenants,
    audit_change,
    form_fields,
    kept_or_deleted,
    may_change,
    needs,
    owned,
    page,
    services,
    tenant_for_new_rows,
)

NEW_PACKAGE = {"duration": "1", "duration_unit": "hours", "data_cap_unit": "MB"}
DURATION_UNITS = {"minutes": 60, "hours": 3600, "days": 86400}
CAP_UNITS = {"MB": 1000**2, "GB": 1000**3}


def read_package(form: dict[str, str]) -> tuple[PackageSpec | None, dict[str, str]]:
    """A package from form fields as typed, or what is wrong with each field."""
    errors = {}
    name = " ".join(form.get("name", "").split())
    if not name:
        errors["name"] = "Give the package a name customers understand, like “1 hour”."
    elif len(name) > 40:
        errors["name"] = "Keep the name under 40 characters; it has to fit on a phone."
    price = _whole(form.get("price", ""))
    if price is None or not 1 <= price <= MAX_PRICE:
        errors["price"] = f"The price is a whole number of shillings from 1 to {MAX_PRICE:,}."
    amount, unit = _whole(form.get("duration", "")), form.get("duration_unit", "")
    if amount is None or amount < 1 or unit not in DURATION_UNITS:
        errors["duration"] = "Say how long it lasts: a whole number of minutes, hours or days."
    elif amount * DURATION_UNITS[unit] > MAX_DURATION:
        errors["duration"] = "A package can last at most a year."
    rate_limit = form.get("rate_limit", "").strip()
    if rate_limit and not SPEED.match(rate_limit):
        errors["rate_limit"] = (
            "Write the speed as upload/download, like 1M/2M or 512k/1M; leave empty for no limit."
        )
    cap, cap_unit = form.get("data_cap", "").strip(), form.get("data_cap_unit", "")
    cap_amount = _whole(cap)
    if cap and (cap_amount is None or cap_amount < 1 or cap_unit not in CAP_UNITS):
        errors["data_cap"] = "The data cap is a whole number of MB or GB; leave empty for no cap."
    if errors:
        return None, errors
    return (
        PackageSpec(
            name=name,
            price=price,
            duration_seconds=amount * DURATION_UNITS[unit],
            rate_limit=rate_limit,
            data_cap_bytes=cap_amount * CAP_UNITS[cap_unit] if cap else None,
        ),
        {},
    )


def package_fields(package: Package) -> dict[str, str]:
    """A stored package as the form fields that would make it."""
    unit = next(
        unit for unit in ("days", "hours", "minutes") if package.duration_seconds % DURATION_UNITS[unit] == 0
    )
    fields = {
        "name": package.name,
        "price": str(package.price),
        "duration": str(package.duration_seconds // DURATION_UNITS[unit]),
        "duration_unit": unit,
        "rate_limit": package.rate_limit,
        "data_cap": "",
        "data_cap_unit": "MB",
    }
    if cap := package.data_cap_bytes:
        cap_unit = "GB" if cap % CAP_UNITS["GB"] == 0 else "MB"
        fields.update(data_cap=str(cap // CAP_UNITS[cap_unit]), data_cap_unit=cap_unit)
    return fields


def _whole(text: str) -> int | None:
    return whole(text.replace(",", ""))


async def _package(request: Request, tenants: Scope, package_id: int | str) -> Package:
    return await owned(request, packages.get, tenants, package_id)


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
    return await page(
        request, "packages", packages=await services(request).store.read(packages.in_scope, tenants)
    )


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

    def create(db: Connection) -> None:
        package_id = packages.create(db, services(request).clock, tenant_id, spec)
        plans.tell_routers(db, services(request).clock, tenant_id)
        detail = {"name": spec.name, "price": spec.price}
        audit_change(
            db,
            request,
            tenant_id=tenant_id,
            action="package_created",
            target=f"package:{package_id}",
            detail=detail,
        )

    return await _save(request, create, fields, "/admin/packages/new")


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

    def update(db: Connection) -> None:
        if changed := packages.changes(row, spec):
            packages.update(db, services(request).clock, package_id, row.tenant_id, spec)
            plans.tell_routers(db, services(request).clock, row.tenant_id)
            audit_change(
                db,
                request,
                tenant_id=row.tenant_id,
                action="package_changed",
                target=f"package:{package_id}",
                detail=changed,
            )

    return await _save(request, update, fields, f"/admin/packages/{package_id}/edit")


async def _save(
    request: Request, change: Callable[[Connection], None], fields: dict, action: str
) -> Template | Redirect:
    """Writes the package; a name the business uses already is its form again, saying so."""
    try:
        await services(request).store.write(change)
    except packages.NameTaken as taken:
        return await _package_form(
            request, fields=fields, errors={"name": str(taken)}, action=action, status_code=400
        )
    return Redirect("/admin/packages?done=saved", status_code=303)


@get("/packages/{package_id:int}/disable", guards=[may_change])
async def package_disable_form(
    request: Request, tenants: Tenants, package_id: FromPath[int]
) -> Template | Redirect:
    row = await _package(request, tenants, package_id)
    if row.hidden:
        return Redirect("/admin/packages", status_code=303)  # done already (a second tab, the back button)
    found = await services(request).store.read(removal.of_package, row.id)
    return await page(
        request,
        "confirm",
        title=f"Disable {row.name}?",
        consequences=[*_package_consequences(row, found), "You can enable it again here whenever you like."],
        action=f"/admin/packages/{row.id}/disable",
        button=f"Disable {row.name}",
        back="/admin/packages",
    )


def _package_consequences(row: Package, found: removal.Footprint) -> list[str]:
    live = (
        f"{found.live} customer{' is' if found.live == 1 else 's are'} online with it now: they keep their"
        " time until it ends."
        if found.live
        else "No one is online with it now."
    )
    return [
        f"The Wi-Fi page no longer offers {row.name}, and no new vouchers are made for it.",
        live,
        "Unused vouchers for it still work until you void their batch.",
        "Payments, sessions and the audit log keep showing its name: they are your books.",
    ]


@post("/packages/{package_id:int}/disable", guards=[may_change])
async def package_disable(request: Request, tenants: Tenants, package_id: FromPath[int]) -> Redirect:
    return await _set_hidden(request, tenants, package_id, hidden=True)


@post("/packages/{package_id:int}/enable", guards=[may_change])
async def package_enable(request: Request, tenants: Tenants, package_id: FromPath[int]) -> Redirect:
    return await _set_hidden(request, tenants, package_id, hidden=False)


async def _set_hidden(request: Request, tenants: Scope, package_id: int, *, hidden: bool) -> Redirect:
    row = await _package(request, tenants, package_id)

    def change(db: Connection) -> None:
        if packages.set_hidden(db, services(request).clock, package_id, row.tenant_id, hidden):
            action = "package_disabled" if hidden else "package_enabled"
            audit_change(db, request, tenant_id=row.tenant_id, action=action, target=f"package:{package_id}")

    await services(request).store.write(change)
    return Redirect(f"/admin/packages?done={'disabled' if hidden else 'enabled'}", status_code=303)


@get("/packages/{package_id:int}/remove", guards=[may_change])
async def package_remove_form(
    request: Request, tenants: Tenants, package_id: FromPath[int]
) -> Template | Redirect:
    row = await _package(request, tenants, package_id)
    if row.removed_at is not None:
        return Redirect("/admin/packages", status_code=303)
    found = await services(request).store.read(removal.of_package, row.id)
    return await page(
        request,
        "confirm",
        title=f"Remove {row.name}?",
        consequences=[kept_or_deleted(row.name, found), *_package_consequences(row, found)],
        action=f"/admin/packages/{row.id}/remove",
        button=f"Remove {row.name}",
        back="/admin/packages",
    )


@post("/packages/{package_id:int}/remove", guards=[may_change])
async def package_remove(request: Request, tenants: Tenants, package_id: FromPath[int]) -> Redirect:
    row = await _package(request, tenants, package_id)
    if row.removed_at is not None:
        return Redirect("/admin/packages", status_code=303)

    def remove(db: Connection) -> bool:
        found = removal.remove_package(db, services(request).clock, row)
        detail = {"name": row.name, "kept": found.kept}
        target = f"package:{row.id}"
        audit_change(
            db, request, tenant_id=row.tenant_id, action="package_removed", target=target, detail=detail
        )
        return found.kept

    kept = await services(request).store.write(remove)
    return Redirect(f"/admin/packages?done={'kept' if kept else 'deleted'}", status_code=303)


@post("/packages/{package_id:int}/move", guards=[may_change])
async def package_move(request: Request, tenants: Tenants, package_id: FromPath[int]) -> Redirect:
    row = await _package(request, tenants, package_id)
    step = -1 if form_fields(await request.form()).get("direction") == "up" else 1

    def move(db: Connection) -> None:
        if packages.move(db, services(request).clock, package_id, row.tenant_id, step):
            detail = {"direction": "up" if step < 0 else "down"}
            audit_change(
                db,
                request,
                tenant_id=row.tenant_id,
                action="package_moved",
                target=f"package:{package_id}",
                detail=detail,
            )

    await services(request).store.write(move)
    return Redirect("/admin/packages", status_code=303)


@get("/vouchers")
async def voucher_list(request: Request, tenants: Tenants) -> Template:
    return await _voucher_list(request, tenants)


def _batches(db: Connection, tenants: Scope) -> tuple[list[Shown], list[Package]]:
    """The batches with their package's name, price and time; and the packages on sale."""
    # A batch outlives its package's removal: the package is named still.
    found, every = vouchers.batches(db, tenants), packages.in_scope(db, tenants, removed_too=True)
    by_id = {package.id: package for package in every}
    return [_batch_shown(batch, by_id[batch.package_id]) for batch in found], [
        p for p in every if not p.hidden
    ]


def _batch_shown(batch: vouchers.Batch, package: Package) -> Shown:
    return Shown(
        batch, package=package.name, package_price=package.price, duration_seconds=package.duration_seconds
    )


async def _voucher_list(request: Request, tenants: Scope, status_code: int = 200, **extra) -> Template:
    batches, on_sale = await services(request).store.read(_batches, tenants)
    return await page(
        request,
        "vouchers",
        status_code=status_code,
        batches=batches,
        packages=on_sale,
        max_batch=vouchers.MAX_BATCH,
        **extra,
    )


@post("/vouchers", guards=[needs(SELL_VOUCHERS)])
async def voucher_generate(request: Request, admin: CurrentAdmin, tenants: Tenants) -> Template | Redirect:
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
    typed_price = fields.get("price", "").strip()
    if typed_price and not admin.may(SET_VOUCHER_PRICE):  # their form has no price: someone tried
        raise PermissionDeniedException(REFUSED[SET_VOUCHER_PRICE])
    price = _whole(typed_price) if typed_price else row.price
    if price is None or not 0 <= price <= MAX_PRICE:
        error = f"The selling price is a whole number of shillings from 0 (free) to {MAX_PRICE:,}."
        return await _voucher_list(request, tenants, 400, fields=fields, errors={"price": error})

    def generate(db: Connection) -> str:
        batch = vouchers.generate_batch(
            db,
            services(request).clock,
            services(request).vault,
            row.tenant_id,
            row.id,
            int(count),
            price,
            made_by=admin.user_id,
        )
        detail = {"package": row.name, "count": int(count), "price": price}
        audit_change(
            db,
            request,
            tenant_id=row.tenant_id,
            action="vouchers_generated",
            target=f"batch:{batch}",
            detail=detail,
        )
        return batch

    batch = await services(request).store.write(generate)
    return Redirect(f"/admin/vouchers/{batch}?done=generated", status_code=303)


def _batch_and_codes(db: Connection, vault, tenants: Scope, name: str) -> tuple[Shown | None, list]:
    batch = vouchers.batch(db, tenants, name)
    if batch is None:
        return None, []
    shown = _batch_shown(batch, packages.get(db, batch.package_id))
    return shown, vouchers.batch_vouchers(db, vault, tenants, name)


async def _batch(request: Request, tenants: Scope, name: str) -> tuple[Shown, list]:
    found = None, []
    if vouchers.is_batch(name):
        found = await services(request).store.read(_batch_and_codes, services(request).vault, tenants, name)
    if found[0] is None:
        raise NotFoundException()
    return found


def _sees_codes(admin: Admin, batch: Shown) -> bool:
    """An unused code is money: its batch's maker and the owner see it (tenancy/admins.py RIGHTS)."""
    return admin.may(SEE_EVERY_VOUCHER_CODE) or batch.made_by == admin.user_id


@get("/vouchers/{batch:str}")
async def voucher_batch(
    request: Request, admin: CurrentAdmin, tenants: Tenants, batch: FromPath[str]
) -> Template:
    row, codes = await _batch(request, tenants, batch)
    if not _sees_codes(admin, row):  # used and void codes buy nothing: support may still read them
        codes = [replace(code, code="") if code.state == "unused" else code for code in codes]
    return await page(request, "voucher_batch", batch=row, vouchers=codes, sees_codes=_sees_codes(admin, row))


@get("/vouchers/{batch:str}/print")
async def voucher_sheet(
    request: Request, admin: CurrentAdmin, tenants: Tenants, batch: FromPath[str]
) -> Template:
    row, codes = await _batch(request, tenants, batch)
    if not _sees_codes(admin, row):
        raise PermissionDeniedException(REFUSED[SEE_EVERY_VOUCHER_CODE])
    return await page(
        request, "voucher_sheet", batch=row, vouchers=[code for code in codes if code.state == "unused"]
    )


@get("/vouchers/{batch:str}/void", guards=[may_change])
async def voucher_void_form(request: Request, tenants: Tenants, batch: FromPath[str]) -> Template | Redirect:
    row, _ = await _batch(request, tenants, batch)
    if not row.unused:
        return Redirect(f"/admin/vouchers/{batch}", status_code=303)
    unused = f"{row.unused} unused voucher{'s' if row.unused != 1 else ''}"
    sold = row.unused - row.unsold
    return await page(
        request,
        "confirm",
        title=f"Void the {unused} of batch {batch}?",
        consequences=[
            f"The {unused} stop working now: a customer who types one is told it is not valid.",
            *(
                [f"{sold} of them were marked sold: whoever bought them gets nothing for them."]
                if sold
                else []
            ),
            f"The {row.used} used ones and the time they bought are not touched; the batch stays in the"
            " list and the books.",
            "This can't be undone: to sell more, make a new batch.",
        ],
        action=f"/admin/vouchers/{batch}/void",
        button=f"Void the {row.unused} unused",
        back=f"/admin/vouchers/{batch}",
    )


@post("/vouchers/{batch:str}/void", guards=[may_change])
async def voucher_void(request: Request, tenants: Tenants, batch: FromPath[str]) -> Redirect:
    row, _ = await _batch(request, tenants, batch)

    def void(db: Connection) -> None:
        if voided := vouchers.void_unused(db, row.tenant_id, batch):
            audit_change(
                db,
                request,
                tenant_id=row.tenant_id,
                action="vouchers_voided",
                target=f"batch:{batch}",
                detail={"count": voided},
            )

    await services(request).store.write(void)
    return Redirect(f"/admin/vouchers/{batch}?done=voided", status_code=303)


@get("/vouchers/{batch:str}/remove", guards=[may_change])
async def voucher_remove_form(
    request: Request, tenants: Tenants, batch: FromPath[str]
) -> Template | Redirect:
    row, _ = await _batch(request, tenants, batch)
    if row.removed_at is not None:
        return Redirect(f"/admin/vouchers/{batch}", status_code=303)  # done already
    used_or_sold = row.used + row.unused - row.unsold
    if used_or_sold:
        what = [
            f"{used_or_sold} of its vouchers were used or sold, so the batch is not deleted: it is hidden"
            " from the list, kept for the books (its sales, and the sessions it bought).",
            *([f"Its {row.unused} unused vouchers are voided now: they stop working."] if row.unused else []),
        ]
    else:
        what = [
            f"None of its {row.total} vouchers was used or sold: the batch is deleted, and printed sheets"
            " of it stop working."
        ]
    return await page(
        request,
        "confirm",
        title=f"Remove batch {batch}?",
        consequences=[*what, "The audit log keeps who made it and who removed it."],
        action=f"/admin/vouchers/{batch}/remove",
        button="Remove the batch",
        back=f"/admin/vouchers/{batch}",
    )


@post("/vouchers/{batch:str}/remove", guards=[may_change])
async def voucher_remove(request: Request, tenants: Tenants, batch: FromPath[str]) -> Redirect:
    row, _ = await _batch(request, tenants, batch)
    if row.removed_at is not None:
        return Redirect(f"/admin/vouchers/{batch}", status_code=303)

    def remove(db: Connection) -> bool:
        kept = vouchers.remove_batch(db, services(request).clock, row.tenant_id, batch)
        detail = {"kept": kept, "voided": row.unused if kept else 0}
        target = f"batch:{batch}"
        audit_change(
            db, request, tenant_id=row.tenant_id, action="vouchers_removed", target=target, detail=detail
        )
        return kept

    kept = await services(request).store.write(remove)
    return Redirect(f"/admin/vouchers?done={'kept' if kept else 'deleted'}", status_code=303)


@post("/vouchers/{batch:str}/sold", guards=[needs(SELL_VOUCHERS)])
async def voucher_sold(request: Request, tenants: Tenants, batch: FromPath[str]) -> Redirect:
    """The owner sold the batch's unused vouchers (a reseller, the counter): they count as sales now."""
    row, _ = await _batch(request, tenants, batch)

    def sold(db: Connection) -> None:
        if marked := vouchers.mark_sold(db, services(request).clock, row.tenant_id, batch):
            detail = {"count": marked, "price": row.price}
            target = f"batch:{batch}"
            audit_change(
                db, request, tenant_id=row.tenant_id, action="vouchers_sold", target=target, detail=detail
            )

    await services(request).store.write(sold)
    return Redirect(f"/admin/vouchers/{batch}?done=sold", status_code=303)


handlers = [
    package_list,
    package_new,
    package_create,
    package_edit,
    package_update,
    package_disable_form,
    package_disable,
    package_enable,
    package_remove_form,
    package_remove,
    package_move,
    voucher_list,
    voucher_generate,
    voucher_batch,
    voucher_sheet,
    voucher_void_form,
    voucher_void,
    voucher_remove_form,
    voucher_remove,
    voucher_sold,
]
