"""Signing in to the admin in real headless Chromium over HTTPS: on the admin's own listener with the
certificate `portal admin-cert` makes, and through nginx ending TLS in front of it (a trusted proxy)."""

from dataclasses import replace
from ipaddress import ip_network

import pytest
from playwright.async_api import Page

from portal.app import create_app
from portal.cli.serving import portal_listening
from tests.conftest import on_two_ports
from tests.e2e.chromium import LAPTOP, PHONE, SCREENSHOTS, chromium
from tests.e2e.nginx import tls_proxy
from tests.seed import PASSWORD, seed_tenant

pytestmark = pytest.mark.browser


async def signs_in(page: Page, base: str, email: str) -> dict:
    """Signs in as the owner would; returns the session cookie the browser keeps."""
    await page.goto(f"{base}/admin")
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}/admin")
    assert "Earnings per day" in await page.inner_text("main")
    return next(c for c in await page.context.cookies() if c["name"] == "portal_admin")


async def test_the_owner_signs_in_over_the_admins_own_https_listener(
    settings, clock, vault, store, certificate
):
    seeded = await seed_tenant(store, clock, vault, "alpha")
    settings = on_two_ports(settings)
    app = create_app(settings, clock=clock, vault=vault)
    async with portal_listening(app, settings, tls=certificate) as (_, admin), chromium(admin) as browser:
        # The owner accepted the box's certificate once, having compared its fingerprint.
        page = await browser.page(viewport=PHONE, ignore_https_errors=True)
        cookie = await signs_in(page, admin, seeded.owner)
        await page.screenshot(path=SCREENSHOTS / "admin-over-https-360x740.png", full_page=True)
    assert admin.startswith("https://") and cookie["secure"] and cookie["httpOnly"]


async def test_the_owner_signs_in_through_a_trusted_proxy_that_ends_https(
    settings, clock, vault, store, certificate, tmp_path
):
    seeded = await seed_tenant(store, clock, vault, "alpha")
    settings = on_two_ports(settings)
    settings = replace(
        settings, server=replace(settings.server, trusted_proxies=(ip_network("127.0.0.1/32"),))
    )
    app = create_app(settings, clock=clock, vault=vault)
    async with (
        portal_listening(app, settings, tls=None) as (_, admin),
        tls_proxy(tmp_path / "nginx", *certificate, upstream=admin) as proxied,
        chromium(proxied) as browser,
    ):
        page = await browser.page(viewport=LAPTOP, ignore_https_errors=True)
        cookie = await signs_in(page, proxied, seeded.owner)
        await page.screenshot(path=SCREENSHOTS / "admin-behind-nginx-1280x800.png", full_page=True)
    # The portal saw plain HTTP from nginx, and believed its X-Forwarded-Proto: the cookie is Secure.
    assert cookie["secure"]
