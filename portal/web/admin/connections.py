"""What the portal connects to: routers and M-Pesa accounts.

Their secrets can be set, never read. Adding and editing work the same way for both (one flow, told
by a `Kind` what differs); each can also be tried from here: a router's connection and set-up, an
account's Daraja credentials.
"""

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from litestar import Request, get, post
from litestar.exceptions import HTTPException
from litestar.params import FromPath
from litestar.response import Redirect, Template

from ...access import provisioning, routers
from ...access.routers import RouterError
from ...billing import c2b, removal
from ...billing.removal import Footprint
from ...gateways import registry
from ...gateways.base import GatewayError
from ...mpesa import accounts
from ...mpesa.daraja import (
    AuthError,
    BusyError,
    CredentialError,
    DarajaError,
    UnavailableError,
    ValidationError,
)
from ...mpesa.form import (
    ENVIRONMENTS,
    INITIATOR_PASSWORD,
    KINDS,
    SECRETS,
    AccountError,
    account_fields,
    read_account,
)
from ...store import Connection
from ...tenancy import tenants as tenant_table
from ...tenancy.admins import CHECK_CONNECTION
from ...tenancy.scope import Scope, of_tenant
from .base import (
    Result,
    Shown,
    Tenants,
    audit_change,
    current_admin,
    form_fields,
    kept_or_deleted,
    may_change,
    needs,
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
    find: Callable[..., Any]  # (db, id, scope) → the stored one or None
    insert: Callable[..., int]  # (db, services, tenant_id, spec) → id
    update: Callable[..., bool]  # (db, services, stored, spec) → False if it changed meanwhile
    context: Callable[..., Awaitable[dict]]  # (request, tenant_id, fields) → what else the form shows
    # (request, tenant_id, spec, stored or None): 404 if it names another's rows; RouterError or
    # AccountError for what this admin may not ask
    check: Callable[..., Awaitable[None]]
    footprint: Callable[[Connection, int], Footprint]  # (db, id) → what disabling or removing touches
    enable: Callable[..., bool]  # (db, clock, stored, enabled) → False if it was so already
    remove: Callable[..., Footprint]  # (db, clock, stored) → what it touched (kept or deleted)
    # (db, stored, footprint, removing) → what happens, said on the confirmation page
    consequences: Callable[..., list[str]]


async def _router_context(request: Request, tenant_id: int, fields: dict) -> dict:
    found = await services(request).store.read(accounts.in_scope, of_tenant(tenant_id))
    return {"accounts": [account for account in found if account.disabled_at is None]}


async def _check_router(request: Request, tenant_id: int, spec: Any, stored: Any) -> None:
    """The router's address must be one this box may reach routers at, and its M-Pesa account one of
    the router's own tenant."""
    await provisioning.check_address(spec, services(request).settings.routers.allowed_networks)
    if spec.mpesa_account_id is not None:
        await owned(request, accounts.get, of_tenant(tenant_id), spec.mpesa_account_id)


async def _account_context(request: Request, tenant_id: int, fields: dict) -> dict:
    environment = fields.get("environment", "")
    # An account on a Daraja simulator (the demo, a test) keeps it when edited.
    simulator = {} if environment in ENVIRONMENTS or not environment else {environment: environment}
    return {"kinds": KINDS, "environments": ENVIRONMENTS | simulator, "secrets": SECRETS}


async def _check_account(request: Request, tenant_id: int, spec: Any, stored: Any) -> None:
    """Daraja's own two environments, or an address an account already has: any other is for the
    platform admin's simulators. Else a business owner could point the box's calls, Test credentials'
    secrets with them, at any host its network reaches, and read what answers there."""
    kept = stored is not None and stored.environment == spec.environment
    if spec.environment not in ENVIRONMENTS and not kept and current_admin(request).role != "platform":
        raise AccountError("environment", "Pick sandbox or production.")


def _router_consequences(db: Connection, router: Any, found: Footprint, removing: bool) -> list[str]:
    said = [kept_or_deleted(router.name, found)] if removing else []
    if found.live:
        said.append(
            f"{_customers(found.live)} online through {router.name} now: they keep their time until it ends,"
            " and portal still takes them off the router then."
        )
    return [
        *said,
        "Its Wi-Fi page sells nothing any more: customers who join there are asked to connect to the"
        " Wi-Fi first. It leaves “Needs attention” and “Router tasks failing”, and portal stops"
        " checking on it.",
        "Payments, sessions and the audit log keep showing its name: they are your books.",
        *([] if removing else ["You can enable it again here whenever you like."]),
    ]


def _account_consequences(db: Connection, account: Any, found: Footprint, removing: bool) -> list[str]:
    said = [kept_or_deleted(account.name, found)] if removing else []
    said.append(
        f"New payments stop going to {account.name} (PayBill or Till {account.shortcode}). Prompts"
        " already sent still settle, and money sent to it by hand is still recorded."
    )
    if found.routers:
        others = [
            other
            for other in accounts.in_scope(db, of_tenant(account.tenant_id))
            if other.id != account.id and other.disabled_at is None
        ]
        moved_to = (
            f"take payments through {others[0].name} from now on"
            if others
            else "can't take payments until you add or enable another M-Pesa account"
        )
        said.append(f"{', '.join(found.routers)} {moved_to}.")
    return [
        *said,
        "Payments and the audit log keep showing its name: they are your books.",
        *([] if removing else ["You can enable it again here whenever you like."]),
    ]


def _customers(count: int) -> str:
    return "1 customer is" if count == 1 else f"{count} customers are"


ROUTEROS = registry.kind("routeros")  # the only kind of router the admin adds today
ROUTER = Kind(
    name="router",
    path="/admin/routers",
    template="router_form",
    # The API over TLS unless the owner unticks it: the plain API carries the router's password openly.
    blank={"hotspot_server": "all", "use_tls": "on"},
    read=ROUTEROS.read_form,
    shown=ROUTEROS.form_fields,
    secrets=("password",),
    rotated=lambda spec: ["password"] if spec.password else [],
    find=routers.get,
    insert=lambda db, s, tenant_id, spec: provisioning.add_router(db, s.clock, s.vault, tenant_id, spec),
    update=lambda db, s, router, spec: routers.update(db, s.vault, router.id, router.tenant_id, spec),
    context=_router_context,
    check=_check_router,
    footprint=removal.of_router,
    enable=removal.enable_router,
    remove=removal.remove_router,
    consequences=_router_consequences,
)
ACCOUNT = Kind(
    name="mpesa_account",
    path="/admin/mpesa",
    template="account_form",
    blank={"kind": "paybill", "environment": "production"},
    read=read_account,
    shown=account_fields,
    secrets=(*SECRETS, INITIATOR_PASSWORD),
    rotated=lambda spec: sorted(spec.secrets),
    find=accounts.get,
    insert=lambda db, s, tenant_id, spec: accounts.insert(db, s.vault, s.clock, tenant_id, spec),
    update=lambda db, s, account, spec: accounts.update(
        db, s.vault, s.clock, account.id, account.tenant_id, spec
    ),
    context=_account_context,
    check=_check_account,
    footprint=removal.of_account,
    enable=removal.enable_account,
    remove=removal.remove_account,
    consequences=_account_consequences,
)


async def _find(request: Request, tenants: Scope, kind: Kind, item_id: int) -> Any:
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

        def add(db: Connection) -> None:
            item_id = kind.insert(db, services(request), tenant_id, spec)
            audit_change(
                db,
                request,
                tenant_id=tenant_id,
                action=f"{kind.name}_added",
                target=f"{kind.name}:{item_id}",
                detail=kind.shown(spec),
            )

        try:
            await kind.check(request, tenant_id, spec, None)
            await services(request).store.write(add)
            return Redirect(f"{kind.path}?done=saved", status_code=303)
        except (RouterError, AccountError) as error:
            errors = {error.field: str(error)}
    return await _form(request, kind, tenant_id, fields, errors, f"{kind.path}/new", status_code=400)


async def _edit(request: Request, tenants: Scope, kind: Kind, item_id: int) -> Template:
    stored = await _find(request, tenants, kind, item_id)
    return await _form(
        request, kind, stored.tenant_id, kind.shown(stored), {}, f"{kind.path}/{stored.id}/edit"
    )


async def _update(request: Request, tenants: Scope, kind: Kind, item_id: int) -> Template | Redirect:
    stored = await _find(request, tenants, kind, item_id)
    fields = form_fields(await request.form())
    spec, errors = kind.read(fields, stored=stored)
    if spec is not None:
        before, after = kind.shown(stored), kind.shown(spec)
        changed = sorted(key for key, value in after.items() if before[key] != value)
        target = f"{kind.name}:{stored.id}"

        def update(db: Connection) -> None:
            if not kind.update(db, services(request), stored, spec):
                raise HTTPException(status_code=409, detail=CHANGED_MEANWHILE)
            audit = {"tenant_id": stored.tenant_id, "target": target}
            if changed:
                audit_change(db, request, action=f"{kind.name}_changed", detail={"changed": changed}, **audit)
            if rotated := kind.rotated(spec):
                action = f"{kind.name}_credentials_rotated"
                audit_change(db, request, action=action, detail={"rotated": rotated}, **audit)

        try:
            await kind.check(request, stored.tenant_id, spec, stored)
            await services(request).store.write(update)
            return Redirect(f"{kind.path}?done=saved", status_code=303)
        except (RouterError, AccountError) as error:
            errors = {error.field: str(error)}
    action = f"{kind.path}/{stored.id}/edit"
    return await _form(request, kind, stored.tenant_id, fields, errors, action, status_code=400)


# Disabling and removing: asked on a confirmation page that says what happens, then done and audited.
ASK = {"disable": "Disable", "remove": "Remove"}


async def _ask(request: Request, tenants: Scope, kind: Kind, item_id: int, verb: str) -> Template | Redirect:
    stored = await _find(request, tenants, kind, item_id)
    if stored.removed_at is not None or (verb == "disable" and stored.disabled_at is not None):
        return Redirect(kind.path, status_code=303)  # done already (a second tab, the back button)

    def said(db: Connection) -> list[str]:
        return kind.consequences(db, stored, kind.footprint(db, stored.id), verb == "remove")

    return await page(
        request,
        "confirm",
        title=f"{ASK[verb]} {stored.name}?",
        consequences=await services(request).store.read(said),
        action=f"{kind.path}/{stored.id}/{verb}",
        button=f"{ASK[verb]} {stored.name}",
        back=kind.path,
    )


async def _disable(request: Request, tenants: Scope, kind: Kind, item_id: int, enabled: bool) -> Redirect:
    stored = await _find(request, tenants, kind, item_id)
    action = f"{kind.name}_{'enabled' if enabled else 'disabled'}"

    def change(db: Connection) -> None:
        if kind.enable(db, services(request).clock, stored, enabled):
            audit_change(
                db, request, tenant_id=stored.tenant_id, action=action, target=f"{kind.name}:{stored.id}"
            )

    await services(request).store.write(change)
    return Redirect(f"{kind.path}?done={'enabled' if enabled else 'disabled'}", status_code=303)


async def _remove(request: Request, tenants: Scope, kind: Kind, item_id: int) -> Redirect:
    stored = await _find(request, tenants, kind, item_id)

    def remove(db: Connection) -> bool:
        found = kind.remove(db, services(request).clock, stored)
        detail = {"name": stored.name, "kept": found.kept}
        target = f"{kind.name}:{stored.id}"
        audit_change(
            db,
            request,
            tenant_id=stored.tenant_id,
            action=f"{kind.name}_removed",
            target=target,
            detail=detail,
        )
        return found.kept

    if stored.removed_at is not None:
        return Redirect(kind.path, status_code=303)
    kept = await services(request).store.write(remove)
    return Redirect(f"{kind.path}?done={'kept' if kept else 'deleted'}", status_code=303)


# -- routers --


async def _router_list(request: Request, tenants: Scope, result: Result | None = None) -> Template:
    found = await services(request).store.read(_routers_with_accounts, tenants)
    return await page(request, "routers", routers=found, result=result)


def _routers_with_accounts(db: Connection, tenants: Scope) -> list[Shown]:
    found = routers.in_scope(db, tenants)
    names = accounts.names(db, {router.mpesa_account_id for router in found if router.mpesa_account_id})
    return [Shown(router, account=names.get(router.mpesa_account_id)) for router in found]


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


@get("/routers/{router_id:int}/disable", guards=[may_change])
async def router_disable_form(
    request: Request, tenants: Tenants, router_id: FromPath[int]
) -> Template | Redirect:
    return await _ask(request, tenants, ROUTER, router_id, "disable")


@post("/routers/{router_id:int}/disable", guards=[may_change])
async def router_disable(request: Request, tenants: Tenants, router_id: FromPath[int]) -> Redirect:
    return await _disable(request, tenants, ROUTER, router_id, enabled=False)


@post("/routers/{router_id:int}/enable", guards=[may_change])
async def router_enable(request: Request, tenants: Tenants, router_id: FromPath[int]) -> Redirect:
    return await _disable(request, tenants, ROUTER, router_id, enabled=True)


@get("/routers/{router_id:int}/remove", guards=[may_change])
async def router_remove_form(
    request: Request, tenants: Tenants, router_id: FromPath[int]
) -> Template | Redirect:
    return await _ask(request, tenants, ROUTER, router_id, "remove")


@post("/routers/{router_id:int}/remove", guards=[may_change])
async def router_remove(request: Request, tenants: Tenants, router_id: FromPath[int]) -> Redirect:
    return await _remove(request, tenants, ROUTER, router_id)


@post("/routers/{router_id:int}/check", guards=[needs(CHECK_CONNECTION)])
async def router_check(request: Request, tenants: Tenants, router_id: FromPath[int]) -> Template:
    """Reaches the router and says what it is; what happened is remembered for the dashboard."""
    router = await _find(request, tenants, ROUTER, router_id)
    s = services(request)
    try:
        health = await provisioning.check(s.store, s.gateways, s.vault, s.clock, router)
    except GatewayError as error:
        return await _router_list(
            request, tenants, Result(False, f"{router.name} did not answer", [str(error)])
        )
    lines = [f"Identity: {health.identity}", *health.summary]
    return await _router_list(request, tenants, Result(True, f"{router.name} answers", lines))


@post("/routers/{router_id:int}/provision", guards=[may_change])
async def router_provision(request: Request, tenants: Tenants, router_id: FromPath[int]) -> Template:
    """Sets the router up for portal (package plans, walled garden, login page); safe to repeat."""
    router = await _find(request, tenants, ROUTER, router_id)
    s = services(request)
    portal_url = s.settings.server.portal_url
    if not portal_url:
        explanation = (
            "The router needs the address at which Wi-Fi customers reach this portal. Set it as"
            " portal_url under [server] in /etc/portal/portal.toml (for example"
            ' portal_url = "http://10.5.50.2:8080"), restart portal, then provision again.'
        )
        return await _router_list(
            request, tenants, Result(False, f"{router.name} was not set up", [explanation])
        )
    try:
        changes = await provisioning.provision(s.store, s.gateways, s.vault, s.clock, router, portal_url)
    except GatewayError as error:
        return await _router_list(
            request, tenants, Result(False, f"{router.name} was not set up", [str(error)])
        )
    await s.store.write(
        audit_change,
        request,
        tenant_id=router.tenant_id,
        action="router_provisioned",
        target=f"router:{router.id}",
        detail={"portal_url": portal_url},
    )
    return await _router_list(request, tenants, Result(True, f"{router.name} is set up for portal", changes))


# -- M-Pesa accounts --


async def _account_list(
    request: Request, tenants: Scope, result: Result | None = None, status_code: int = 200, **words
) -> Template:
    found, tenant = await services(request).store.read(_accounts_and_business, tenants)
    return await page(
        request,
        "accounts",
        status_code=status_code,
        accounts=found,
        kinds=KINDS,
        result=result,
        # The words for Wi-Fi are a business's: shown when one is in view.
        wifi_words=words.get("typed", tenant.wifi_words if tenant else ""),
        words_error=words.get("error", ""),
    )


def _accounts_and_business(db: Connection, tenants: Scope) -> tuple[list, tenant_table.Tenant | None]:
    return accounts.in_scope(db, tenants), tenant_table.get(db, tenants.single) if tenants.single else None


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


@get("/mpesa/{account_id:int}/disable", guards=[may_change])
async def account_disable_form(
    request: Request, tenants: Tenants, account_id: FromPath[int]
) -> Template | Redirect:
    return await _ask(request, tenants, ACCOUNT, account_id, "disable")


@post("/mpesa/{account_id:int}/disable", guards=[may_change])
async def account_disable(request: Request, tenants: Tenants, account_id: FromPath[int]) -> Redirect:
    return await _disable(request, tenants, ACCOUNT, account_id, enabled=False)


@post("/mpesa/{account_id:int}/enable", guards=[may_change])
async def account_enable(request: Request, tenants: Tenants, account_id: FromPath[int]) -> Redirect:
    return await _disable(request, tenants, ACCOUNT, account_id, enabled=True)


@get("/mpesa/{account_id:int}/remove", guards=[may_change])
async def account_remove_form(
    request: Request, tenants: Tenants, account_id: FromPath[int]
) -> Template | Redirect:
    return await _ask(request, tenants, ACCOUNT, account_id, "remove")


@post("/mpesa/{account_id:int}/remove", guards=[may_change])
async def account_remove(request: Request, tenants: Tenants, account_id: FromPath[int]) -> Redirect:
    return await _remove(request, tenants, ACCOUNT, account_id)


@post("/mpesa/{account_id:int}/test", guards=[may_change])
async def account_test(request: Request, tenants: Tenants, account_id: FromPath[int]) -> Template:
    """Are the stored credentials right, for this environment? Asked of Daraja without charging anyone:
    the consumer key and secret first (a token), then the shortcode and passkey (a status query), each
    named on a line of its own."""
    stored = await _find(request, tenants, ACCOUNT, account_id)
    account = await services(request).store.read(accounts.load, services(request).vault, stored.id)
    try:
        await services(request).daraja.check_credentials(account)
    except DarajaError as error:
        wrong, lines = _daraja_trouble(error, account.shortcode)
        result = Result(False, f"{stored.name}: {wrong}", lines)
    else:
        result = Result(
            True,
            f"{stored.name}: Daraja accepted the credentials",
            [
                KEYS_ACCEPTED,
                f"Shortcode {account.shortcode} and passkey: right (asked about a payment never made; nobody"
                " was charged).",
                "A payment with the smallest package proves the rest.",
            ],
        )
    return await _account_list(request, tenants, result)


WORDS_REFUSED = {
    "no_words": "Give at least one word, like WIFI.",
    "too_many_words": f"Keep it to {c2b.MAX_WORDS} words at most.",
    "word_too_long": f"A word has at most {c2b.MAX_WORD} characters: M-Pesa's account field takes no more.",
    "word_characters": "Use letters and digits (spaces and dashes are ignored); separate words with commas.",
}


@post("/mpesa/wifi-words", guards=[may_change])
async def wifi_words(request: Request, tenants: Tenants) -> Template | Redirect:
    """The accounts that mean Wi-Fi when paid by hand; money not spent yet follows the new words."""
    tenant_id = tenant_for_new_rows(tenants)
    typed = form_fields(await request.form()).get("wifi_words", "")
    try:
        words = c2b.read_words(typed)
    except c2b.WordsRefused as refused:
        error = WORDS_REFUSED[refused.reason]
        return await _account_list(request, tenants, status_code=400, typed=typed, error=error)

    def change(db: Connection) -> None:
        before = tenant_table.get(db, tenant_id).wifi_words
        if before == words:
            return
        changed = c2b.set_words(db, tenant_id, words)
        detail = {"words": [before, words], "payments_changed": changed}
        where = {"tenant_id": tenant_id, "target": f"tenant:{tenant_id}"}
        audit_change(db, request, action="wifi_words_changed", detail=detail, **where)

    await services(request).store.write(change)
    return Redirect("/admin/mpesa?done=saved#wifi-words", status_code=303)


KEYS_ACCEPTED = "Consumer key and secret: right (Daraja gave a session for them)."
SHORTCODE_IS = (
    "The shortcode is your PayBill number or, for a Till, the store number (head office), not the till"
    " number, and it must belong to this environment (sandbox or production)."
)


def _daraja_trouble(error: DarajaError, shortcode: str) -> tuple[str, list[str]]:
    """Which credential Daraja refused, for the result's title, and what to do about it, a line per
    credential checked. Daraja's own words follow, when it said any (they never hold a secret)."""
    said = f" Daraja said: {error}" if error.code else ""
    if isinstance(error, AuthError):
        return "the consumer key or secret is wrong", [
            "Consumer key and secret: refused. Copy both again, whole, from your app on the Daraja portal,"
            " and check that the environment matches them (sandbox keys do not work in production)." + said,
            "Shortcode and passkey: not checked; Daraja answers nothing else until the key and secret work.",
        ]
    unknown = isinstance(error, CredentialError) and "merchant does not exist" in error.message.lower()
    if unknown or (isinstance(error, ValidationError) and error.field == "BusinessShortCode"):
        return "the shortcode is wrong", [
            KEYS_ACCEPTED,
            f"Shortcode {shortcode}: Daraja does not know it. {SHORTCODE_IS}{said}",
            "Passkey: not checked, as it goes with the shortcode.",
        ]
    if isinstance(error, CredentialError):
        return "the passkey is wrong", [
            KEYS_ACCEPTED,
            f"Shortcode {shortcode}: known to Daraja.",
            "Passkey: refused. It is the one Safaricom sent for this shortcode when it went live (the"
            f" sandbox passkey works only with 174379); copy it again, whole.{said}",
        ]
    if isinstance(error, UnavailableError):
        return "nothing was checked", [
            f"Daraja could not be reached from this box, so nothing was checked: {error}. Try again later."
        ]
    if isinstance(error, BusyError):
        return "nothing was checked", [
            f"Daraja is busy and turned the request away, so nothing was checked: {error}. Try again soon."
        ]
    return "the credentials did not work", [f"Daraja answered with an error: {error}"]


handlers = [
    router_list,
    router_new,
    router_create,
    router_edit,
    router_update,
    router_disable_form,
    router_disable,
    router_enable,
    router_remove_form,
    router_remove,
    router_check,
    router_provision,
    account_list,
    account_new,
    account_create,
    account_edit,
    account_update,
    account_disable_form,
    account_disable,
    account_enable,
    account_remove_form,
    account_remove,
    account_test,
    wifi_words,
]
