import httpx
import pytest

from portal.app import create_app
from portal.clock import to_text
from portal.demo import seed
from tests.conftest import serving

DEVICE = {
    "router": "cafe-1",
    "mac": "aa-bb-cc-dd-ee-01",
    "ip": "10.5.50.23",
    "link-orig": "http://example.com/",
}


@pytest.fixture
async def site(db, clock, vault):
    demo = await seed(db, clock)
    now = to_text(clock.now())
    async with db.transaction() as tx:
        account = await tx.execute(
            "INSERT INTO mpesa_accounts (tenant_id, name, shortcode, kind, environment, consumer_key_enc,"
            " consumer_secret_enc, passkey_enc, created_at, updated_at)"
            " VALUES (?, 'Demo Cafe', '174379', 'paybill', 'sandbox', ?, ?, ?, ?, ?)",
            (demo.tenant_id, vault.encrypt("k"), vault.encrypt("s"), vault.encrypt("p"), now, now),
        )
        await tx.execute(
            "INSERT INTO routers (tenant_id, name, host, port, username, password_enc, mpesa_account_id,"
            " created_at) VALUES (?, 'cafe-1', '127.0.0.1', 8728, 'api', ?, ?, ?)",
            (demo.tenant_id, vault.encrypt("pw"), account.lastrowid, now),
        )
    return demo


@pytest.fixture
async def portal_url(settings, clock, vault, site):
    async with serving(create_app(settings, clock=clock, vault=vault)) as base:
        yield base


async def test_splash_shows_the_tenant_and_its_packages_as_buttons(portal_url):
    async with httpx.AsyncClient() as http:
        page = await http.get(portal_url, params=DEVICE)
    assert page.status_code == 200
    assert "Demo Cafe Wi-Fi" in page.text and "0712 345 678" in page.text
    assert page.text.count('type="radio" name="package"') == 4
    assert "KES 10" in page.text and "1 hour" in page.text and "up to 2 Mbps" in page.text
    assert 'value="AA:BB:CC:DD:EE:01"' in page.text  # the MAC as the router writes it


async def test_splash_speaks_swahili_when_asked(portal_url):
    async with httpx.AsyncClient() as http:
        page = await http.get(portal_url, params=DEVICE | {"lang": "sw"})
    assert "Chagua kifurushi" in page.text and "saa 3" in page.text
    assert 'lang="sw"' in page.text


@pytest.mark.parametrize(
    "params",
    [{}, DEVICE | {"router": "unknown"}, DEVICE | {"mac": "not-a-mac"}, DEVICE | {"ip": "10.5.50.999"}],
)
async def test_without_a_known_router_and_device_the_page_explains_how_to_connect(portal_url, params):
    async with httpx.AsyncClient() as http:
        page = await http.get(portal_url, params=params)
    assert page.status_code == 404
    assert "Connect to the Wi-Fi first" in page.text


async def test_only_plain_web_links_are_carried_on(portal_url):
    async with httpx.AsyncClient() as http:
        page = await http.get(portal_url, params=DEVICE | {"link-orig": "javascript:alert(1)"})
    assert "javascript:" not in page.text
