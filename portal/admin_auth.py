"""Admin sign-in: server-side sessions, CSRF tokens, throttling and lock-out, roles.

A session is a random token in an HttpOnly cookie; the database keeps only its fingerprint, so a
copy of the database signs no one in, and sessions survive a restart. Each session carries its own
CSRF token, which every form posts back.

Guessing is slowed two ways: an account locks for LOCKOUT after MAX_FAILURES wrong passwords in a
row (at sign-in, or as the current one when changing it), and an address that failed IP_MAX_FAILURES
sign-ins within IP_WINDOW is refused for a while (counted from the audit log, where every failure is
written anyway).
"""

import asyncio
import secrets
from dataclasses import dataclass
from datetime import timedelta

from . import audit
from .clock import Clock, from_text, to_text
from .db import Database, Transaction
from .passwords import hash_password, password_problem, verify_password
from .scope import Scope
from .vault import fingerprint

COOKIE = "portal_admin"
SESSION_LIFETIME = timedelta(days=7)
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
LOCKOUT_MINUTES = int(LOCKOUT.total_seconds() // 60)
IP_MAX_FAILURES = 20
IP_WINDOW = timedelta(minutes=15)
UNKNOWN_EMAIL = "(unknown email)"  # the actor of a failed sign-in as no admin: never what was typed

# One answer for every refused sign-in, whether the email is an account or not, so that it tells
# nothing; it still tells a locked-out owner what happened and what to do.
SIGN_IN_REFUSED = (
    f"Wrong email or password. After {MAX_FAILURES} wrong passwords in a row an account is locked for"
    f" {LOCKOUT_MINUTES} minutes: if that happened, wait, then sign in again."
)
# Changing one's password is asked by someone signed in: they may be told plainly.
LOCKED_AND_SIGNED_OUT = (
    f"Too many wrong passwords: this account is locked for {LOCKOUT_MINUTES} minutes and signed out"
    " everywhere. Sign in again after that."
)

# Verified when the email is unknown, so a wrong email costs the same time as a wrong password.
_DECOY_HASH = hash_password("decoy password that matches nothing")


@dataclass(frozen=True)
class Admin:
    user_id: int
    email: str
    role: str  # platform | owner | staff
    tenant_id: int | None  # None for a platform admin
    viewing_tenant_id: int | None  # the tenant a platform admin picked, None = all
    csrf_token: str
    session_hash: str

    @property
    def may_change(self) -> bool:
        """Staff see everything of their tenant but change no money and no credentials."""
        return self.role in ("platform", "owner")


class SignInRefused(Exception):
    """`message` is for the person signing in; `throttled` asks for HTTP 429."""

    def __init__(self, message: str, throttled: bool = False):
        super().__init__(message)
        self.message = message
        self.throttled = throttled


async def sign_in(db: Database, clock: Clock, email: str, password: str, source_ip: str) -> str:
    """Returns a new session token, or raises SignInRefused. Every outcome is audited.

    A wrong password, an unknown email and a locked account get the same answer after the same work
    (a password hash is checked every time), so the form tells no one which emails are accounts."""
    email = email.strip()[:200]
    async with db.transaction() as tx:
        if await audit.sign_in_failures_from(tx, source_ip, clock.now() - IP_WINDOW) >= IP_MAX_FAILURES:
            raise SignInRefused(
                "Too many failed sign-ins from this address. Wait 15 minutes and try again.", throttled=True
            )
        user = await tx.fetchone("SELECT * FROM admin_users WHERE email = ?", (email,))
        may_try = user is not None and await _may_try(tx, clock, user, source_ip, "sign_in_failed")
    # Argon2 takes tens of milliseconds of CPU: off the event loop, and outside the write lock.
    correct = await asyncio.to_thread(
        verify_password, password, user["password_hash"] if user else _DECOY_HASH
    )
    async with db.transaction() as tx:
        if user is None:
            # What was typed is no admin's email, and may be a password typed into the wrong field.
            await audit.record(
                tx,
                clock,
                tenant_id=None,
                actor=UNKNOWN_EMAIL,
                action="sign_in_failed",
                detail={"reason": "unknown email"},
                source_ip=source_ip,
            )
        elif may_try and correct:
            await tx.execute(
                "UPDATE admin_users SET failed_logins = 0, locked_until = NULL WHERE id = ?", (user["id"],)
            )
            token = await _new_session(tx, clock, user["id"])
            await _audit(tx, clock, user, "sign_in", source_ip)
            return token
        elif may_try:
            await _wrong_password(tx, clock, user, source_ip, "sign_in_failed")
    raise SignInRefused(SIGN_IN_REFUSED)


async def _may_try(tx: Transaction, clock: Clock, user, source_ip: str, failed: str) -> bool:
    """May `user`'s password be tried now? Not while the account is locked (the refusal is audited as
    `failed`). A try is counted before the password is checked, so parallel guesses can't slip past
    the limit."""
    if user["locked_until"] and from_text(user["locked_until"]) > clock.now():
        await _audit(tx, clock, user, failed, source_ip, {"reason": "locked"})
        return False
    if user["failed_logins"] >= MAX_FAILURES:  # guesses that raced each other
        await _lock(tx, clock, user, source_ip)
        return False
    await tx.execute("UPDATE admin_users SET failed_logins = failed_logins + 1 WHERE id = ?", (user["id"],))
    return True


async def _wrong_password(tx: Transaction, clock: Clock, user, source_ip: str, failed: str) -> bool:
    """Audits a wrong password as `failed`; True if it was one too many and the account is now locked."""
    await _audit(tx, clock, user, failed, source_ip, {"reason": "wrong password"})
    failures = await tx.fetchval("SELECT failed_logins FROM admin_users WHERE id = ?", (user["id"],))
    if failures < MAX_FAILURES:
        return False
    await _lock(tx, clock, user, source_ip)
    return True


async def _lock(tx: Transaction, clock: Clock, user, source_ip: str) -> None:
    await tx.execute(
        "UPDATE admin_users SET failed_logins = 0, locked_until = ? WHERE id = ?",
        (to_text(clock.now() + LOCKOUT), user["id"]),
    )
    await _audit(tx, clock, user, "account_locked", source_ip, {"minutes": LOCKOUT_MINUTES})


async def _audit(tx: Transaction, clock: Clock, user, action: str, source_ip: str, detail=None) -> None:
    """A sign-in event of the admin `user`."""
    await audit.record(
        tx,
        clock,
        tenant_id=user["tenant_id"],
        actor=user["email"],
        action=action,
        detail=detail,
        source_ip=source_ip,
    )


async def _new_session(tx: Transaction, clock: Clock, user_id: int) -> str:
    token = secrets.token_urlsafe(32)
    now = clock.now()
    await tx.execute(
        "DELETE FROM admin_sessions WHERE expires_at <= ?", (to_text(now),)
    )  # housekeeping, cheap here
    await tx.execute(
        "INSERT INTO admin_sessions (token_hash, user_id, csrf_token, created_at, expires_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (
            fingerprint(token),
            user_id,
            secrets.token_urlsafe(32),
            to_text(now),
            to_text(now + SESSION_LIFETIME),
        ),
    )
    return token


async def admin_for_session(db: Database, clock: Clock, token: str) -> Admin | None:
    row = await db.fetchone(
        "SELECT s.token_hash, s.csrf_token, s.viewing_tenant_id, u.id, u.email, u.role, u.tenant_id"
        " FROM admin_sessions s JOIN admin_users u ON u.id = s.user_id"
        " WHERE s.token_hash = ? AND s.expires_at > ?",
        (fingerprint(token), to_text(clock.now())),
    )
    if row is None:
        return None
    return Admin(
        user_id=row["id"],
        email=row["email"],
        role=row["role"],
        tenant_id=row["tenant_id"],
        viewing_tenant_id=row["viewing_tenant_id"],
        csrf_token=row["csrf_token"],
        session_hash=row["token_hash"],
    )


async def sign_out(db: Database, clock: Clock, admin: Admin, source_ip: str) -> None:
    async with db.transaction() as tx:
        await tx.execute("DELETE FROM admin_sessions WHERE token_hash = ?", (admin.session_hash,))
        await audit.record(
            tx, clock, tenant_id=admin.tenant_id, actor=admin.email, action="sign_out", source_ip=source_ip
        )


class PasswordChangeRefused(ValueError):
    pass


async def change_password(
    db: Database, clock: Clock, admin: Admin, *, current: str, new: str, again: str, source_ip: str
) -> str:
    """Sets a new password and ends every session of this admin; returns a fresh session token.

    A wrong current password counts as a wrong password at sign-in, so a stolen session can't guess
    the password behind it: the account locks after MAX_FAILURES, and a locked account changes no
    password and is signed out everywhere."""
    if new != again:
        raise PasswordChangeRefused("The two new passwords differ.")
    if problem := password_problem(new):
        raise PasswordChangeRefused(problem[0].upper() + problem[1:] + ".")
    async with db.transaction() as tx:
        user = await tx.fetchone("SELECT * FROM admin_users WHERE id = ?", (admin.user_id,))
        may_try = await _may_try(tx, clock, user, source_ip, "password_change_failed")
        if not may_try:
            await _end_sessions(tx, user)
    if not may_try:
        raise PasswordChangeRefused(LOCKED_AND_SIGNED_OUT)
    stored = user["password_hash"]
    if not await asyncio.to_thread(verify_password, current, stored):
        async with db.transaction() as tx:
            locked = await _wrong_password(tx, clock, user, source_ip, "password_change_failed")
            if locked:
                await _end_sessions(tx, user)
        raise PasswordChangeRefused(LOCKED_AND_SIGNED_OUT if locked else "The current password is wrong.")
    new_hash = await asyncio.to_thread(hash_password, new)
    async with db.transaction() as tx:
        # Compare-and-swap: a password changed meanwhile elsewhere wins, and this one is refused.
        cursor = await tx.execute(
            "UPDATE admin_users SET password_hash = ?, failed_logins = 0 WHERE id = ? AND password_hash = ?",
            (new_hash, admin.user_id, stored),
        )
        if cursor.rowcount != 1:
            raise PasswordChangeRefused("The password was changed meanwhile; sign in again.")
        await _end_sessions(tx, user)
        token = await _new_session(tx, clock, admin.user_id)
        await audit.record(
            tx,
            clock,
            tenant_id=admin.tenant_id,
            actor=admin.email,
            action="password_changed",
            target=f"admin:{admin.email}",
            source_ip=source_ip,
        )
    return token


async def _end_sessions(tx: Transaction, user) -> None:
    await tx.execute("DELETE FROM admin_sessions WHERE user_id = ?", (user["id"],))


async def scope_of(db: Database, admin: Admin) -> Scope:
    if admin.role != "platform":
        return Scope((admin.tenant_id,))
    if admin.viewing_tenant_id is not None:
        return Scope((admin.viewing_tenant_id,))
    ids = tuple(row[0] for row in await db.fetchall("SELECT id FROM tenants ORDER BY id"))
    return Scope(ids, platform_wide=True)


async def view_tenant(db: Database, admin: Admin, tenant_id: int | None) -> bool:
    """A platform admin picks one tenant to look at (None = all). False if there is no such tenant."""
    async with db.transaction() as tx:
        if tenant_id is not None and not await tx.fetchval(
            "SELECT 1 FROM tenants WHERE id = ?", (tenant_id,)
        ):
            return False
        await tx.execute(
            "UPDATE admin_sessions SET viewing_tenant_id = ? WHERE token_hash = ?",
            (tenant_id, admin.session_hash),
        )
    return True
