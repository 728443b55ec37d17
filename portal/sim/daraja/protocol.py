"""What every Daraja endpoint of the simulator shares: Daraja's envelopes, the bearer check, the field
checks Daraja makes, and the faults a test injects."""

import asyncio
import base64
import json
import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from litestar import Request, Response
from litestar.datastructures import State

from ...mpesa.daraja import FORBIDDEN_IN_URLS
from .simulator import ACTED_ON, Merchant, Simulator, new_request_id


def error(status: int, code: str, message: str, request_id: str | None = None) -> Response:
    """Daraja's error envelope: camelCase, unlike its PascalCase success bodies (§1)."""
    body = {"requestId": request_id or new_request_id(), "errorCode": code, "errorMessage": message}
    return Response(body, status_code=status)


def ok(body: dict) -> Response:
    return Response(body, status_code=200)


def invalid(field_name: str) -> Response:
    return error(400, "400.002.02", f"Bad Request - Invalid {field_name}")


def digits(value: Any) -> str | None:
    """Daraja takes numbers as JSON integers or as digit strings (§3.1)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if isinstance(value, str) and value.isdigit():
        return value
    return None


def is_timestamp(value: Any) -> bool:
    """YYYYMMDDHHmmss, a real date; Daraja doesn't mind how far it is from now (§3.1)."""
    if not isinstance(value, str) or not re.fullmatch(r"\d{14}", value):
        return False
    try:
        datetime.strptime(value, "%Y%m%d%H%M%S")  # a shape check: no zone involved
    except ValueError:
        return False
    return True


def url_problem(url: Any) -> bool:
    if not isinstance(url, str) or re.search(r"\s", url):
        return True
    parts = urlsplit(url)
    return (
        parts.scheme not in {"http", "https"}
        or not parts.netloc
        or any(w in url.lower() for w in FORBIDDEN_IN_URLS)
    )


async def json_object(request: Request) -> dict | None:
    try:
        data = json.loads(await request.body())
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def merchant_refused(merchant: Merchant | None, shortcode: str, body: dict) -> Response | None:
    """Daraja's answer to an unknown shortcode, or to a Password that isn't base64 of the shortcode,
    the merchant's passkey and the request's Timestamp."""
    if merchant is None:
        return error(500, "500.001.1001", "Merchant does not exist")
    try:
        decoded = base64.b64decode(str(body.get("Password", "")), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        decoded = None
    if decoded != f"{shortcode}{merchant.passkey}{body.get('Timestamp')}":
        return error(500, "500.001.1001", "[MerchantValidate] - Wrong credentials")
    return None


def simulator_of(state: State) -> Simulator:
    return state.simulator


def _bearer_refused(sim: Simulator, request: Request) -> Response | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    entry = sim.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
    if entry is None or sim.clock.now() >= entry[1]:
        return error(404, "404.001.03", "Invalid Access Token")
    return None


def gatekeeper(sim: Simulator, request: Request) -> Response | None:
    """The token check, then any injected fault that stops the request before Daraja acts on it."""
    sim.requests[request.url.path] = sim.requests.get(request.url.path, 0) + 1
    if refused := _bearer_refused(sim, request):
        return refused
    if sim.faults and sim.faults[0] not in ACTED_ON:
        fault = sim.faults.popleft()
        if fault == "server_error":
            return Response(
                "<html><body>502 Bad Gateway</body></html>", status_code=502, media_type="text/html"
            )
        if fault == "garbage":
            return Response(
                "<html><body>Service unavailable</body></html>", status_code=200, media_type="text/html"
            )
        if fault == "too_many_requests":
            return apigee_fault(429, SPIKE_ARREST, "policies.ratelimit.SpikeArrestViolation")
        if fault == "unavailable":
            return Response(b"", status_code=503)
        return error(500, "500.003.02", "Error Occurred: Spike Arrest Violation")
    return None


# What Apigee, in front of Daraja, says in its own words (not Daraja's envelope).
SPIKE_ARREST = (
    "Spike arrest violation. Allowed rate : MessageRate{messagesPerPeriod=5, periodInMicroseconds=1000000}"
)


def apigee_fault(status: int, faultstring: str, errorcode: str) -> Response:
    return Response(
        {"fault": {"faultstring": faultstring, "detail": {"errorcode": errorcode}}}, status_code=status
    )


async def respond(sim: Simulator, response: Response) -> Response:
    """A request Daraja acted on is answered, unless a fault injected for it says otherwise."""
    if sim.faults and sim.faults[0] == "slow":
        sim.faults.popleft()
        await asyncio.sleep(sim.options.slow_answer)  # real time: it is the client's timeout under test
    elif sim.faults and sim.faults[0] == "gateway_timeout":
        sim.faults.popleft()
        return apigee_fault(504, "Gateway Timeout", "messaging.adaptors.http.flow.GatewayTimeout")
    return response
