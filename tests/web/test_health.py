import httpx

from portal.app import create_app
from portal.store.migrations.sqlite import MIGRATIONS
from tests.conftest import serving


async def test_healthz_reports_database_state_and_version(settings, clock, vault):
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, httpx.AsyncClient() as http:
        response = await http.get(f"{base}/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == {"state": "ok", "schema_version": len(MIGRATIONS)}
    assert body["version"]


async def test_app_migrates_a_new_database_at_start(settings, clock, vault):
    assert not settings.database_path.exists()
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, httpx.AsyncClient() as http:
        assert (await http.get(f"{base}/healthz")).status_code == 200
    assert settings.database_path.exists()
