"""A request that fails on our side answers a reference, and one log line carries the same reference."""

import logging
import re

import pytest
from litestar import get, post
from litestar.params import FromPath

from portal.app import create_app
from tests.conftest import serving


@get("/broken")
async def broken() -> str:
    raise RuntimeError("the disk is full")


@post("/hooks/broken/{token:str}")
async def broken_hook(token: FromPath[str]) -> str:
    raise RuntimeError("the disk is full")


@pytest.mark.parametrize(
    ("method", "path", "route"),
    [("GET", "/broken", "/broken"), ("POST", "/hooks/broken/0123456789abcdef", "/hooks/broken/{token}")],
)
async def test_a_failure_answers_a_reference_that_its_log_line_carries(
    settings, clock, vault, http, caplog, method, path, route
):
    app = create_app(settings, clock=clock, vault=vault, route_handlers=[broken, broken_hook])
    async with serving(app) as base:
        with caplog.at_level(logging.ERROR, logger="portal.web.errors"):
            response = await http.request(method, base + path)
    assert response.status_code == 500
    shown = response.json()["ResultDesc"] if route.startswith("/hooks/") else response.text
    reference = re.search(r"reference:? ([0-9a-f]{8})", shown).group(1)
    [record] = [r for r in caplog.records if r.getMessage() == "request failed"]
    assert record.fields == {"reference": reference, "method": method, "route": route}
    assert "the disk is full" in str(record.exc_info[1])
    assert "0123456789abcdef" not in str(record.fields)  # the route, never the path with its token
