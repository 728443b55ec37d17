"""`/api/v1`: JSON for other software: a business's checkout, fees page or front desk sends M-Pesa
prompts and follows them, and gives devices time on the Wi-Fi, with a token of its own
(tenancy/api_clients.py). `/api/docs` tells how, served by the box itself.

    v1.py         the router of /api/v1, and the OpenAPI document built from its handlers
    clients.py    the bearer token and scope of every call, and its audit line
    limits.py     calls per minute and prompts per month: headers on every answer, 429s, usage counted
    problems.py   every error as RFC 9457 problem details
    resources.py  what the resources share: one by id, lists by cursor
    payments.py   /payments: prompts through the splash's own checkout, and following them
    access.py     /access: time for a device, through the sessions the admin and payments use
    docs.py       /api/docs (the guide and the reference), /api/v1/openapi.json, /api/problems/<type>

Every handler names the scope it needs (`opt={"scope": …}`); everything a client sees is its own
business's, so another's ids are simply not found. Requests and responses are typed (msgspec
structs), so the OpenAPI document (`openapi`) describes every body, field and error.
"""

from . import docs
from .problems import unrouted
from .v1 import openapi, router

ROUTERS = (router, docs.router)

__all__ = ["ROUTERS", "openapi", "unrouted"]
