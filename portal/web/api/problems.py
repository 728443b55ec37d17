"""The API's errors, as RFC 9457 problem details (`application/problem+json`): a `type` that names the
error for good (software branches on it), a `title` for that type, the HTTP `status`, a `detail` about
this occurrence in plain words, and, when a request's fields are wrong, `errors`: one per field, its
JSON pointer and what is wrong with it."""

from dataclasses import dataclass

from litestar import Request, Response
from litestar.exceptions import HTTPException

MEDIA_TYPE = "application/problem+json"
TYPES = "/api/problems/"  # relative to the box: each type's page, once the API's docs are served


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


class Problem(Exception):
    def __init__(
        self,
        kind: Kind,
        detail: str,
        *,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}


def field_error(field: str, detail: str) -> dict[str, str]:
    """One wrong field of a JSON body: `pointer` is its JSON Pointer (RFC 6901)."""
    return {"pointer": f"/{field}", "detail": detail}


def answer(request: Request, problem: Problem) -> Response:
    body = {
        "type": TYPES + problem.kind.name,
        "title": problem.kind.title,
        "status": problem.kind.status,
        "detail": problem.detail,
    }
    if problem.errors is not None:
        body["errors"] = problem.errors
    return Response(body, status_code=problem.kind.status, media_type=MEDIA_TYPE, headers=problem.headers)


def from_http(request: Request, error: HTTPException) -> Response:
    """Litestar's own refusals (a body too large, say) in the same form, under the generic type RFC 9457
    gives a problem that is just its status."""
    body = {"type": "about:blank", "title": str(error.detail), "status": error.status_code}
    return Response(body, status_code=error.status_code, media_type=MEDIA_TYPE)
