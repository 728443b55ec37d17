"""The API as other software uses it: over HTTP, against the demo business on the simulators."""

from dataclasses import dataclass

import httpx
import pytest

from tests.conftest import Hotspot

CHARGE = {"phone": "0712 345 678", "amount": 10, "reference": "ORDER1001", "description": "Laundry"}


@dataclass
class Api:
    """The demo business's API client (every scope), speaking to /api/v1."""

    http: httpx.AsyncClient
    hotspot: Hotspot
    token: str

    @property
    def base(self) -> str:
        return f"{self.hotspot.portal.base_url}/api/v1"

    def headers(self, token: str | None = None, **more: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}", **more}

    async def pay(self, token: str | None = None, key: str | None = None, **charge) -> httpx.Response:
        extra = {"Idempotency-Key": key} if key else {}
        return await self.http.post(
            f"{self.base}/payments", json=CHARGE | charge, headers=self.headers(token, **extra)
        )

    async def get(self, path: str, token: str | None = None, **params: str) -> httpx.Response:
        return await self.http.get(f"{self.base}{path}", params=params, headers=self.headers(token))

    async def post(self, path: str, body: dict | None = None, token: str | None = None) -> httpx.Response:
        return await self.http.post(f"{self.base}{path}", json=body, headers=self.headers(token))

    async def delete(self, path: str, token: str | None = None) -> httpx.Response:
        return await self.http.delete(f"{self.base}{path}", headers=self.headers(token))


@pytest.fixture
def api(http, hotspot) -> Api:
    return Api(http, hotspot, hotspot.demo.api_token)


def pushes(hotspot: Hotspot) -> int:
    """STK pushes that reached the Daraja simulator."""
    return hotspot.daraja.sim.requests.get("/mpesa/stkpush/v1/processrequest", 0)


def problem(response: httpx.Response, status: int, kind: str) -> dict:
    """The response is an RFC 9457 problem of this status and type; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert (body["status"], body["type"]) == (status, f"/api/problems/{kind}")
    assert body["title"] and body["detail"]
    return body
