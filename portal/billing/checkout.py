"""Starting a payment: the limits, the row, the STK push to the payer's phone, and Daraja's answer.

The row is written before Daraja is called, and the IDs Daraja returns are stored before the payer
sees the waiting page. Daraja is called outside any transaction: a slow answer must not hold up other
writers.

Callbacks only make confirmation faster (DESIGN 5). The box usually sits behind NAT: without
`server.public_url`, the push names a callback URL under `.invalid`, a top-level domain that by RFC 6761
can never resolve. It has the shape Daraja checks (absolute https, no spaces, no forbidden words),
nothing can leak to a host someone else owns, and confirmation.py learns the outcome by STK query
instead. (Should Daraja ever refuse it, pushes fail as `push.refused` with its "Invalid CallBackURL"
in the log and the timeline; setting server.public_url is then the cure.)

Every answer is read (DESIGN 14). Daraja or its gateway turning the push away (spike arrest, HTTP
429, a fault page) fails the payment at once: nothing was sent, the phone is free for another try. A
push whose answer never came (a timeout, an answer without a CheckoutRequestID, or a crash between the
push and storing its answer, found by confirmation.py once ANSWER_GRACE is over) may still ring the
phone, so it is never resent: it becomes `unknown`, which frees the phone's slot, and waits for its
callback (which names its CheckoutRequestID), M-Pesa's word on the receipt its payer types, or the
owner.
"""

import json
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import astuple, dataclass
from datetime import datetime, timedelta

from .. import phones
from ..access import routers
from ..catalog import packages
from ..clock import Clock, to_text
from ..metrics import Metrics
from ..mpesa import accounts, result_codes
from ..mpesa.daraja import (
    PUSH_AT_MOST,
    BusyError,
    DarajaClient,
    DarajaError,
    PushAccepted,
    UnavailableError,
    ValidationError,
)
from ..settings import Limits
from ..store import Conflict, Connection, Store
from ..vault import Vault, fingerprint, new_token
from . import payments
from .payments import Payment

log = logging.getLogger(__name__)

DOUBLE_TAP = timedelta(seconds=30)  # a second Pay this soon is the same tap, and gets the same payment
IDEMPOTENCY_WINDOW = timedelta(hours=24)
NO_PUBLIC_URL_HOST = "no-public-url.invalid"
# When to ask Daraja (§5 of reference/daraja.md: first query after 10-20 s). With a public URL the
# callback usually answers first, so wait longer.
FIRST_QUERY = timedelta(seconds=10)
FIRST_QUERY_WITH_CALLBACKS = timedelta(seconds=30)
LIMIT_WINDOW = timedelta(hours=1)  # what the limits on prompts count over
# What an address the router can't vouch for as one device's may ask, in devices' worth: behind a
# router that masquerades, every customer comes from one address.
DEVICES_PER_SHARED_ADDRESS = 10
# A payment still `created` this long after it was written never got its push's answer stored: the
# process stopped in between. It becomes `unknown` (confirmation.py).
ANSWER_GRACE = PUSH_AT_MOST + timedelta(seconds=30)


def prompt_reference(ref: str) -> str:
    """The account the M-Pesa prompt names, and the waiting page with it (the payer checks the two
    agree); on the payer's statement too, where support can find the payment by it."""
    return "WiFi" + ref[:8]


@dataclass(frozen=True)
class Charge:
    """A payment an API client asks for: the business's own sale, for no package and no device, with the
    account reference and description its prompt shows (Daraja keeps up to 12 letters and digits, and
    13 characters; the API refuses more), paid into the M-Pesa account of this name (None: the
    business's only one)."""

    api_client_id: int
    amount: int
    reference: str
    description: str
    account: str | None = None


class PaymentError(ValueError):
    """The payment can't be started. `reason`, for whoever tells a person: no_package, no_router,
    no_account, account_needed (a charge names none of several), no_such_account (a charge names one
    the business lacks), too_many_pushes (`wait_minutes` says until when), phone_busy,
    idempotency_conflict."""

    def __init__(
        self, reason: str, detail: str = "", *, wait_minutes: int = 0, busy_with: Payment | None = None
    ):
        super().__init__(detail or reason)
        self.reason = reason
        self.wait_minutes = wait_minutes
        self.busy_with = busy_with  # phone_busy: the open payment that holds the phone


def callback_url(public_url: str, token: str) -> str:
    """Where Daraja should post the result; see the module docstring for the `.invalid` fallback."""
    return f"{public_url or 'https://' + NO_PUBLIC_URL_HOST}/hooks/stk/{token}"


class Checkout:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        vault: Vault,
        daraja: DarajaClient,
        metrics: Metrics,
        *,
        public_url: str,
        payment_timeout: int,
        limits: Limits,
        ask_about: Callable[[Payment], Awaitable[None]],
    ):
        """`ask_about(payment)` asks Daraja about an open payment at once (confirmation.ask_now)."""
        self.store = store
        self.clock = clock
        self.vault = vault
        self.daraja = daraja
        self.metrics = metrics
        self.public_url = public_url
        self.payment_timeout = timedelta(seconds=payment_timeout)
        self.limits = limits
        self.ask_about = ask_about

    async def start(
        self,
        *,
        tenant_id: int,
        phone: str,
        package_id: int | None = None,
        charge: Charge | None = None,
        router_id: int | None = None,
        mac: str | None = None,
        ip: str | None = None,
        client_address: str | None = None,
        own_address: bool = False,
        idempotency_key: str | None = None,
    ) -> Payment:
        """Writes the payment, pushes the prompt to the phone, stores Daraja's answer; returns the payment.
        It buys a package (the splash) or is an API client's `charge`.

        Raises phones.PhoneError for a number M-Pesa can't use and PaymentError for a request that can't
        become a payment. Daraja refusing the push is not an exception: the payment comes back `failed`,
        its `outcome` saying what to tell the payer, or `unknown` when no answer came. A second request
        for a phone with an open payment gets that payment back (the double-tapped Pay button); so does
        a repeated Idempotency-Key (an API client's request is never a double tap: its phone is busy).

        `client_address`: where the splash's request came from; `own_address` when the router vouches
        that it is the device's own (presence.py). The limits are kept per asking address, so a
        stranger can spend no one else's (`_check_limits`)."""
        phone = phones.normalize(phone)
        request = {"tenant_id": tenant_id, "package_id": package_id, "charge": charge, "phone": phone}
        request |= {"router_id": router_id, "mac": mac, "ip": ip, "idempotency_key": idempotency_key}
        request |= {"client_address": client_address, "own_address": own_address}
        try:
            payment, new = await self.store.write(self._create, **request)
        except PaymentError as error:
            if error.busy_with is None:
                raise
            # Perhaps a stranger's prompt, which its payer has just cancelled on the phone, or one that
            # timed out there, and we have not asked since: asked now, the phone may be free.
            await self.ask_about(error.busy_with)
            payment, new = await self.store.write(self._create, **request)
        if not new:
            return payment
        return await self._push(payment)

    def _create(
        self,
        db: Connection,
        *,
        tenant_id: int,
        package_id: int | None,
        charge: Charge | None,
        phone: str,
        router_id: int | None,
        mac: str | None,
        ip: str | None,
        client_address: str | None,
        own_address: bool,
        idempotency_key: str | None,
    ) -> tuple[Payment, bool]:
        """(the payment, whether it is new and must be pushed). The payments table holds an
        Idempotency-Key once per business, so whatever interleaves, a key makes one payment."""
        now = self.clock.now()
        charged = astuple(charge) if charge else None
        request_hash = fingerprint(json.dumps([router_id, package_id, phone, mac, ip, charged]))
        earlier = payments.by_idempotency_key(db, tenant_id, idempotency_key) if idempotency_key else None
        if earlier is not None:
            payment, earlier_hash = earlier
            if payment.created_at < now - IDEMPOTENCY_WINDOW:
                payments.release_idempotency_key(db, payment.id)
            elif earlier_hash != request_hash:
                raise PaymentError(
                    "idempotency_conflict", "this Idempotency-Key was used for another request"
                )
            else:
                return payment, False
        open_payment = payments.open_of_phone(db, phone)
        if open_payment is not None:
            asked = (tenant_id, router_id, mac, package_id)
            same = (open_payment.tenant_id, open_payment.router_id, open_payment.mac, open_payment.package_id)
            if charge is not None or same != asked or open_payment.created_at < now - DOUBLE_TAP:
                # Not the same Pay button tapped twice: anyone else (who could name this phone, device
                # and package) would be handed the payment's page, and with it its access code. M-Pesa
                # allows one prompt per phone at a time anyway.
                raise PaymentError(
                    "phone_busy", "an M-Pesa request is already open on this phone", busy_with=open_payment
                )
            return open_payment, False
        self._check_limits(db, now, phone, mac, client_address, own_address)
        ref = new_token(8)
        if charge is not None:
            amount, reference, description = charge.amount, charge.reference, charge.description
        else:
            package = packages.get(db, package_id) if package_id is not None else None
            if package is None or package.tenant_id != tenant_id:
                raise PaymentError("no_package", f"no package {package_id} for this business")
            # The reference is on the payer's statement: support can find the payment by it.
            amount, reference, description = package.price, prompt_reference(ref), package.name
        values = {
            "tenant_id": tenant_id,
            "ref": ref,
            "callback_token": new_token(),
            "mpesa_account_id": (
                _named_account(db, tenant_id, charge.account)
                if charge is not None
                else self._account_for(db, tenant_id, router_id)
            ),
            "package_id": package_id,
            "api_client_id": charge.api_client_id if charge else None,
            "router_id": router_id,
            "mac": mac,
            "ip": ip,
            "client_address": client_address,
            "phone": phone,
            "amount": amount,
            "reference": reference,
            "description": description,
            "state": "created",
            "idempotency_key": idempotency_key,
            "request_hash": request_hash,
            "next_query_at": to_text(now + ANSWER_GRACE),  # nothing to ask about before the answer
            "created_at": to_text(now),
            "updated_at": to_text(now),
        }
        payment_id = payments.insert(db, values)
        payments.record(
            db,
            self.clock,
            payment_id,
            "created",
            "portal",
            amount=amount,
            reference=reference,
            description=description,
        )
        return payments.get(db, payment_id), True

    def _check_limits(
        self,
        db: Connection,
        now: datetime,
        phone: str,
        mac: str | None,
        address: str | None,
        own_address: bool,
    ) -> None:
        """Prompts not paid in the last hour, from the payments themselves (a restart forgets nothing).
        Prompts still open count: one device asking for prompts on many phones at once is exactly what
        the limits are for (the same Pay button tapped twice never gets here). Paid ones do not: a
        parent paying for the family's devices pesters nobody.

        Counted per asking address, never per typed MAC alone, which anyone can name: per phone from
        that address (a stranger's prompts to a phone leave its owner's own alone), per address (one
        device's worth when the router vouches it is one device's; a NAT's otherwise), and per device
        at that address. An API client's prompts, with no address, count per phone."""
        per_device = self.limits.pushes_per_device_per_hour
        per_phone = {"phone": phone} | ({"client_address": address} if address else {})
        limits = [(per_phone, self.limits.pushes_per_phone_per_hour, "phone")]
        if address:
            shared = 1 if own_address else DEVICES_PER_SHARED_ADDRESS
            limits.append(({"client_address": address}, per_device * shared, "address"))
            if mac is not None and not own_address:
                limits.append(({"client_address": address, "mac": mac}, per_device, "device"))
        since = now - LIMIT_WINDOW
        for counted, limit, what in limits:
            unpaid = payments.unpaid_since(db, since, **counted)
            if len(unpaid) >= limit:
                # A prompt may be sent once enough of these have left the window.
                free_at = unpaid[len(unpaid) - limit] + LIMIT_WINDOW
                raise PaymentError(
                    "too_many_pushes",
                    f"{len(unpaid)} M-Pesa prompts not paid in the last hour for this {what}",
                    wait_minutes=max(1, math.ceil((free_at - now).total_seconds() / 60)),
                )

    @staticmethod
    def _account_for(db: Connection, tenant_id: int, router_id: int | None) -> int:
        """The router's M-Pesa account if it names one, else the business's first."""
        if router_id is not None:
            router = routers.get(db, router_id)
            if router is None or router.tenant_id != tenant_id:
                raise PaymentError("no_router", f"no router {router_id} for this business")
            if router.mpesa_account_id is not None:
                return router.mpesa_account_id
        account_id = accounts.first_of_tenant(db, tenant_id)
        if account_id is None:
            raise PaymentError("no_account", "this business has no M-Pesa account set up")
        return account_id

    async def _push(self, payment: Payment) -> Payment:
        account, token = await self.store.read(_account_and_token, self.vault, payment)
        started = self.clock.now()
        try:
            with self.metrics.stk_push_seconds.time():  # real time, whatever the clock: Daraja's speed
                accepted = await self.daraja.stk_push(
                    account,
                    phone=payment.phone,
                    amount=payment.amount,
                    reference=payment.reference,
                    description=payment.description,
                    callback_url=callback_url(self.public_url, token),
                )
        except DarajaError as error:
            elapsed_ms = _ms(self.clock.now() - started)
            if isinstance(error, UnavailableError) and error.maybe_sent:
                # It may ring on the phone all the same: `unknown`, never resent (module docstring).
                log.warning(
                    "STK push outcome unknown", extra={"fields": {"payment": payment.ref, "error": error}}
                )
                await self.store.write(_push_unknown, self.clock, payment.id, error, elapsed_ms)
            else:
                if _failure_code(error) == result_codes.PUSH_REFUSED:
                    log.warning(
                        "Daraja refused an STK push: check the M-Pesa account",
                        extra={"fields": {"payment": payment.ref, "account": account.id, "error": error}},
                    )
                await self.store.write(_push_failed, self.clock, payment.id, error, elapsed_ms)
        else:
            first_query = FIRST_QUERY_WITH_CALLBACKS if self.public_url else FIRST_QUERY
            await self.store.write(
                _push_accepted, self.clock, payment.id, accepted, first_query, _ms(self.clock.now() - started)
            )
        return await self.store.read(payments.get, payment.id)


def _named_account(db: Connection, tenant_id: int, name: str | None) -> int:
    """The business's account of this name; with none named, its only one."""
    named = accounts.ids_by_name(db, tenant_id)
    if not named:
        raise PaymentError("no_account", "this business has no M-Pesa account set up")
    listed = ", ".join(named)
    if name is None:
        if len(named) > 1:
            raise PaymentError(
                "account_needed", f"the business has {len(named)} M-Pesa accounts: name one of {listed}"
            )
        [only] = named.values()
        return only
    if name not in named:
        raise PaymentError("no_such_account", f"the business has no M-Pesa account named {name!r}: {listed}")
    return named[name]


def _account_and_token(db: Connection, vault: Vault, payment: Payment) -> tuple[accounts.Account, str]:
    return accounts.load(db, vault, payment.mpesa_account_id), payments.callback_token(db, payment.id)


def _push_accepted(
    db: Connection,
    clock: Clock,
    payment_id: int,
    accepted: PushAccepted,
    first_query: timedelta,
    elapsed_ms: int,
) -> None:
    try:
        moved = payments.push_accepted(
            db,
            clock,
            payment_id,
            merchant=accepted.merchant_request_id,
            checkout=accepted.checkout_request_id,
            first_query=clock.now() + first_query,
        )
    except Conflict:  # given up as unknown, and the phone paid again meanwhile: its callback settles it
        moved = False
    payments.record(
        db,
        clock,
        payment_id,
        "push",
        "portal",
        effect="pending" if moved else "none",
        checkout_request_id=accepted.checkout_request_id,
        merchant_request_id=accepted.merchant_request_id,
        elapsed_ms=elapsed_ms,
    )


def _push_unknown(db: Connection, clock: Clock, payment_id: int, error: DarajaError, elapsed_ms: int) -> None:
    unknown = payments.mark_unknown(db, clock, payment_id, why=error.message)
    payments.record(
        db,
        clock,
        payment_id,
        "push",
        "portal",
        effect="unknown" if unknown else "none",
        error=error.message,
        elapsed_ms=elapsed_ms,
    )


def _failure_code(error: DarajaError) -> str:
    """The portal's own code for a push Daraja surely did not act on."""
    if isinstance(error, UnavailableError):
        return result_codes.PUSH_UNREACHABLE
    if isinstance(error, BusyError):
        return result_codes.PUSH_BUSY if error.rate_limited else result_codes.PUSH_LOCKED
    if isinstance(error, ValidationError) and error.about_the_payer:
        return result_codes.PUSH_BAD_NUMBER
    return result_codes.PUSH_REFUSED


def _push_failed(db: Connection, clock: Clock, payment_id: int, error: DarajaError, elapsed_ms: int) -> None:
    """Daraja surely did not act on the push: the payment fails, with the portal's own code for why, and
    the phone is free for another try."""
    code = _failure_code(error)
    failed = payments.mark_failed(db, clock, payment_id, code=code, desc=error.message)
    payments.record(
        db,
        clock,
        payment_id,
        "push",
        "portal",
        effect="failed" if failed else "none",
        code=code,
        error=error.message,
        daraja_code=error.code,
        elapsed_ms=elapsed_ms,
    )


def _ms(elapsed: timedelta) -> int:
    return round(elapsed.total_seconds() * 1000)
