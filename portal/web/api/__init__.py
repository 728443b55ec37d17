"""`/api/v1`: JSON for other software: a business's checkout, fees page or front desk sends M-Pesa
prompts and follows them, and gives devices time on the Wi-Fi, with a token of its own
(tenancy/api_clients.py).

    clients.py    the bearer token and scope of every call, and its audit line
    limits.py     calls per minute and prompts per month: headers on every answer, 429s, usage counted
    problems.py   every error as RFC 9457 problem details
    resources.py  what the resources share: one by id, lists by cursor
    payments.py   /payments: prompts through the splash's own checkout, and following them
    access.py     /access: time for a device, through the sessions the admin and payments use

Every handler names the scope it needs (`opt={"scope": …}`); everything a client sees is its own
business's, so another's ids are simply not found. Requests and responses are typed (msgspec
structs), so the OpenAPI document (`openapi`) describes every body, field and error.
"""

from typing import Any

from litestar import Litestar, Router
from litestar.datastructures import ResponseHeader
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi import OpenAPIConfig

from . import access, payments
from .clients import authenticated
from .limits import limits_and_usage
from .problems import Problem, answer, from_http, from_validation

router = Router(
    path="/api/v1",
    route_handlers=[*payments.HANDLERS, *access.HANDLERS],
    guards=[authenticated],
    exception_handlers={Problem: answer, ValidationException: from_validation, HTTPException: from_http},
    response_headers=[ResponseHeader(name="Cache-Control", value="no-store")],
    middleware=[limits_and_usage],
)


def openapi() -> dict[str, Any]:
    """The API's OpenAPI 3.1 document, generated from its handlers' types."""
    app = Litestar([router], openapi_config=OpenAPIConfig(title="portal API", version="1"))
    return app.openapi_schema.to_schema()
