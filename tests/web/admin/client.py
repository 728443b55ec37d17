"""A browser-like client for the admin pages: keeps cookies, follows redirects, posts CSRF tokens."""

import re

import httpx

from tests.seed import PASSWORD

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


async def sign_in(http: httpx.AsyncClient, base: str, email: str, password: str = PASSWORD) -> httpx.Response:
    """Signs in as a browser would: load the form (and its cookie), post it, follow the redirect."""
    form = await http.get(f"{base}/admin/login")
    return await http.post(
        f"{base}/admin/login", data={"email": email, "password": password, "csrf": csrf_of(form.text)}
    )


def browser() -> httpx.AsyncClient:
    return httpx.AsyncClient(follow_redirects=True, timeout=10)
