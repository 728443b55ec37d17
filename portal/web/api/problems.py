"""The API's errors, as RFC 9457 problem details (`application/problem+json`): a `type` that names the
error for good (software branches on it), a `title` for that type, the HTTP `status`, a `detail` about
this occurrence in plain words, and, when a request's fields are wrong, `errors`: one per field, its
JSON pointer (or query parameter, or header) and what is wrong with it.

A field's words are its handler's `opt["words"]`, which its OpenAPI description shows too, so a
wrong type Litestar finds reads as a wrong value the handler finds does."""

from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, SerializationException, ValidationException
from litestar.openapi import ResponseSpec
from msgspec import Meta

MEDIA_TYPE = "application/problem+json"
TYPES = "/api/problems/"  # relative to the box: each type leads to its section of the docs page (docs.py)
MISSING_FIELD = "Object missing required field `"  # msgspec's words for a body without a field


@dataclass(frozen=True)
class Kind:
    name: str
    title: str
    status: int


UNAUTHORIZED = Kind("unauthorized", "A valid API token is needed", 401)
FORBIDDEN = Kind("insufficient-scope", "The API token lacks the scope this needs", 403)
NOT_FOUND = Kind("not-found", "No such resource", 404)
INVALID = Kind("invalid-request", "The request has invalid fields", 422)
IDEMPOTENCY_CONFLICT = Kind(
    "idempotency-key-reused", "This Idempotency-Key was used for another request", 409
)
PHONE_BUSY = Kind("phone-busy", "An M-Pesa prompt is already open on this phone", 409)
NO_ACCOUNT = Kind("no-mpesa-account", "The business has no M-Pesa account set up", 409)
TOO_MANY_PUSHES = Kind("too-many-prompts", "Too many unpaid M-Pesa prompts for this phone", 429)
RATE_LIMITED = Kind("rate-limited", "Too many calls this minute for this API token", 429)
PROMPTS_SPENT = Kind("prompt-quota-used-up", "This API client has sent this month's M-Pesa prompts", 429)
KINDS = (
    UNAUTHORIZED,
    FORBIDDEN,
    NOT_FOUND,
    INVALID,
    IDEMPOTENCY_CONFLICT,
    PHONE_BUSY,
    NO_ACCOUNT,
    TOO_MANY_PUSHES,
    RATE_LIMITED,
    PROMPTS_SPENT,
)


class FieldError(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One wrong field: where it is (one of `pointer`, `parameter`, `header`) and what is wrong."""

    pointer: Annotated[str | None, Meta(description="a body field, as a JSON Pointer (RFC 6901)")] = None
    parameter: Annotated[str | None, Meta(description="a query parameter")] = None
    header: Annotated[str | None, Meta(description="a request header")] = None
    detail: Annotated[str, Meta(description="what the field must be, in plain words")]


class ProblemDetails(msgspec.Struct, frozen=True, omit_defaults=True):
    """An error, per RFC 9457."""

    type: Annotated[str, Meta(description="names the error for good: branch on it")]
    title: str
    status: int
    detail: Annotated[str | None, Meta(description="this occurrence, in plain words")] = None
    errors: Annotated[list[FieldError] | None, Meta(description="each wrong field")] = None


class Problem(Exception):
    def __init__(
        self,
        kind: Kind,
        detail: str,
        *,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}


def field_error(field: str, detail: str) -> FieldError:
    """One wrong field of a JSON body."""
    return FieldError(pointer=f"/{field}", detail=detail)


def invalid(errors: list[FieldError], what: str = "fields") -> Problem:
    return Problem(INVALID, f"some {what} are not right; `errors` says which", errors=errors)


def documented(*kinds: Kind) -> dict[int, ResponseSpec]:
    """The problems a handler may answer, for its OpenAPI `responses`: these, and those every handler
    may (a malformed request, no token, the wrong scope, too many calls this minute)."""
    by_status: dict[int, list[str]] = {400: ["The request is malformed"]}
    for kind in (UNAUTHORIZED, FORBIDDEN, RATE_LIMITED, *kinds):
        by_status.setdefault(kind.status, []).append(f"{kind.title} (`{TYPES}{kind.name}`)")
    return {
        status: ResponseSpec(
            ProblemDetails, description="; ".join(titles), media_type=MEDIA_TYPE, generate_examples=False
        )
        for status, titles in by_status.items()
    }


def answer(request: Request, problem: Problem) -> Response:
    body = ProblemDetails(
        type=TYPES + problem.kind.name,
        title=problem.kind.title,
        status=problem.kind.status,
        detail=problem.detail,
        errors=problem.errors,
    )
    return Response(body, status_code=problem.kind.status, media_type=MEDIA_TYPE, headers=problem.headers)


def from_http(request: Request, error: HTTPException) -> Response:
    """Litestar's own refusals (a body too large, say) in the same form, under the generic type RFC 9457
    gives a problem that is just its status; a body that is not JSON is the API's own invalid request."""
    if isinstance(error.__cause__, SerializationException):
        return answer(request, _not_an_object(request))
    body = ProblemDetails(type="about:blank", title=str(error.detail), status=error.status_code)
    return Response(body, status_code=error.status_code, media_type=MEDIA_TYPE, headers=error.headers)


def unrouted(request: Request, error: HTTPException) -> Response:
    """What Litestar refuses before it has found a route under /api (a path that is not there, a method
    a path does not take), as a problem too: the client reads JSON, never the HTML of a page."""
    if error.status_code == NOT_FOUND.status:
        return answer(
            request, Problem(NOT_FOUND, f"nothing is at {request.url.path}; the docs are at /api/docs")
        )
    return from_http(request, error)


def from_validation(request: Request, error: ValidationException) -> Response:
    """Litestar's refusal of a value of the wrong type (a body's or a query parameter's), in the words the
    handler gives the field."""
    handler = request.route_handler
    words: dict[str, str] = handler.opt.get("words", {})
    errors = []
    for wrong in error.extra if isinstance(error.extra, list) else []:
        key, source, message = str(wrong.get("key", "")), wrong.get("source"), str(wrong.get("message", ""))
        if source != "body" and key in handler.parsed_fn_signature.parameters:
            # The parameter's name in the request, where the handler's own differs (`state`).
            key = getattr(handler.parsed_fn_signature.parameters[key].kwarg_definition, "name", None) or key
        if source == "body" and key == "data":
            if not message.startswith(MISSING_FIELD):
                return answer(request, _not_an_object(request))
            key = message.removeprefix(MISSING_FIELD).rstrip("`")
        detail = words.get(key, message)
        errors.append(
            field_error(key, detail) if source == "body" else FieldError(parameter=key, detail=detail)
        )
    return answer(request, invalid(errors, "fields" if errors and errors[0].pointer else "parameters"))


def _not_an_object(request: Request) -> Problem:
    body: Any = request.route_handler.parsed_data_field
    fields = msgspec.structs.fields(body.annotation) if body is not None else ()
    return Problem(INVALID, f"the body must be a JSON object: {', '.join(f.name for f in fields)}")
