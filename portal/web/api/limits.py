"""What an API client may still do: calls per minute (its rate limit) and M-Pesa prompts per month (its
quota), told on every answer and enforced with 429s.

The headers follow draft-ietf-httpapi-ratelimit-headers-10 (September 2025): `RateLimit-Policy` names
the two policies and their quotas, `"requests";q=120;w=60, "prompts";q=10000` (a month has no fixed
length, so the prompts' policy names no window), and `RateLimit` says what is left of each and in
how many seconds it starts again, `"requests";r=117;t=43, "prompts";r=9990;t=1234567`.

Where the counts live, so that several processes can serve the API: the minute's calls in the
client's row (tenancy/api_clients.py), the month's prompts in its usage (tenancy/api_usage.py), both
read and written in the transaction that authenticates each call.
"""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from ...settings import Api
from ...tenancy.api_clients import ApiClient

MINUTE = timedelta(minutes=1)
PUSH = ("POST", "/api/v1/payments")  # the call that sends an M-Pesa prompt


def is_push(method: str, path: str) -> bool:
    return (method, path.rstrip("/")) == PUSH


@dataclass(frozen=True)
class Allowance:
    """A client's limits as of one call (this call counted in its minute)."""

    requests: int  # per minute
    requests_left: int
    requests_reset: int  # seconds until the next minute
    prompts: int  # per month
    prompts_left: int
    prompts_reset: int  # seconds until the next month, in the business's zone

    @classmethod
    def of(
        cls, client: ApiClient, defaults: Api, now: datetime, prompts_used: int, next_month: datetime
    ) -> "Allowance":
        requests = client.requests_per_minute or defaults.requests_per_minute
        prompts = client.pushes_per_month or defaults.pushes_per_month
        return cls(
            requests=requests,
            requests_left=max(0, requests - client.minute_calls),
            requests_reset=_seconds(client.minute_start + MINUTE - now),
            prompts=prompts,
            prompts_left=max(0, prompts - prompts_used),
            prompts_reset=_seconds(next_month - now),
        )

    def over_rate(self, calls: int) -> bool:
        return calls > self.requests

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Policy": f'"requests";q={self.requests};w=60, "prompts";q={self.prompts}',
            "RateLimit": f'"requests";r={self.requests_left};t={self.requests_reset},'
            f' "prompts";r={self.prompts_left};t={self.prompts_reset}',
        }


def _seconds(left: timedelta) -> int:
    """Whole seconds, rounded up and at least one: a client that waits that long is served."""
    return max(1, math.ceil(left.total_seconds()))


def limits_and_usage(app: ASGIApp) -> ASGIApp:
    """Middleware of /api/v1: every answer to a known client carries its RateLimit headers, and is
    counted in its usage (the authentication guard leaves the client's id and allowance in the
    connection's state; errors are answered inside this middleware, so they are counted too)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        async def answer(message: Message) -> None:
            state = scope.get("state", {})
            if message["type"] == "http.response.start" and "api_client_id" in state:
                scope["app"].state.services.api_usage.count(
                    state["api_client_id"],
                    push=is_push(scope["method"], scope["path"]),
                    failed=message["status"] >= 400,
                )
                if allowance := state.get("api_allowance"):
                    own = [(k.lower().encode(), v.encode()) for k, v in allowance.headers().items()]
                    message["headers"] = [*message.get("headers", []), *own]
            await send(message)

        await app(scope, receive, answer)

    return middleware
