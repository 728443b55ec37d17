"""The owner's API clients: the other software using the business's API, each with its token, its
webhooks and their delivery log ("send again"), and its use against its limits, drawn as on the
dashboard. Owners make, rotate and revoke tokens and manage webhooks; staff look; only the platform
admin sets a client's limits. Tokens and webhook secrets are shown once, on the page that made them."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any

from litestar import Request, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template

from ...clock import to_text
from ...settings import Settings
from ...store import Connection
from ...tenancy import api_clients, api_usage, webhooks
from ...tenancy.api_clients import SCOPES, ApiClient, ApiClientError
from ...tenancy.webhooks import WebhookError
from ...typed_numbers import whole
from .base import (
    Tenants,
    audit_change,
    form_fields,
    may_change,
    owned,
    page,
    platform_only,
    row_id,
    sentence,
    services,
    tenant_for_new_rows,
)
from .overview import bar_chart

PATH = "/admin/api-clients"
USAGE_DAYS = 30
DELIVERIES_SHOWN = 20
LARGEST_QUOTA = 1_000_000
SCOPE_NAMES = {
    "payments:write": "Send M-Pesa prompts",
    "payments:read": "Read payments",
    "access:write": "Give and end Wi-Fi access",
    "access:read": "Read Wi-Fi access",
}


@dataclass(frozen=True)
class Use:
    """A client's use against its limits, for its page."""

    days: list[api_usage.Usage]  # the last USAGE_DAYS, today last
    prompts_this_month: int
    prompts_per_month: int
    requests_per_minute: int

    @property
    def share_of_quota(self) -> int:  # in %, for the meter
        return min(100, round(self.prompts_this_month * 100 / self.prompts_per_month))


@get("/api-clients")
async def client_list(request: Request, tenants: Tenants) -> Template:
    return await _list_page(request, tenants)


async def _list_page(request: Request, tenants: Tenants, status_code: int = 200, **extra: Any) -> Template:
    clients = await services(request).store.read(api_clients.in_scope, tenants)
    return await page(
        request, "api_clients", status_code=status_code, clients=clients, scope_names=SCOPE_NAMES, **extra
    )


@post("/api-clients", guards=[may_change])
async def create(request: Request, tenants: Tenants) -> Template:
    tenant_id = tenant_for_new_rows(tenants)
    form = await request.form()
    name, scopes = form_fields(form).get("name", ""), [s for s in form.getall("scope", []) if s in SCOPES]

    def made(db: Connection) -> tuple[ApiClient, str]:
        client, token = api_clients.create(db, services(request).clock, tenant_id, name, scopes)
        _audit(db, request, client, "api_client_created", name=client.name, scopes=client.scopes)
        return client, token

    try:
        client, token = await services(request).store.write(made)
    except ApiClientError as refused:
        return await _list_page(
            request, tenants, status_code=400, error=sentence(str(refused)), typed_name=name
        )
    return await _client_page(request, tenants, client.id, told={"token": token})


@get("/api-clients/{client_id:int}")
async def client_page(request: Request, tenants: Tenants, client_id: FromPath[int]) -> Template:
    return await _client_page(request, tenants, client_id)


async def _client_page(
    request: Request, tenants: Tenants, client_id: int, status_code: int = 200, **extra: Any
) -> Template:
    client = await owned(request, api_clients.get_in, tenants, client_id)
    on = services(request)
    use = await on.store.report(_use, client, on.settings, on.clock.now())
    endpoints = await on.store.read(webhooks.of_client, client.id)
    sent = await on.store.read(webhooks.deliveries, client.id, DELIVERIES_SHOWN)
    return await page(
        request,
        "api_client",
        status_code=status_code,
        client=client,
        use=use,
        chart=bar_chart(use.days, attrgetter("requests")),
        endpoints=endpoints,
        urls={endpoint.id: endpoint.url for endpoint in endpoints},
        deliveries=sent,
        defaults=on.settings.api,
        scope_names=SCOPE_NAMES,
        **extra,
    )


def _use(db: Connection, client: ApiClient, settings: Settings, now: datetime) -> Use:
    zone = settings.store.timezone
    today = now.astimezone(zone).date()
    first_day, _ = api_usage.month_of(now, zone)
    return Use(
        days=api_usage.days(db, client.id, today - timedelta(days=USAGE_DAYS - 1), today),
        prompts_this_month=api_usage.pushes_since(db, client.id, first_day),
        prompts_per_month=client.pushes_per_month or settings.api.pushes_per_month,
        requests_per_minute=client.requests_per_minute or settings.api.requests_per_minute,
    )


@post("/api-clients/{client_id:int}/rotate", guards=[may_change])
async def rotate(request: Request, tenants: Tenants, client_id: FromPath[int]) -> Template:
    client = await owned(request, api_clients.get_in, tenants, client_id)
    leaked = form_fields(await request.form()).get("leaked") == "on"
    overlap = timedelta(0) if leaked else timedelta(hours=services(request).settings.api.token_overlap_hours)

    def rotated(db: Connection) -> tuple[ApiClient, str]:
        rotated, token = api_clients.rotate(db, services(request).clock, client.id, overlap)
        until = rotated.previous_token_until
        _audit(db, request, client, "api_token_rotated", old_token_works_until=until and to_text(until))
        return rotated, token

    try:
        _, token = await services(request).store.write(rotated)
    except ApiClientError as refused:
        return await _client_page(request, tenants, client.id, status_code=400, error=sentence(str(refused)))
    return await _client_page(request, tenants, client.id, told={"token": token, "rotated": True})


@get("/api-clients/{client_id:int}/revoke", guards=[may_change])
async def revoke_form(request: Request, tenants: Tenants, client_id: FromPath[int]) -> Template:
    client = await owned(request, api_clients.get_in, tenants, client_id)
    if client.revoked_at is not None:
        raise NotFoundException()
    return await page(
        request,
        "confirm",
        title=f"Revoke {client.name}?",
        consequences=[
            "Its token (and one being rotated out) is refused from its next call on, for good.",
            "Its webhooks get no more events. Its payments, usage and delivery log stay readable here.",
            "To let the software in again, make a new client and give it the new token.",
        ],
        action=f"{PATH}/{client.id}/revoke",
        button="Revoke for good",
        back=f"{PATH}/{client.id}",
    )


@post("/api-clients/{client_id:int}/revoke", guards=[may_change])
async def revoke(request: Request, tenants: Tenants, client_id: FromPath[int]) -> Redirect:
    client = await owned(request, api_clients.get_in, tenants, client_id)

    def revoked(db: Connection) -> None:
        if api_clients.revoke(db, services(request).clock, client.id):
            _audit(db, request, client, "api_client_revoked")

    await services(request).store.write(revoked)
    return Redirect(f"{PATH}/{client.id}?done=api_revoked", status_code=303)


@post("/api-clients/{client_id:int}/quotas")
async def set_quotas(request: Request, tenants: Tenants, client_id: FromPath[int]) -> Template | Redirect:
    client = await owned(request, api_clients.get_in, tenants, client_id)
    # Only then, so that another business's client is as absent here as on every other page.
    platform_only(request, None)
    form = form_fields(await request.form())
    quotas, errors = {}, {}
    for field in ("requests_per_minute", "pushes_per_month"):
        text = form.get(field, "").strip()
        number = whole(text, 7)
        if text and not (number and 1 <= number <= LARGEST_QUOTA):
            errors[field] = f"A whole number from 1 to {LARGEST_QUOTA:,}, or empty for the default."
        quotas[field] = number if text else None
    if errors:
        return await _client_page(
            request, tenants, client.id, status_code=400, quota_errors=errors, quota=form
        )

    def saved(db: Connection) -> None:
        api_clients.set_quotas(db, client.id, quotas["requests_per_minute"], quotas["pushes_per_month"])
        _audit(db, request, client, "api_client_quotas_set", **quotas)

    await services(request).store.write(saved)
    return Redirect(f"{PATH}/{client.id}?done=saved", status_code=303)


@post("/api-clients/{client_id:int}/webhooks", guards=[may_change])
async def add_webhook(request: Request, tenants: Tenants, client_id: FromPath[int]) -> Template:
    client = await owned(request, api_clients.get_in, tenants, client_id)
    url = form_fields(await request.form()).get("url", "")
    on = services(request)

    def added(db: Connection) -> tuple[webhooks.Endpoint, str]:
        endpoint, secret = webhooks.add(db, on.clock, on.vault, client.id, url)
        _audit(db, request, client, "webhook_endpoint_added", url=endpoint.url)
        return endpoint, secret

    try:
        endpoint, secret = await on.store.write(added)
    except WebhookError as refused:
        return await _client_page(
            request, tenants, client.id, status_code=400, webhook_error=sentence(str(refused)), url=url
        )
    return await _client_page(request, tenants, client.id, told={"secret": secret, "url": endpoint.url})


@post("/api-clients/{client_id:int}/webhooks/{endpoint_id:int}/remove", guards=[may_change])
async def remove_webhook(
    request: Request, tenants: Tenants, client_id: FromPath[int], endpoint_id: FromPath[int]
) -> Redirect:
    """No more events to it; those pending are given up."""
    clock = services(request).clock

    def remove(db: Connection, endpoint_id: int) -> bool:
        return webhooks.remove(db, clock, endpoint_id)

    return await _change_webhook(request, tenants, client_id, endpoint_id, "removed", remove)


@post("/api-clients/{client_id:int}/webhooks/{endpoint_id:int}/enable", guards=[may_change])
async def enable_webhook(
    request: Request, tenants: Tenants, client_id: FromPath[int], endpoint_id: FromPath[int]
) -> Redirect:
    """New events again, for one disabled after failing for days."""
    return await _change_webhook(request, tenants, client_id, endpoint_id, "enabled", webhooks.enable)


async def _change_webhook(
    request: Request,
    tenants: Tenants,
    client_id: int,
    endpoint_id: int,
    done: str,
    change: Callable[[Connection, int], bool],
) -> Redirect:
    client = await owned(request, api_clients.get_in, tenants, client_id)

    def changed(db: Connection) -> None:
        endpoint = webhooks.get(db, row_id(endpoint_id))
        if endpoint is None or endpoint.api_client_id != client.id:
            raise NotFoundException()
        if change(db, endpoint.id):
            _audit(db, request, client, f"webhook_endpoint_{done}", url=endpoint.url)

    await services(request).store.write(changed)
    return Redirect(f"{PATH}/{client.id}?done=saved#webhooks", status_code=303)


@post("/api-clients/{client_id:int}/deliveries/{message_id:int}/send-again", guards=[may_change])
async def send_again(
    request: Request, tenants: Tenants, client_id: FromPath[int], message_id: FromPath[int]
) -> Template | Redirect:
    client = await owned(request, api_clients.get_in, tenants, client_id)
    on = services(request)

    def queued(db: Connection) -> None:
        message = webhooks.send_again(db, on.clock, client.id, row_id(message_id))
        if message is None:
            raise NotFoundException()
        _audit(db, request, client, "webhook_sent_again", event=message.event_id, type=message.event_type)

    try:
        await on.store.write(queued)
    except WebhookError as refused:
        return await _client_page(
            request, tenants, client.id, status_code=400, webhook_error=sentence(str(refused))
        )
    on.jobs.webhooks.wake()
    return Redirect(f"{PATH}/{client.id}?done=sent_again#deliveries", status_code=303)


def _audit(db: Connection, request: Request, client: ApiClient, action: str, **detail: Any) -> None:
    audit_change(
        db,
        request,
        tenant_id=client.tenant_id,
        action=action,
        target=f"api_client:{client.id} {client.name}",
        detail=detail or None,
    )


handlers = [
    client_list,
    create,
    client_page,
    rotate,
    revoke_form,
    revoke,
    set_quotas,
    add_webhook,
    remove_webhook,
    enable_webhook,
    send_again,
]
