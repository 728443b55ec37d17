"""The router of /api/v1 and the OpenAPI document generated from its handlers' types."""

from functools import cache
from typing import Any

from litestar import Litestar, Router
from litestar.datastructures import ResponseHeader
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

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

SECURITY_SCHEME = "bearer"  # the security scheme's name in the document


@cache  # the handlers don't change while the process runs
def openapi() -> dict[str, Any]:
    """The API's OpenAPI 3.1 document, generated from its handlers' types; each operation's security
    names the scope its token needs."""
    config = OpenAPIConfig(
        title="portal API",
        version="1",
        description="M-Pesa prompts and Wi-Fi access for other software. The guide: /api/docs",
        components=Components(
            security_schemes={
                SECURITY_SCHEME: SecurityScheme(
                    type="http", scheme="bearer", description="an API token: portal_api_…"
                )
            }
        ),
        use_handler_docstrings=True,
    )
    app = Litestar([router], openapi_config=config)
    document = app.openapi_schema.to_schema()
    for route in router.routes:
        for handler in getattr(route, "route_handlers", ()):
            for method in handler.http_methods - {"OPTIONS", "HEAD"}:
                operation = document["paths"][route.path_format][method.lower()]
                operation["security"] = [{SECURITY_SCHEME: [handler.opt["scope"]]}]
    return document
