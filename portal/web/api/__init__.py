"""`/api/v1`: JSON for other software: a business's checkout, fees page or front desk sends M-Pesa
prompts and follows them, with a token of its own (tenancy/api_clients.py).

    clients.py   the bearer token and scope of every call, and its audit line
    limits.py    calls per minute and prompts per month: headers on every answer, 429s, usage counted
    problems.py  every error as RFC 9457 problem details
    payments.py  /payments: prompts through the splash's own checkout, and following them

Every handler names the scope it needs (`opt={"scope": …}`); everything a client sees is its own
business's, so another's ids are simply not found.
"""

from litestar import Router
from litestar.datastructures import ResponseHeader
from litestar.exceptions import HTTPException

from . import payments
from .clients import authenticated
from .limits import limits_and_usage
from .problems import Problem, answer, from_http

router = Router(
    path="/api/v1",
    route_handlers=payments.HANDLERS,
    guards=[authenticated],
    exception_handlers={Problem: answer, HTTPException: from_http},
    response_headers=[ResponseHeader(name="Cache-Control", value="no-store")],
    middleware=[limits_and_usage],
)
