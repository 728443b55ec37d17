"""The OpenAPI document generated from the handlers' types says what the handlers answer."""

import asyncio

import hypothesis
import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from portal.cli.demo import DEMO_DEVICE, DEMO_ROUTER
from portal.tenancy import api_clients
from portal.web.api import openapi

PROBLEM = {"$ref": "#/components/schemas/ProblemDetails"}
CLIENT_ID = 1  # the demo business's API client
CASES = 300


def schema_of(document: dict, name: str) -> dict:
    return document["components"]["schemas"][name]


def matches(document: dict, name: str, answer: dict) -> bool:
    """The answer has the schema's properties: every required one, and no other."""
    schema = schema_of(document, name)
    return set(schema["required"]) <= set(answer) <= set(schema["properties"])


async def test_every_operation_documents_its_body_answer_and_problems():
    document = openapi()
    operations = [
        (path, method, op) for path, item in document["paths"].items() for method, op in item.items()
    ]
    assert {(path, method) for path, method, _ in operations} == {
        ("/api/v1/payments", "post"),
        ("/api/v1/payments", "get"),
        ("/api/v1/payments/{payment_id}", "get"),
        ("/api/v1/payments/{payment_id}/refresh", "post"),
        ("/api/v1/access", "post"),
        ("/api/v1/access", "get"),
        ("/api/v1/access/{session_id}", "get"),
        ("/api/v1/access/{session_id}", "delete"),
    }
    for path, method, operation in operations:
        answers = operation["responses"]
        success = next(code for code in answers if code.startswith("2"))
        assert "$ref" in answers[success]["content"]["application/json"]["schema"], (path, method)
        for code in ("400", "401", "403", "429"):
            assert answers[code]["content"]["application/problem+json"]["schema"] == PROBLEM, (path, method)
        if "{" in path:
            assert "404" in answers
    prompting = document["paths"]["/api/v1/payments"]["post"]["responses"]
    assert "prompt-quota-used-up" in prompting["429"]["description"]
    give = document["paths"]["/api/v1/access"]["post"]
    assert give["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/AccessRequest")
    charge = schema_of(document, "PaymentRequest")
    assert charge["required"] == ["amount", "description", "phone", "reference"]
    assert (charge["properties"]["amount"]["minimum"], charge["properties"]["amount"]["maximum"]) == (
        1,
        250_000,
    )
    listed = {p["name"]: p for p in document["paths"]["/api/v1/payments"]["get"]["parameters"]}
    assert set(listed) == {"state", "since", "reference", "cursor", "limit"}
    assert listed["limit"]["schema"]["maximum"] == 100


async def test_what_the_api_answers_is_what_its_document_says(api):
    document = openapi()  # built beside the running app, which goes on serving
    payment = (await api.pay()).json()
    access = (await api.post("/access", {"router": DEMO_ROUTER, "mac": DEMO_DEVICE[0], "seconds": 60})).json()
    assert matches(document, "ApiPayment", payment)
    assert matches(document, "Failure", {"code": "1032", "category": "cancelled", "reason": "…"})
    assert matches(document, "ApiSession", access)
    assert matches(document, "AccessPage", (await api.get("/access")).json())
    wrong = (await api.post("/access", {"router": "nope", "mac": "x", "seconds": 1})).json()
    assert matches(document, "ProblemDetails", wrong)
    assert all(matches(document, "FieldError", error) for error in wrong["errors"])


async def test_generated_requests_get_no_server_error_and_answers_the_document_allows(api):
    """Schemathesis, from the served document: a few hundred requests, valid and not, with a valid token
    of every scope; each answer is no 5xx and matches its operation's documented status, content type,
    headers and body."""
    services = api.hotspot.portal.services
    # Room for every generated call in the minute: a 429 would be allowed, but would test nothing.
    await services.store.write(api_clients.set_quotas, CLIENT_ID, CASES * 2, None)
    served = (await api.http.get(f"{api.base}/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(served)
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
    ]
    base_url = api.hotspot.portal.base_url

    @hypothesis.settings(
        max_examples=CASES,
        deadline=None,
        database=None,
        derandomize=True,  # the same cases on every run: a failure here is reproducible
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(
        case=schema.as_strategy(GenerationMode.POSITIVE) | schema.as_strategy(GenerationMode.NEGATIVE)
    )
    def generated(case):
        response = case.call(base_url=base_url, headers=api.headers())
        case.validate_response(response, checks=checks, headers=api.headers())

    # In a thread: the portal answering runs in this test's event loop.
    await asyncio.to_thread(generated)
