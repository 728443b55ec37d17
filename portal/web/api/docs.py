"""The API's docs, served by the box itself with nothing loaded from the internet, on the admin's
listener beside /api/v1, and without a token (they hold nothing of any business's):

    /api/v1/openapi.json   the OpenAPI 3.1 document built from the handlers' types (v1.openapi)
    /api/docs              one page: the guide, then a reference rendered from that document
    /api/problems/<type>   each problem `type` URI leads to its section of that page

The guide's examples are files beside its template (templates/api/examples), shown as they are: the
tests run the same files against a running demo, so what the page shows is what works."""

from dataclasses import dataclass
from typing import Any

from litestar import Request, Router, get
from litestar.exceptions import HTTPException
from litestar.params import FromPath
from litestar.response import Redirect, Template

from .problems import KINDS, NOT_FOUND, TYPES, Kind, Problem, answer, from_http
from .v1 import SECURITY_SCHEME, openapi
from .v1 import router as v1

PAGE = "/api/docs"
EXAMPLES = "api/examples/"  # under the templates
# The quick start's files, by the language (and HTTP library) each is in, in the page's order.
QUICK_START = {
    "curl": "quickstart.sh",
    "Python (httpx)": "quickstart.py",
    "Node (fetch)": "quickstart.mjs",
    "PHP (curl)": "quickstart.php",
}
VERIFY_WEBHOOK = "verify_webhook.py"


@dataclass(frozen=True)
class Field:
    """A parameter or a body's field, as the reference lists it."""

    name: str
    where: str  # path, query, header, body
    type: str
    required: bool
    description: str


@dataclass(frozen=True)
class Answer:
    status: str
    description: str
    schema: str  # the component the body is, or ""
    problems: tuple[Kind, ...]  # the problem types it may be


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    description: str
    scope: str
    fields: tuple[Field, ...]
    answers: tuple[Answer, ...]

    @property
    def anchor(self) -> str:
        return f"{self.method}{self.path}".lower().replace("/", "-").replace("{", "").replace("}", "")


def type_of(schema: dict[str, Any]) -> str:
    """A JSON schema in a few words: `integer from 1 to 250000`, `ApiPayment`, `list of ApiSession`."""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    for union in ("oneOf", "anyOf"):
        if union in schema:
            return " or ".join(type_of(part) for part in schema[union])
    if "enum" in schema:
        return "one of " + ", ".join("null" if value is None else str(value) for value in schema["enum"])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"list of {type_of(schema.get('items', {}))}"
    if kind == "null":
        return "null"
    words = [f"{kind} ({schema['format']})" if "format" in schema else str(kind)]
    if "minimum" in schema or "maximum" in schema:
        words.append(f"from {_number(schema.get('minimum'))} to {_number(schema.get('maximum'))}")
    if "pattern" in schema:
        words.append(f"matching {schema['pattern']}")
    return " ".join(words)


def _number(bound: float | None) -> str:
    """A bound as people write it: 100, not 100.0 (the document writes some as floats)."""
    if bound is None:
        return ""
    return str(int(bound)) if float(bound).is_integer() else str(bound)


def fields_of(schema: dict[str, Any], schemas: dict[str, Any], where: str) -> tuple[Field, ...]:
    """The properties of a schema (or of the component it refers to)."""
    if "$ref" in schema:
        schema = schemas[type_of(schema)]
    required = set(schema.get("required", ()))
    return tuple(
        Field(name, where, type_of(field), name in required, field.get("description", ""))
        for name, field in schema.get("properties", {}).items()
    )


def _answers(responses: dict[str, Any]) -> tuple[Answer, ...]:
    answers = []
    for status, response in sorted(responses.items()):
        content = next(iter(response.get("content", {}).values()), {})
        description = response.get("description", "")
        kinds = tuple(kind for kind in KINDS if f"`{TYPES}{kind.name}`" in description)
        answers.append(Answer(status, description, type_of(content["schema"]) if content else "", kinds))
    return tuple(answers)


def reference(document: dict[str, Any]) -> list[Operation]:
    """Every operation of the document, as the reference shows it."""
    schemas = document["components"]["schemas"]
    operations = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            fields = tuple(
                Field(
                    parameter["name"],
                    parameter["in"],
                    type_of(parameter.get("schema", {})),
                    parameter.get("required", False),
                    parameter.get("description", ""),
                )
                for parameter in operation.get("parameters", ())
            )
            if body := operation.get("requestBody"):
                fields += fields_of(body["content"]["application/json"]["schema"], schemas, "body")
            operations.append(
                Operation(
                    method=method.upper(),
                    path=path,
                    summary=operation.get("summary", ""),
                    description=operation.get("description", ""),
                    scope=", ".join(
                        scope for need in operation["security"] for scope in need[SECURITY_SCHEME]
                    ),
                    fields=fields,
                    answers=_answers(operation["responses"]),
                )
            )
    return operations


def _example(request: Request, name: str) -> str:
    """An example's file, as it is (not a template: its braces are the language's)."""
    environment = request.app.template_engine.engine
    source, _, _ = environment.loader.get_source(environment, EXAMPLES + name)
    return source


@get("/v1/openapi.json", media_type="application/json", sync_to_thread=False)
def openapi_document() -> dict[str, Any]:
    return openapi()


@get("/docs", sync_to_thread=False)
def docs_page(request: Request) -> Template:
    document = openapi()
    operations = reference(document)
    return Template(
        template_name="api/docs.html",
        context={
            "api": f"{request.base_url}".rstrip("/") + v1.path,
            "quick_start": {language: _example(request, name) for language, name in QUICK_START.items()},
            "verify_webhook": _example(request, VERIFY_WEBHOOK),
            "operations": operations,
            "answered_by": {
                kind.name: [op for op in operations if any(kind in answer.problems for answer in op.answers)]
                for kind in KINDS
            },
            "schemas": {
                name: fields_of(schema, {}, "body")
                for name, schema in document["components"]["schemas"].items()
            },
            "kinds": KINDS,
            "types": TYPES,
        },
    )


@get("/problems/{name:str}", sync_to_thread=False)
def problem_type(name: FromPath[str]) -> Redirect:
    """A problem's `type` URI, followed: its section of the docs page."""
    if not any(kind.name == name for kind in KINDS):
        raise Problem(NOT_FOUND, f"no problem type {name}; they are listed at {PAGE}#problems")
    return Redirect(f"{PAGE}#problem-{name}", status_code=302)


router = Router(
    path="/api",
    route_handlers=[openapi_document, docs_page, problem_type],
    exception_handlers={Problem: answer, HTTPException: from_http},
)
