"""The portal on its two listeners, as `portal serve` runs it: the customers' never serves the admin or the
API, the admin's serves nothing else, over TLS with the certificate `portal admin-cert` makes."""

import asyncio
import hashlib
import ssl

import httpx
import pytest

from portal.app import create_app
from portal.cli.certificates import fingerprint
from portal.cli.serving import portal_listening
from tests.conftest import on_two_ports
from tests.seed import seed_tenant
from tests.web.admin.client import sign_in


async def status(http: httpx.AsyncClient, url: str) -> tuple[int, str | None]:
    answer = await http.get(url)
    return answer.status_code, answer.headers.get("location")


async def test_the_customers_listener_refuses_the_admin_and_the_api_and_the_admins_serves_nothing_else(
    settings, clock, vault, store
):
    settings = on_two_ports(settings)
    app = create_app(settings, clock=clock, vault=vault)
    async with portal_listening(app, settings, tls=None) as (customers, admin), httpx.AsyncClient() as http:
        for path in ("/admin", "/admin/login", "//admin/login", "/admin/", "/api/v1/payments", "/api"):
            assert await status(http, customers + path) == (404, None), path
        assert (await http.get(f"{customers}/admin/login")).text == "Not found\n"
        for path in ("/", "/hotspot/login.html?router=x", "/me", "/metrics", "/favicon.ico"):
            assert (await status(http, admin + path))[0] == 404, path
        assert (await http.get(f"{admin}/admin/login")).status_code == 200
        assert (await http.get(f"{admin}/api/v1/payments")).status_code == 401  # there, and wants a token
        assert (await http.get(f"{customers}/favicon.ico")).status_code == 200
        for base in (customers, admin):
            assert (await http.get(f"{base}/healthz")).json()["status"] == "ok"


async def test_the_admin_listener_speaks_tls_with_the_generated_certificate_and_its_cookie_is_secure(
    settings, clock, vault, store, certificate
):
    seeded = await seed_tenant(store, clock, vault, "alpha")
    settings = on_two_ports(settings)
    app = create_app(settings, clock=clock, vault=vault)
    async with portal_listening(app, settings, tls=certificate) as (customers, admin):
        assert admin.startswith("https://") and customers.startswith("http://")
        served = await asyncio.to_thread(ssl.get_server_certificate, ("127.0.0.1", settings.admin.port))
        der = ssl.PEM_cert_to_DER_cert(served)
        assert hashlib.sha256(der).digest().hex(":").upper() == fingerprint(certificate[0])
        context = ssl.create_default_context(cafile=certificate[0])  # the owner who trusts it
        async with httpx.AsyncClient(verify=context, follow_redirects=True) as http:
            signed_in = await sign_in(http, admin, seeded.owner)
        posted = next(r for r in signed_in.history if r.request.method == "POST")
    assert signed_in.url.path == "/admin" and signed_in.status_code == 200
    cookie = next(c for c in posted.headers.get_list("set-cookie") if c.startswith("portal_admin="))
    assert "Secure" in cookie
    assert signed_in.headers["strict-transport-security"] == "max-age=31536000"


async def test_the_admin_listener_refuses_plain_http_when_it_has_a_certificate(
    settings, clock, vault, certificate
):
    settings = on_two_ports(settings)
    app = create_app(settings, clock=clock, vault=vault)
    async with portal_listening(app, settings, tls=certificate), httpx.AsyncClient() as http:
        with pytest.raises(httpx.TransportError):
            await http.get(f"http://127.0.0.1:{settings.admin.port}/admin/login")
