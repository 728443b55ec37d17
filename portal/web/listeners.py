"""One app, two listeners: the customers' (the splash, /me, the router's login page, the hooks) and the
admin's (the admin pages and the API), each on an address and port of its own.

The router's walled garden opens only the customers' port to devices that have not paid, so the admin's
sign-in never crosses the open Wi-Fi, and the admin's port can speak HTTPS with a certificate of its own.
Each listener refuses what belongs to the other with a bare 404: no redirect, nothing that says the
page exists elsewhere. The services behind both are the same ones, built once.
"""

from litestar.types import ASGIApp, Receive, Scope, Send
from litestar.utils import normalize_path

ADMIN_ONLY = ("/admin", "/api")
ON_BOTH = ("/healthz",)


def _under(path: str, prefixes: tuple[str, ...]) -> bool:
    # The path as Litestar will route it (slashes collapsed), so no spelling of it slips past.
    path = normalize_path(path)
    return any(path == prefix or path.startswith(f"{prefix}/") for prefix in prefixes)


def for_customers(app: ASGIApp) -> ASGIApp:
    return _serving(app, lambda path: not _under(path, ADMIN_ONLY))


def for_admin(app: ASGIApp) -> ASGIApp:
    return _serving(app, lambda path: _under(path, ADMIN_ONLY + ON_BOTH))


def _serving(app: ASGIApp, serves) -> ASGIApp:
    async def listener(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" or serves(scope["path"]):
            await app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await send(
            {
                "type": "http.response.start",
                "status": 404,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"cache-control", b"no-store")],
            }
        )
        await send({"type": "http.response.body", "body": b"Not found\n"})

    return listener
