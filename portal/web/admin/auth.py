"""Signing in and out, changing one's password, and (for platform admins) picking a tenant to look at."""

import secrets

from litestar import Request, get, post
from litestar.datastructures import Cookie
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.response import Redirect, Template

from ... import admin_auth
from ...admin_auth import COOKIE, PasswordChangeRefused, SignInRefused
from .base import (
    CurrentAdmin,
    admin_of,
    check_csrf,
    form_fields,
    is_https,
    page,
    platform_only,
    row_id,
    safe_next,
    services,
    session_cookie,
    source_ip,
)

# Sign-in has no session yet, so its CSRF token travels in a cookie of its own (double submit).
LOGIN_COOKIE = "portal_login"
NO_LOGIN_COOKIE = (
    "Your browser did not send back the sign-in cookie. Allow cookies for this site, reload the page "
    "and try again."
)


@get("/login", opt={"public": True})
async def login_form(request: Request) -> Template | Redirect:
    next_page = request.query_params.get("next", "")
    if await admin_of(request):
        return Redirect(safe_next(next_page), status_code=303)
    csrf = secrets.token_urlsafe(32)
    return await page(
        request, "login", csrf=csrf, next=safe_next(next_page), cookies=[_login_cookie(request, csrf)]
    )


@post("/login", opt={"public": True})
async def login(request: Request) -> Template | Redirect:
    form = form_fields(await request.form())
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected:
        raise PermissionDeniedException(NO_LOGIN_COOKIE)
    await check_csrf(request, expected)
    email, target = form.get("email", ""), safe_next(form.get("next", ""))
    try:
        token = await admin_auth.sign_in(
            services(request).db, services(request).clock, email, form.get("password", ""), source_ip(request)
        )
    except SignInRefused as refused:
        return await page(
            request,
            "login",
            status_code=429 if refused.throttled else 401,
            csrf=expected,
            next=target,
            email=email,
            error=refused.message,
        )
    response = Redirect(target, status_code=303, cookies=[session_cookie(request, token)])
    response.delete_cookie(LOGIN_COOKIE, path="/admin/login")
    return response


def _login_cookie(request: Request, value: str) -> Cookie:
    return Cookie(
        key=LOGIN_COOKIE,
        value=value,
        path="/admin/login",
        httponly=True,
        samesite="strict",
        secure=is_https(request),
    )


@post("/logout")
async def logout(request: Request, admin: CurrentAdmin) -> Redirect:
    await admin_auth.sign_out(services(request).db, services(request).clock, admin, source_ip(request))
    response = Redirect("/admin/login", status_code=303)
    response.delete_cookie(COOKIE, path="/admin")
    return response


@get("/account")
async def account(request: Request) -> Template:
    return await page(request, "account")


@post("/account/password")
async def change_password(request: Request, admin: CurrentAdmin) -> Template | Redirect:
    form = form_fields(await request.form())
    try:
        token = await admin_auth.change_password(
            services(request).db,
            services(request).clock,
            admin,
            current=form.get("current", ""),
            new=form.get("new", ""),
            again=form.get("again", ""),
            source_ip=source_ip(request),
        )
    except PasswordChangeRefused as refused:
        return await page(request, "account", status_code=400, error=str(refused))
    return Redirect("/admin/account?done=password", status_code=303, cookies=[session_cookie(request, token)])


@post("/tenant", guards=[platform_only])
async def pick_tenant(request: Request, admin: CurrentAdmin) -> Redirect:
    picked = form_fields(await request.form()).get("tenant", "")
    if not await admin_auth.view_tenant(services(request).db, admin, row_id(picked) if picked else None):
        raise NotFoundException()
    return Redirect("/admin", status_code=303)


handlers = [login_form, login, logout, account, change_password, pick_tenant]
