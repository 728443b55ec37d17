"""Signing in and out, changing one's password, and (for platform admins) picking a tenant to look at."""

import math
import secrets
from datetime import datetime, timedelta

from litestar import Request, get, post
from litestar.datastructures import Cookie
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.response import Redirect, Template

from ...clock import Clock
from ...tenancy import admins
from ...tenancy.admins import LOCKOUT, PasswordChangeRefused, SignInRefused
from .base import (
    COOKIE,
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

LOCKOUT_MINUTES = int(LOCKOUT.total_seconds() // 60)
# One answer for every refused sign-in, whether the email is an account or not, so that it tells nothing.
SIGN_IN_REFUSED = "Wrong email or password."
THROTTLED = "Too many failed sign-ins from here. Wait {wait} and try again."
# Changing one's password is asked by someone signed in: they may be told plainly.
PASSWORD_REFUSED = {
    "differ": "The two new passwords differ.",
    "wrong": "The current password is wrong.",
    "locked": (
        f"Too many wrong passwords: this account is locked for {LOCKOUT_MINUTES} minutes and signed out"
        " everywhere. Sign in again after that."
    ),
    "changed_meanwhile": "The password was changed meanwhile; sign in again.",
}

# Sign-in has no session yet, so it has a pre-session: the form's CSRF token is kept here, against a
# random id that the browser's cookie carries. A cookie and a field that merely agree prove nothing (an
# attacker who can set a cookie sets both); the token must be the one this server gave that cookie.
LOGIN_COOKIE = "portal_login"
NO_LOGIN_COOKIE = (
    "This sign-in form has expired, or your browser did not send back its cookie. Allow cookies for this"
    " site, reload the page and try again."
)
FORM_LIFETIME = timedelta(hours=1)
MOST_FORMS = 10_000  # past this, expired ones are dropped, then the oldest


class SignInForms:
    """The pre-sessions of sign-in forms, in memory: a restart only asks for a reload."""

    def __init__(self, clock: Clock):
        self.clock = clock
        self._forms: dict[str, tuple[str, datetime]] = {}

    def open(self) -> tuple[str, str]:
        """A new form: (the id for its cookie, its CSRF token)."""
        if len(self._forms) >= MOST_FORMS:
            now = self.clock.now()
            self._forms = {key: form for key, form in self._forms.items() if form[1] > now}
            while len(self._forms) >= MOST_FORMS:
                del self._forms[next(iter(self._forms))]
        form_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self._forms[form_id] = (csrf, self.clock.now() + FORM_LIFETIME)
        return form_id, csrf

    def csrf(self, form_id: str) -> str | None:
        """The CSRF token this server gave the form, while it lasts."""
        csrf, until = self._forms.get(form_id, ("", self.clock.now()))
        return csrf if until > self.clock.now() else None

    def close(self, form_id: str) -> None:
        self._forms.pop(form_id, None)


@get("/login", opt={"public": True})
async def login_form(request: Request) -> Template | Redirect:
    next_page = request.query_params.get("next", "")
    if await admin_of(request):
        return Redirect(safe_next(next_page), status_code=303)
    form_id, csrf = services(request).sign_in_forms.open()
    return await page(
        request, "login", csrf=csrf, next=safe_next(next_page), cookies=[_login_cookie(request, form_id)]
    )


@post("/login", opt={"public": True})
async def login(request: Request) -> Template | Redirect:
    form = form_fields(await request.form())
    forms: SignInForms = services(request).sign_in_forms
    form_id = request.cookies.get(LOGIN_COOKIE, "")
    expected = forms.csrf(form_id)
    if not expected:
        raise PermissionDeniedException(NO_LOGIN_COOKIE)
    await check_csrf(request, expected)
    email, target = form.get("email", ""), safe_next(form.get("next", ""))
    try:
        token = await admins.sign_in(
            services(request).store,
            services(request).clock,
            email,
            form.get("password", ""),
            source_ip(request),
        )
    except SignInRefused as refused:
        return await page(
            request,
            "login",
            status_code=429 if refused.throttled else 401,
            csrf=expected,
            next=target,
            email=email,
            error=THROTTLED.format(wait=_duration(refused.wait)) if refused.throttled else SIGN_IN_REFUSED,
        )
    forms.close(form_id)
    response = Redirect(target, status_code=303, cookies=[session_cookie(request, token)])
    response.delete_cookie(LOGIN_COOKIE, path="/admin/login")
    return response


def _duration(wait: timedelta) -> str:
    """The wait rounded up, so that trying again after it always works."""
    seconds = math.ceil(wait.total_seconds())
    if seconds < 120:
        return "1 second" if seconds == 1 else f"{seconds} seconds"
    return f"{math.ceil(seconds / 60)} minutes"


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
    await services(request).store.write(admins.sign_out, services(request).clock, admin, source_ip(request))
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
        token = await admins.change_password(
            services(request).store,
            services(request).clock,
            admin,
            current=form.get("current", ""),
            new=form.get("new", ""),
            again=form.get("again", ""),
            source_ip=source_ip(request),
        )
    except PasswordChangeRefused as refused:
        return await page(request, "account", status_code=400, error=_why(refused))
    return Redirect("/admin/account?done=password", status_code=303, cookies=[session_cookie(request, token)])


@post("/tenant", guards=[platform_only])
async def pick_tenant(request: Request, admin: CurrentAdmin) -> Redirect:
    picked = form_fields(await request.form()).get("tenant", "")
    if not await services(request).store.write(admins.view_tenant, admin, row_id(picked) if picked else None):
        raise NotFoundException()
    return Redirect("/admin", status_code=303)


def _why(refused: PasswordChangeRefused) -> str:
    if refused.reason == "weak":
        return refused.problem[0].upper() + refused.problem[1:] + "."
    return PASSWORD_REFUSED[refused.reason]


handlers = [login_form, login, logout, account, change_password, pick_tenant]
