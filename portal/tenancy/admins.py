"""The admin_users and admin_sessions tables: who runs the businesses, signing in, and staying signed in.

A session is a random token in an HttpOnly cookie; the database keeps only its fingerprint, so a
copy of the database signs no one in, and sessions survive a restart. Each session carries its own
CSRF token, which every form posts back.

Sign-in guessing is slowed, never locked (sign_in_slowdowns): past a few free tries, each failure of
an account from one address, and each failure from one address whatever the account, makes the next
try from there wait twice as long, up to LONGEST_WAIT. Failures from elsewhere never slow the owner
down, so no one can lock an owner out by typing their email. A try is counted before its password is
checked, so parallel guesses can't slip past; a right password takes its try back.

A signed-in admin who types a wrong current password when changing it (maybe a stolen session
guessing the password behind it) is locked for LOCKOUT after MAX_FAILURES and signed out everywhere.
`portal admin unlock` and `reset-password` undo both, as the owner's team page does for their
business. Argon2 takes tens of milliseconds of CPU, so a password is checked off the event loop and
between two transactions, never inside one.

An owner runs their business's team: invites staff (with a temporary password shown once), changes
roles, resets passwords, unlocks and removes. A removed admin is kept (disabled_at), so the audit log
still names them, and their sessions end at once; a business always keeps one owner.
"""

import asyncio
import functools
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..clock import Clock, from_text, to_text
from ..store import Conflict, Connection, Record, Store, columns
from ..vault import fingerprint
from . import audit, tenants
from .passwords import hash_password, password_problem, verify_password
from .scope import Scope
from .tenants import TenantError

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ROLES = ("platform", "owner", "staff")
SESSION_LIFETIME = timedelta(days=7)
MAX_FAILURES = 5  # wrong current passwords when changing it
LOCKOUT = timedelta(minutes=15)
FREE_PER_ACCOUNT = 3  # failures of one account from one address before sign-in slows down
FREE_PER_ADDRESS = 10  # failures from one address, whatever the accounts
FIRST_WAIT = timedelta(seconds=2)  # then twice as long after each further failure
LONGEST_WAIT = timedelta(minutes=15)
FORGET_AFTER = timedelta(days=1)  # failures this old count no more
EMAIL_KEY_LENGTH = 8  # hex digits of the typed email's hash
UNKNOWN_EMAIL = "(unknown email)"  # the actor of a failed sign-in as no admin: never what was typed


@functools.cache
def _decoy_hash() -> str:
    """Verified when the email is unknown, so a wrong email costs the same time as a wrong password.
    Made at the first such sign-in, not at import: an Argon2id hash costs every `portal` command (and
    the server's cold start) a tenth of a second and 19 MiB for nothing otherwise."""
    return hash_password("decoy password that matches nothing")


def _verify(password: str, user: "_User | None") -> bool:
    return verify_password(password, user.password_hash if user else _decoy_hash())


# What each role may do, in this one table; a page names the right it needs (web/admin/base.py).
CHANGE = "change"  # money, credentials, the catalogue and the team: the owner's business, not the till's
GIVE_TIME = "give_time"  # goodwill at the counter (a payment gone astray, a guest): time, never money
# Staff give goodwill only up to the business's daily limit each (tenancy/goodwill.py): it is the owner's
# Wi-Fi they give away, so the owner says how much a day.
GIVE_TIME_FREELY = "give_time_freely"
SELL_VOUCHERS = (
    "sell_vouchers"  # make a batch at its package's price, print it, mark it sold: the counter's job
)
SET_VOUCHER_PRICE = "set_voucher_price"  # a cheaper or free batch is a discount: the owner's decision
CHECK_CONNECTION = "check_connection"  # only reads the router: "is the Wi-Fi down?" is asked at the counter
# Phone numbers are customers' personal data: looking one up in the admin is support, a whole list is not.
EXPORT_PHONES = "export_phones"
# An unused code is money: staff see the codes of the batches they made (to print them), no one else's.
SEE_EVERY_VOUCHER_CODE = "see_every_voucher_code"
_EVERYTHING = frozenset(
    {
        CHANGE,
        GIVE_TIME,
        GIVE_TIME_FREELY,
        SELL_VOUCHERS,
        SET_VOUCHER_PRICE,
        CHECK_CONNECTION,
        EXPORT_PHONES,
        SEE_EVERY_VOUCHER_CODE,
    }
)
RIGHTS = {
    "platform": _EVERYTHING,
    "owner": _EVERYTHING,
    "staff": frozenset({GIVE_TIME, SELL_VOUCHERS, CHECK_CONNECTION}),  # and reading what the others do
}


@dataclass(frozen=True)
class Admin:
    """A signed-in admin, as every admin page sees them."""

    user_id: int
    email: str
    role: str  # platform | owner | staff
    tenant_id: int | None  # None for a platform admin
    viewing_tenant_id: int | None  # the tenant a platform admin picked, None = all
    csrf_token: str
    session_hash: str

    def may(self, right: str) -> bool:
        return right in RIGHTS[self.role]

    @property
    def may_change(self) -> bool:
        """Money, credentials, the catalogue and the team: not staff's (they see all of it)."""
        return self.may(CHANGE)


class _User(Record, frozen=True):
    id: int
    tenant_id: int | None
    email: str
    role: str
    password_hash: str
    failed_logins: int
    locked_until: datetime | None
    disabled_at: datetime | None


class SignInRefused(Exception):
    """The same for a wrong password, an unknown email and a locked account, so that it tells nothing;
    `wait`: too many failures from here, and nothing is tried before that long."""

    def __init__(self, wait: timedelta = timedelta(0)):
        super().__init__("sign-in refused")
        self.wait = wait

    @property
    def throttled(self) -> bool:
        return self.wait > timedelta(0)


class PasswordChangeRefused(ValueError):
    """`reason`: differ | weak (then `problem` says why) | wrong | locked | changed_meanwhile."""

    def __init__(self, reason: str, problem: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.problem = problem


# -- accounts --


def create_admin(
    db: Connection, clock: Clock, *, email: str, password: str, role: str, tenant_id: int | None
) -> int:
    if not EMAIL.match(email):
        raise TenantError(f"{email!r} is not an email address")
    if role not in ROLES:
        raise TenantError(f"role must be one of {', '.join(ROLES)}")
    if (role == "platform") != (tenant_id is None):
        raise TenantError("a platform admin belongs to no tenant; owners and staff belong to one")
    if problem := password_problem(password):
        raise TenantError(problem)
    return _insert(db, clock, email, hash_password(password), role, tenant_id)


def _insert(
    db: Connection, clock: Clock, email: str, password_hash: str, role: str, tenant_id: int | None
) -> int:
    try:
        return db.value(
            "INSERT INTO admin_users (tenant_id, email, password_hash, role, created_at)"
            " VALUES (?, ?, ?, ?, ?) RETURNING id",
            (tenant_id, email.strip(), password_hash, role, to_text(clock.now())),
        )
    except Conflict:
        raise TenantError(f"an admin with email {email!r} already exists") from None


def _user(db: Connection, where: str, value: object) -> _User | None:
    return db.record(_User, f"SELECT {columns(_User)} FROM admin_users WHERE {where} = ?", (value,))


# -- signing in and out --


async def sign_in(store: Store, clock: Clock, email: str, password: str, source_ip: str) -> str:
    """Returns a new session token, or raises SignInRefused. Every outcome is audited.

    A wrong password, an unknown email and a locked account get the same answer after the same work
    (a password hash is checked every time), so the form tells no one which emails are accounts."""
    email = email.strip()[:200]
    user, may_try = await store.write(_before_sign_in, clock, email, source_ip)
    correct = await asyncio.to_thread(_verify, password, user)
    token = await store.write(_after_sign_in, clock, user, may_try, correct, source_ip)
    if token is None:
        raise SignInRefused()
    return token


def _before_sign_in(db: Connection, clock: Clock, email: str, source_ip: str) -> tuple[_User | None, bool]:
    # Failures older than FORGET_AFTER count no more: dropped here, so the table holds only a day's.
    db.execute(
        "DELETE FROM sign_in_slowdowns WHERE last_failed_at < ?", (to_text(clock.now() - FORGET_AFTER),)
    )
    keys = {_account_key(email, source_ip): FREE_PER_ACCOUNT, _address_key(source_ip): FREE_PER_ADDRESS}
    wait = max(_wait(db, clock, key, free) for key, free in keys.items())
    if wait > timedelta(0):
        raise SignInRefused(wait)
    for key in keys:
        _count_failure(db, clock, key)
    user = _user(db, "email", email)
    if user is not None and (_locked(clock, user) or user.disabled_at is not None):
        reason = "removed" if user.disabled_at is not None else "locked"
        _audit(db, clock, user, "sign_in_failed", source_ip, {"reason": reason})
        return user, False
    return user, user is not None


def _after_sign_in(
    db: Connection, clock: Clock, user: _User | None, may_try: bool, correct: bool, source_ip: str
) -> str | None:
    if user is None:
        # What was typed is no admin's email, and may be a password typed into the wrong field.
        audit.record(
            db,
            clock,
            tenant_id=None,
            actor=UNKNOWN_EMAIL,
            action="sign_in_failed",
            detail={"reason": "unknown email"},
            source_ip=source_ip,
        )
        return None
    if may_try and correct:
        # A right password is no guess: it takes its try back.
        db.execute("DELETE FROM sign_in_slowdowns WHERE key = ?", (_account_key(user.email, source_ip),))
        db.execute(
            "UPDATE sign_in_slowdowns SET failures = failures - 1 WHERE key = ?", (_address_key(source_ip),)
        )
        db.execute(
            "UPDATE admin_users SET failed_logins = 0, last_sign_in_at = ? WHERE id = ?",
            (to_text(clock.now()), user.id),
        )
        _audit(db, clock, user, "sign_in", source_ip)
        return _new_session(db, clock, user.id)
    if may_try:
        _audit(db, clock, user, "sign_in_failed", source_ip, {"reason": "wrong password"})
    return None


# -- slowing sign-in down --


def _account_key(email: str, source_ip: str) -> str:
    """The typed email counts whether or not it is an account's, so being slowed down tells no one
    which emails are; only a short piece of its hash is kept, too short to find a password typed into
    the wrong field by."""
    return f"email:{fingerprint(email.strip().lower())[:EMAIL_KEY_LENGTH]}@{source_ip}"


def _address_key(source_ip: str) -> str:
    return f"address:{source_ip}"


def _wait(db: Connection, clock: Clock, key: str, free: int) -> timedelta:
    """How long until the next try may count against `key`."""
    row = db.one("SELECT failures, last_failed_at FROM sign_in_slowdowns WHERE key = ?", (key,))
    if row is None or row["failures"] < free:
        return timedelta(0)
    # The exponent is capped so that a long run of failures can't overflow timedelta.
    wait = min(FIRST_WAIT * 2 ** min(row["failures"] - free, 20), LONGEST_WAIT)
    return max(from_text(row["last_failed_at"]) + wait - clock.now(), timedelta(0))


def _count_failure(db: Connection, clock: Clock, key: str) -> None:
    db.execute(
        "INSERT INTO sign_in_slowdowns (key, failures, last_failed_at) VALUES (?, 1, ?)"
        " ON CONFLICT (key) DO UPDATE SET failures = failures + 1, last_failed_at = excluded.last_failed_at",
        (key, to_text(clock.now())),
    )


def _locked(clock: Clock, user: _User) -> bool:
    return user.locked_until is not None and user.locked_until > clock.now()


def _may_try(db: Connection, clock: Clock, user: _User, source_ip: str, failed: str) -> bool:
    """May `user`'s password be tried now? Not while the account is locked (the refusal is audited as
    `failed`). A try is counted before the password is checked, so parallel guesses can't slip past
    the limit."""
    if _locked(clock, user):
        _audit(db, clock, user, failed, source_ip, {"reason": "locked"})
        return False
    if user.failed_logins >= MAX_FAILURES:  # guesses that raced each other
        _lock(db, clock, user, source_ip)
        return False
    db.execute("UPDATE admin_users SET failed_logins = failed_logins + 1 WHERE id = ?", (user.id,))
    return True


def _wrong_password(db: Connection, clock: Clock, user: _User, source_ip: str, failed: str) -> bool:
    """Audits a wrong password as `failed`; True if it was one too many and the account is now locked."""
    _audit(db, clock, user, failed, source_ip, {"reason": "wrong password"})
    if db.value("SELECT failed_logins FROM admin_users WHERE id = ?", (user.id,)) < MAX_FAILURES:
        return False
    _lock(db, clock, user, source_ip)
    return True


def _lock(db: Connection, clock: Clock, user: _User, source_ip: str) -> None:
    db.execute(
        "UPDATE admin_users SET failed_logins = 0, locked_until = ? WHERE id = ?",
        (to_text(clock.now() + LOCKOUT), user.id),
    )
    _audit(db, clock, user, "account_locked", source_ip, {"minutes": int(LOCKOUT.total_seconds() // 60)})


def _audit(
    db: Connection, clock: Clock, user: _User, action: str, source_ip: str, detail=None, by: str = ""
) -> None:
    """An event of the admin `user`: of their own sign-in, or done to their account `by` someone."""
    audit.record(
        db,
        clock,
        tenant_id=user.tenant_id,
        actor=by or user.email,
        action=action,
        target=f"admin:{user.email}" if by else "",
        detail=detail,
        source_ip=source_ip,
    )


def _new_session(db: Connection, clock: Clock, user_id: int) -> str:
    token = secrets.token_urlsafe(32)
    now = clock.now()
    db.execute(
        "DELETE FROM admin_sessions WHERE expires_at <= ?", (to_text(now),)
    )  # housekeeping, cheap here
    db.execute(
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


def admin_for_session(db: Connection, clock: Clock, token: str) -> Admin | None:
    session = db.one(
        "SELECT token_hash, csrf_token, viewing_tenant_id, user_id FROM admin_sessions"
        " WHERE token_hash = ? AND expires_at > ?",
        (fingerprint(token), to_text(clock.now())),
    )
    user = _user(db, "id", session["user_id"]) if session else None
    if user is None or user.disabled_at is not None:  # removing an admin ends their sessions too
        return None
    return Admin(
        user_id=user.id,
        email=user.email,
        role=user.role,
        tenant_id=user.tenant_id,
        viewing_tenant_id=session["viewing_tenant_id"],
        csrf_token=session["csrf_token"],
        session_hash=session["token_hash"],
    )


def sign_out(db: Connection, clock: Clock, admin: Admin, source_ip: str) -> None:
    db.execute("DELETE FROM admin_sessions WHERE token_hash = ?", (admin.session_hash,))
    audit.record(
        db, clock, tenant_id=admin.tenant_id, actor=admin.email, action="sign_out", source_ip=source_ip
    )


# -- changing one's password --


async def change_password(
    store: Store, clock: Clock, admin: Admin, *, current: str, new: str, again: str, source_ip: str
) -> str:
    """Sets a new password and ends every session of this admin; returns a fresh session token.

    A wrong current password counts as a wrong password at sign-in, so a stolen session can't guess
    the password behind it: the account locks after MAX_FAILURES, and a locked account changes no
    password and is signed out everywhere."""
    if new != again:
        raise PasswordChangeRefused("differ")
    if problem := password_problem(new):
        raise PasswordChangeRefused("weak", problem)
    user = await store.write(_before_change, clock, admin, source_ip)
    if user is None:
        raise PasswordChangeRefused("locked")
    if not await asyncio.to_thread(verify_password, current, user.password_hash):
        locked = await store.write(_wrong_current_password, clock, user, source_ip)
        raise PasswordChangeRefused("locked" if locked else "wrong")
    new_hash = await asyncio.to_thread(hash_password, new)
    token = await store.write(_change, clock, admin, user.password_hash, new_hash, source_ip)
    if token is None:
        raise PasswordChangeRefused("changed_meanwhile")
    return token


def _before_change(db: Connection, clock: Clock, admin: Admin, source_ip: str) -> _User | None:
    """The admin, if their password may be tried now; None if the account is locked (and then signed
    out everywhere: kept, as the refusal is no rollback)."""
    user = _user(db, "id", admin.user_id)
    if _may_try(db, clock, user, source_ip, "password_change_failed"):
        return user
    _end_sessions(db, user.id)
    return None


def _wrong_current_password(db: Connection, clock: Clock, user: _User, source_ip: str) -> bool:
    locked = _wrong_password(db, clock, user, source_ip, "password_change_failed")
    if locked:
        _end_sessions(db, user.id)
    return locked


def _change(
    db: Connection, clock: Clock, admin: Admin, stored_hash: str, new_hash: str, source_ip: str
) -> str | None:
    # Compare-and-swap: a password changed meanwhile elsewhere wins, and this one is refused.
    changed = db.execute(
        "UPDATE admin_users SET password_hash = ?, failed_logins = 0 WHERE id = ? AND password_hash = ?",
        (new_hash, admin.user_id, stored_hash),
    )
    if not changed:
        return None
    _end_sessions(db, admin.user_id)
    audit.record(
        db,
        clock,
        tenant_id=admin.tenant_id,
        actor=admin.email,
        action="password_changed",
        target=f"admin:{admin.email}",
        source_ip=source_ip,
    )
    return _new_session(db, clock, admin.user_id)


def _end_sessions(db: Connection, user_id: int) -> None:
    db.execute("DELETE FROM admin_sessions WHERE user_id = ?", (user_id,))


# -- the team: from the owner's team page, and from the command line for an admin who can't get in --

COMMAND_LINE = "(command line)"  # the actor of what `portal admin …` does: whoever is root on the box
TEMPORARY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # nothing read aloud wrongly: no 0/o, 1/l/i
TEMPORARY_LENGTH = 12  # about 59 bits, in three groups of four


@dataclass(frozen=True)
class By:
    """Who changes the team: an admin in the browser (for the one business they act for), or
    COMMAND_LINE (tenant_id None: any business's admin)."""

    actor: str
    tenant_id: int | None = None
    source_ip: str = ""


BY_COMMAND_LINE = By(COMMAND_LINE)


class TeamMember(Record, frozen=True):
    id: int
    tenant_id: int | None
    email: str
    role: str
    created_at: datetime
    last_sign_in_at: datetime | None
    locked_until: datetime | None
    disabled_at: datetime | None


@dataclass(frozen=True)
class Member:
    """An admin as the team page and `portal admin list` show them."""

    admin: TeamMember
    locked: bool  # too many wrong current passwords: nothing until `locked_until`
    slowed_for: timedelta  # sign-in with this email waits this long from some address

    @property
    def state(self) -> str:
        if self.admin.disabled_at is not None:
            return "removed"
        if self.locked:
            return "locked"
        return "slowed down" if self.slowed_for else "active"


def team(db: Connection, clock: Clock, tenant_id: int | None) -> list[Member]:
    """A business's admins (every admin when `tenant_id` is None): active ones first, by email."""
    where, params = ("tenant_id = ?", (tenant_id,)) if tenant_id is not None else ("1 = 1", ())
    found = db.records(
        TeamMember,
        f"SELECT {columns(TeamMember)} FROM admin_users WHERE {where}"
        " ORDER BY disabled_at IS NOT NULL, email COLLATE NOCASE",
        params,
    )
    return [
        Member(
            admin,
            locked=admin.locked_until is not None and admin.locked_until > clock.now(),
            slowed_for=_slowed_for(db, clock, admin.email),
        )
        for admin in found
    ]


def _slowed_for(db: Connection, clock: Clock, email: str) -> timedelta:
    keys = db.all("SELECT key FROM sign_in_slowdowns WHERE key LIKE ?", (_account_key(email, "") + "%",))
    return max((_wait(db, clock, row["key"], FREE_PER_ACCOUNT) for row in keys), default=timedelta(0))


def temporary_password() -> str:
    """A password to tell a new or locked-out admin, to be changed by them once they are in."""
    letters = "".join(secrets.choice(TEMPORARY_ALPHABET) for _ in range(TEMPORARY_LENGTH))
    return "-".join(letters[i : i + 4] for i in range(0, TEMPORARY_LENGTH, 4))


def invite(db: Connection, clock: Clock, by: By, *, email: str, role: str, password_hash: str) -> None:
    """A new admin of `by`'s business, whose password (hashed off the event loop) is told them once.
    Someone removed from this business may be invited back: the same account, with the new password."""
    email = email.strip()
    if not EMAIL.match(email):
        raise TenantError(f"{email!r} is not an email address")
    if role not in ("owner", "staff"):
        raise TenantError("pick owner or staff")
    back = db.execute(
        "UPDATE admin_users SET role = ?, password_hash = ?, disabled_at = NULL, failed_logins = 0,"
        " locked_until = NULL WHERE email = ? AND tenant_id = ? AND disabled_at IS NOT NULL",
        (role, password_hash, email, by.tenant_id),
    )
    if not back:
        _insert(db, clock, email, password_hash, role, by.tenant_id)
    _audit_team(db, clock, by, "admin_invited", _known(db, email), {"role": role})


def set_role(db: Connection, clock: Clock, by: By, user_id: int, role: str) -> None:
    user = _member(db, by, user_id)
    if role not in ("owner", "staff"):
        raise TenantError("pick owner or staff")
    if user.role == role:
        return
    if user.role == "owner":
        _keep_an_owner(db, user)
    db.execute("UPDATE admin_users SET role = ? WHERE id = ?", (role, user.id))
    _audit_team(db, clock, by, "admin_role_changed", user, {"role": role})


def disable(db: Connection, clock: Clock, by: By, *, email: str = "", user_id: int = 0) -> None:
    """Removes an admin: they can't sign in, and every session of theirs ends now. The account is kept
    for the audit log, and can be invited back."""
    user = _member(db, by, user_id) if user_id else _known(db, email)
    if user.disabled_at is not None:
        return
    if user.role == "owner":
        _keep_an_owner(db, user)
    db.execute("UPDATE admin_users SET disabled_at = ? WHERE id = ?", (to_text(clock.now()), user.id))
    _end_sessions(db, user.id)
    _audit_team(db, clock, by, "admin_removed", user)


def _keep_an_owner(db: Connection, user: _User) -> None:
    """Refuses to remove or demote `user` if they are the last owner of their business."""
    owners = db.value(
        "SELECT count(*) FROM admin_users WHERE tenant_id = ? AND role = 'owner' AND disabled_at IS NULL",
        (user.tenant_id,),
    )
    if owners <= 1:
        raise TenantError(f"{user.email} is the business's only owner: make someone else an owner first")


def unlock(db: Connection, clock: Clock, by: By, *, email: str = "", user_id: int = 0) -> None:
    """Ends the account's lock and the slowdown of its sign-in from every address. An address slowed
    down by failures with many emails stays slowed: that is the address's doing, not the account's."""
    user = _member(db, by, user_id) if user_id else _known(db, email)
    _clear_locks(db, user)
    _audit_team(db, clock, by, "account_unlocked", user)


def reset_password(
    db: Connection, clock: Clock, by: By, password_hash: str, *, email: str = "", user_id: int = 0
) -> str:
    """A new password (hashed off the event loop) for an admin who lost theirs: unlocked, and signed
    out everywhere. Returns their email."""
    user = _member(db, by, user_id) if user_id else _known(db, email)
    db.execute("UPDATE admin_users SET password_hash = ? WHERE id = ?", (password_hash, user.id))
    _clear_locks(db, user)
    _end_sessions(db, user.id)
    _audit_team(db, clock, by, "password_reset", user)
    return user.email


def _known(db: Connection, email: str) -> _User:
    user = _user(db, "email", email.strip())
    if user is None:
        raise TenantError(f"no admin has the email {email!r}")
    return user


class NotInTeam(TenantError):
    """No admin of this id in the business: another business's is as unknown as one never made."""


def _member(db: Connection, by: By, user_id: int) -> _User:
    user = _user(db, "id", user_id)
    if user is None or user.tenant_id is None or user.tenant_id != by.tenant_id:
        raise NotInTeam("no such admin in this business")
    return user


def _audit_team(db: Connection, clock: Clock, by: By, action: str, user: _User, detail=None) -> None:
    _audit(db, clock, user, action, by.source_ip, detail, by=by.actor)


def _clear_locks(db: Connection, user: _User) -> None:
    db.execute("UPDATE admin_users SET failed_logins = 0, locked_until = NULL WHERE id = ?", (user.id,))
    db.execute("DELETE FROM sign_in_slowdowns WHERE key LIKE ?", (_account_key(user.email, "") + "%",))


# -- what a platform admin looks at --


def scope_of(db: Connection, admin: Admin) -> Scope:
    if admin.role != "platform":
        return Scope((admin.tenant_id,))
    if admin.viewing_tenant_id is not None:
        return Scope((admin.viewing_tenant_id,))
    return Scope(tenants.ids(db), platform_wide=True)


def view_tenant(db: Connection, admin: Admin, tenant_id: int | None) -> bool:
    """A platform admin picks one tenant to look at (None = all). False if there is no such tenant."""
    if tenant_id is not None and tenants.get(db, tenant_id) is None:
        return False
    db.execute(
        "UPDATE admin_sessions SET viewing_tenant_id = ? WHERE token_hash = ?",
        (tenant_id, admin.session_hash),
    )
    return True
