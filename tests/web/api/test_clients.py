import pytest

from portal.tenancy import api_clients
from portal.tenancy.api_clients import SCOPES
from tests.conftest import rows
from tests.web.api.conftest import problem, pushes

ENDPOINTS = {  # what each needs
    ("POST", "/payments"): "payments:write",
    ("GET", "/payments"): "payments:read",
    ("GET", "/payments/1"): "payments:read",
    ("POST", "/payments/1/refresh"): "payments:write",
    ("POST", "/access"): "access:write",
    ("GET", "/access"): "access:read",
    ("GET", "/access/1"): "access:read",
    ("DELETE", "/access/1"): "access:write",
}


async def call(api, method: str, path: str, headers: dict):
    return await api.http.request(
        method, f"{api.base}{path}", headers=headers, json={} if method == "POST" else None
    )


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Basic b3duZXI6cGFzcw==", "Bearer portal_api_00000000_feed", "token"],
)
async def test_no_valid_token_is_401_with_a_bearer_challenge(api, method, path, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    response = await call(api, method, path, headers)
    problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith('Bearer realm="portal"')
    assert await rows(api.hotspot.portal.services.store, "SELECT * FROM audit_events") == []


async def test_a_revoked_token_is_401_from_its_next_call(api, clock):
    assert (await api.get("/payments")).status_code == 200
    await api.hotspot.portal.services.store.write(api_clients.revoke, clock, 1)
    response = await api.get("/payments")
    assert "revoked" in problem(response, 401, "unauthorized")["detail"]
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    problem(await api.pay(), 401, "unauthorized")
    assert pushes(api.hotspot) == 0


@pytest.mark.parametrize("scope", SCOPES)
async def test_every_scope_is_refused_where_it_does_not_apply(api, clock, scope):
    store = api.hotspot.portal.services.store
    _, token = await store.write(api_clients.create, clock, api.hotspot.demo.tenant_id, "One scope", [scope])
    for (method, path), needed in ENDPOINTS.items():
        response = await call(api, method, path, api.headers(token))
        if needed == scope:
            assert response.status_code in (404, 422, 200), response.text  # let in: an empty body, no id 1
        else:
            assert needed in problem(response, 403, "insufficient-scope")["detail"]
    refused = await rows(store, "SELECT action, target FROM audit_events WHERE action = 'api_call_refused'")
    assert len(refused) == sum(needed != scope for needed in ENDPOINTS.values())
    assert pushes(api.hotspot) == 0


async def test_litestars_own_refusals_are_problems_too(api):
    huge = await api.http.post(f"{api.base}/payments", content=b"x" * 11_000_000, headers=api.headers())
    assert huge.status_code == 413
    assert huge.headers["content-type"] == "application/problem+json"
    assert huge.json() | {"title": ""} == {"type": "about:blank", "title": "", "status": 413}
