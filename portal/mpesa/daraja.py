"""The Daraja client: OAuth token cache, STK push, STK push query, C2B URL registration, Transaction
Status.

One `DarajaClient` per process on the app's shared `httpx.AsyncClient`. Facts and traps it encodes are in
reference/daraja.md; the section numbers below point there. Every answer is read, never assumed: errors
are typed so callers can tell what to do: fix the account (AuthError, CredentialError, ValidationError),
wait (BusyError: Daraja or its gateway turned the request away, nothing was done), or, after an
UnavailableError with `maybe_sent`, *not* send again: a push that timed out may still reach the phone.
Exceptions carry Daraja's own words and never a secret.
"""

import asyncio
import base64
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx

from ..clock import Clock
from ..typed_numbers import is_digits
from . import result_codes as codes
from .security_credential import security_credential

SANDBOX = "https://sandbox.safaricom.co.ke"
PRODUCTION = "https://api.safaricom.co.ke"
ENVIRONMENTS = {"sandbox": SANDBOX, "production": PRODUCTION}

OAUTH = "/oauth/v1/generate"
STK_PUSH = "/mpesa/stkpush/v1/processrequest"
STK_QUERY = "/mpesa/stkpushquery/v1/query"
NEVER_ISSUED = (
    "ws_CO_01012000000000000000000000"  # a CheckoutRequestID's shape (§4.2), from before M-Pesa had one
)
C2B_REGISTER = "/mpesa/c2b/v2/registerurl"
TRANSACTION_STATUS = "/mpesa/transactionstatus/v1/query"

KENYA = ZoneInfo("Africa/Nairobi")  # Timestamps are Kenya time (§3.1, §11.4)
MAX_AMOUNT = 250_000  # per transaction (§3.1)
TOKEN_REFRESH_MARGIN = timedelta(seconds=120)  # refresh before Daraja's 3600 s run out (§2, §12)
# Daraja refuses callback URLs containing these, in any case (§10.4); hex tokens can't spell them.
FORBIDDEN_IN_URLS = ("mpesa", "m-pesa", "safaricom", "exe", "cmd", "sql", "query")
# Each call waits as long as waiting can buy something (§10.6). A connection or a token comes within
# seconds or not at all. A push may be ringing on the phone already, so its answer is worth waiting
# for. A query is asked again on the next round anyway, and a slow one must not hold the others up.
CONNECT_TIMEOUT = 5.0
TOKEN_TIMEOUT = httpx.Timeout(5.0)
PUSH_TIMEOUT = httpx.Timeout(30.0, connect=CONNECT_TIMEOUT)
QUERY_TIMEOUT = httpx.Timeout(10.0, connect=CONNECT_TIMEOUT)
REQUEST_TIMEOUT = httpx.Timeout(20.0, connect=CONNECT_TIMEOUT)  # registering URLs, Transaction Status
# The longest a push can take, its token and one retry after a refused token included (`_post`).
PUSH_AT_MOST = timedelta(seconds=2 * (2 * 5.0 + CONNECT_TIMEOUT + 30.0))


def base_url(environment: str) -> str:
    """'sandbox', 'production', or the base URL of something that speaks Daraja (the simulator)."""
    return ENVIRONMENTS.get(environment, environment).rstrip("/")


@dataclass(frozen=True)
class Account:
    """One M-Pesa account's credentials, decrypted from its `mpesa_accounts` row (mpesa/accounts.py).

    For a Till, `shortcode` is the store (head-office) number: it goes in BusinessShortCode and the
    Password; the till number is PartyB (§3.1, §11.7).
    """

    id: int
    name: str
    shortcode: str
    kind: str  # 'paybill' | 'till'
    till_number: str | None
    base_url: str
    consumer_key: str = field(repr=False)
    consumer_secret: str = field(repr=False)
    passkey: str = field(repr=False)
    # Transaction Status (§8): the initiator the business made on the M-Pesa org portal, its password,
    # and Safaricom's certificate for this environment (PEM), which encrypts that password.
    initiator_name: str | None = None
    initiator_password: str | None = field(default=None, repr=False)
    certificate: str | None = None

    @property
    def checks_receipts(self) -> bool:
        """Can M-Pesa be asked about a receipt (Transaction Status) with this account?"""
        return bool(self.initiator_name and self.initiator_password and self.certificate)

    @property
    def party_b(self) -> str:
        return self.till_number if self.kind == "till" and self.till_number else self.shortcode

    @property
    def transaction_type(self) -> str:
        return "CustomerBuyGoodsOnline" if self.kind == "till" else "CustomerPayBillOnline"


class DarajaError(Exception):
    """Daraja refused the request. `code` is its errorCode (or ResponseCode), `message` its words."""

    def __init__(self, message: str, code: str = ""):
        super().__init__(f"{message} ({code})" if code else message)
        self.message = message
        self.code = code


class AuthError(DarajaError):
    """The consumer key and secret were refused, or Daraja kept refusing our token: wrong key, wrong
    environment (sandbox keys against production), or the app lacks the API product."""


class CredentialError(DarajaError):
    """The shortcode or passkey is wrong: 'Wrong credentials' or 'Merchant does not exist'."""


class ValidationError(DarajaError):
    """Daraja (or this client, before sending) refused one field of the request."""

    def __init__(self, message: str, code: str = "", field: str = ""):
        super().__init__(message, code)
        self.field = field

    @property
    def about_the_payer(self) -> bool:
        """Daraja refused the payer's number ("Invalid PhoneNumber", "Invalid PartyA", §3.3): another
        number may work; nothing is wrong with the hotspot's set-up."""
        return self.field in ("PhoneNumber", "PartyA")


class BusyError(DarajaError):
    """Wait and try later: the payer already has a prompt open, or (`rate_limited`) Daraja or its gateway
    turned the request away before M-Pesa saw it: spike arrest or quota (§10.5), HTTP 429, an Apigee
    fault, a 502 or 503 page, an empty or HTML body (§1). Nothing was done; slow down."""

    def __init__(self, message: str, code: str = "", rate_limited: bool = False):
        super().__init__(message, code)
        self.rate_limited = rate_limited


class UnavailableError(DarajaError):
    """No usable answer: network error, timeout, or something that isn't Daraja's JSON.

    `maybe_sent` is False only when the request surely never left (the connection was never made). When
    True, Daraja may have acted on it: a push may be ringing on the phone, so it must not be resent.
    """

    def __init__(self, message: str, maybe_sent: bool):
        super().__init__(message)
        self.maybe_sent = maybe_sent


@dataclass(frozen=True)
class PushAccepted:
    merchant_request_id: str
    checkout_request_id: str


@dataclass(frozen=True)
class StatusAsked:
    """Daraja took a Transaction Status question; the answer comes later, to its result URL (§8.1)."""

    conversation_id: str
    originator_conversation_id: str


@dataclass(frozen=True)
class QueryAnswer:
    """`result_code` None means still pending (both pending shapes, §5.2)."""

    result_code: str | None
    result_desc: str

    @property
    def pending(self) -> bool:
        return self.result_code is None


@dataclass
class _Token:
    value: str
    refresh_at: datetime


def timestamp(moment: datetime) -> str:
    return moment.astimezone(KENYA).strftime("%Y%m%d%H%M%S")


def password(shortcode: str, passkey: str, stamp: str) -> str:
    """base64(shortcode + passkey + timestamp): plain concatenation, no hashing (§3.1)."""
    return base64.b64encode(f"{shortcode}{passkey}{stamp}".encode()).decode()


def account_reference(text: str) -> str:
    """Shown on the prompt as the account number: up to 12 letters and digits (§3.1, §11.8)."""
    return re.sub(r"[^A-Za-z0-9]", "", text)[:12] or "WiFi"


def transaction_desc(text: str) -> str:
    """Up to 13 plain characters, never empty: a missing one gets 'Invalid Remarks' (§3.1)."""
    return re.sub(r"[^A-Za-z0-9 ]", "", text).strip()[:13].strip() or "WiFi"


def check_callback_url(url: str, name: str = "CallBackURL") -> None:
    """Refuses before sending what Daraja would refuse with an unhelpful 'Invalid CallBackURL'."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc or re.search(r"\s", url):
        raise ValidationError(f"{name} must be an absolute http(s) URL without spaces", field=name)
    lowered = url.lower()
    for word in FORBIDDEN_IN_URLS:
        if word in lowered:
            raise ValidationError(
                f"{name} contains {word!r}, which Daraja refuses in callback URLs; use a public address "
                "without it",
                field=name,
            )


class DarajaClient:
    def __init__(self, http: httpx.AsyncClient, clock: Clock):
        self._http = http
        self._clock = clock
        # One token per account and consumer key: each new token invalidates the previous one (§2), so
        # the lock makes concurrent callers share a single minting.
        self._tokens: dict[tuple, _Token] = {}
        self._locks: dict[tuple, asyncio.Lock] = {}

    async def stk_push(
        self,
        account: Account,
        *,
        phone: str,
        amount: int,
        reference: str,
        description: str,
        callback_url: str,
    ) -> PushAccepted:
        """Asks Daraja to prompt `phone` (2547XXXXXXXX) for `amount` whole shillings."""
        if isinstance(amount, bool) or not isinstance(amount, int) or not 1 <= amount <= MAX_AMOUNT:
            raise ValueError(f"amount must be a whole number of shillings, 1-{MAX_AMOUNT}")
        check_callback_url(callback_url)
        stamp = timestamp(self._clock.now())
        body = {  # numbers as JSON integers (§3.1 type note)
            "BusinessShortCode": int(account.shortcode),
            "Password": password(account.shortcode, account.passkey, stamp),
            "Timestamp": stamp,
            "TransactionType": account.transaction_type,
            "Amount": amount,
            "PartyA": int(phone),
            "PartyB": int(account.party_b),
            "PhoneNumber": int(phone),
            "CallBackURL": callback_url,
            "AccountReference": account_reference(reference),
            "TransactionDesc": transaction_desc(description),
        }
        data = await self._post(account, STK_PUSH, body, PUSH_TIMEOUT)
        checkout, merchant = data.get("CheckoutRequestID"), data.get("MerchantRequestID")
        code = data.get("ResponseCode")
        if code is not None and str(code) != "0":
            raise DarajaError(str(data.get("ResponseDescription") or "push refused"), str(code))
        if not isinstance(checkout, str) or not checkout or not isinstance(merchant, str):
            # Without its CheckoutRequestID a push can't be asked about; it may ring all the same.
            raise UnavailableError("Daraja answered the push without a CheckoutRequestID", maybe_sent=True)
        return PushAccepted(merchant_request_id=merchant, checkout_request_id=checkout)

    async def stk_query(self, account: Account, checkout_request_id: str) -> QueryAnswer:
        """What Daraja knows of a push. Never a receipt: only the callback carries that (§5.1)."""
        stamp = timestamp(self._clock.now())
        body = {
            "BusinessShortCode": int(account.shortcode),
            "Password": password(account.shortcode, account.passkey, stamp),
            "Timestamp": stamp,
            "CheckoutRequestID": checkout_request_id,
        }
        try:
            data = await self._post(account, STK_QUERY, body, QUERY_TIMEOUT)
        except DarajaError as error:
            # The older pending shape: HTTP 500, 500.001.1001 "The transaction is being processed".
            if error.code == "500.001.1001" and "being processed" in error.message.lower():
                return QueryAnswer(None, error.message)
            raise
        if data.get("ResultCode") is None:
            raise UnavailableError("Daraja's query answer has no ResultCode", maybe_sent=False)
        code = codes.normalize(data["ResultCode"])
        desc = str(data.get("ResultDesc") or "")
        return QueryAnswer(None if code == "4999" else code, desc)

    async def register_c2b_urls(
        self,
        account: Account,
        *,
        confirmation_url: str,
        validation_url: str,
        response_type: str = "Completed",
    ) -> None:
        """Tells Daraja where to post PayBill/Till payments made by hand (§7.1). Production allows it once.

        Returns only when Daraja said it took them: ResponseCode "0", or no code and a description that
        says success. Anything else raises DarajaError with Daraja's words: "Urls are already registered"
        comes as an error (500.003.1001) or as a description without a code, and the URLs registered
        before (perhaps someone else's) stay."""
        check_callback_url(confirmation_url, "ConfirmationURL")
        check_callback_url(validation_url, "ValidationURL")
        data = await self._post(
            account,
            C2B_REGISTER,
            {
                "ShortCode": account.shortcode,
                "ResponseType": response_type,
                "ConfirmationURL": confirmation_url,
                "ValidationURL": validation_url,
            },
            REQUEST_TIMEOUT,
        )
        code, description = data.get("ResponseCode"), str(data.get("ResponseDescription") or "").strip()
        took = str(code) == "0" if code is not None else description.rstrip(".").lower() == "success"
        if took:
            return
        raise DarajaError(
            description or "Daraja did not say it took the URLs", "" if code is None else str(code)
        )

    async def transaction_status(
        self, account: Account, *, receipt: str, result_url: str, timeout_url: str
    ) -> StatusAsked:
        """Asks M-Pesa about a receipt (Transaction Status, §8.1); the answer is posted to `result_url`
        (or, if M-Pesa's queue gives up, to `timeout_url`). ValueError if the account can't ask."""
        if not account.checks_receipts:
            raise ValueError("this M-Pesa account has no initiator and certificate for Transaction Status")
        check_callback_url(result_url, "ResultURL")
        check_callback_url(timeout_url, "QueueTimeOutURL")
        body = {
            "Initiator": account.initiator_name,
            "SecurityCredential": security_credential(account.initiator_password, account.certificate),
            "CommandID": "TransactionStatusQuery",
            "TransactionID": receipt,
            "PartyA": account.shortcode,  # the organisation's shortcode (a Till's store number)
            "IdentifierType": "4",
            "ResultURL": result_url,
            "QueueTimeOutURL": timeout_url,
            "Remarks": "Wi-Fi payment check",
            "Occasion": "WiFi",
        }
        data = await self._post(account, TRANSACTION_STATUS, body, REQUEST_TIMEOUT)
        if str(data.get("ResponseCode")) != "0":
            description = str(data.get("ResponseDescription") or "Transaction Status refused")
            raise DarajaError(description, str(data.get("ResponseCode")))
        return StatusAsked(
            conversation_id=str(data.get("ConversationID") or ""),
            originator_conversation_id=str(data.get("OriginatorConversationID") or ""),
        )

    async def _post(self, account: Account, path: str, body: dict, waiting: httpx.Timeout) -> dict:
        for attempt in range(2):
            token = await self._token(account)
            response = await self._send(
                "POST",
                account.base_url + path,
                json=body,
                headers={"Authorization": f"Bearer {token}"},
                timeout=waiting,
            )
            if response.status_code == 200:
                data = _json(response)
                if not isinstance(data, dict):
                    # A page from something in front of Daraja (§1), not Daraja's answer.
                    raise BusyError(f"Daraja's gateway answered {path} with a page, not JSON", "200", True)
                return data
            error = _refusal(response)
            # An expired or superseded token: mint once more and retry once (§2, §12). Daraja did nothing.
            if not isinstance(error, AuthError) or attempt == 1:
                raise error
            self._forget(account, token)

    async def check_credentials(self, account: Account) -> None:
        """The owner's "test credentials", with no prompt on anyone's phone: an OAuth round trip with the
        consumer key and secret, even when a token is cached (the new token replaces the cached one,
        which it has just made void, §2); then a query about a push never made, which Daraja refuses
        with "Wrong credentials" or "Merchant does not exist" when the shortcode or passkey is wrong
        and with "no such transaction" when they pass. Raises AuthError, CredentialError,
        ValidationError, BusyError or UnavailableError."""
        await self._token(account, fresh=True)
        try:
            await self.stk_query(account, NEVER_ISSUED)
        except DarajaError as error:
            if type(error) is not DarajaError:  # anything but "no such transaction"
                raise

    async def _token(self, account: Account, fresh: bool = False) -> str:
        key = (account.id, account.base_url, account.consumer_key)
        token = self._tokens.get(key)
        if token and not fresh and self._clock.now() < token.refresh_at:
            return token.value
        async with self._locks.setdefault(key, asyncio.Lock()):
            token = self._tokens.get(key)
            if token and not fresh and self._clock.now() < token.refresh_at:
                return token.value
            value, lifetime = await self._mint(account)
            margin = min(TOKEN_REFRESH_MARGIN, lifetime / 2)
            self._tokens[key] = _Token(value, self._clock.now() + lifetime - margin)
            return value

    def _forget(self, account: Account, value: str) -> None:
        key = (account.id, account.base_url, account.consumer_key)
        if (token := self._tokens.get(key)) and token.value == value:
            del self._tokens[key]

    async def _mint(self, account: Account) -> tuple[str, timedelta]:
        try:
            response = await self._send(
                "GET",
                account.base_url + OAUTH,
                params={"grant_type": "client_credentials"},
                auth=(account.consumer_key, account.consumer_secret),
                timeout=TOKEN_TIMEOUT,
            )
        except UnavailableError as error:
            raise UnavailableError(f"getting a token: {error.message}", maybe_sent=False) from None
        data = _json(response)
        if response.status_code == 200 and isinstance(data, dict):
            value, expires_in = data.get("access_token"), str(data.get("expires_in", "")).strip()
            if isinstance(value, str) and value and is_digits(expires_in):  # "3599" or 3599 (§2)
                return value, timedelta(seconds=int(expires_in))
        if response.status_code == 400 or (isinstance(data, dict) and data.get("errorCode")):
            # Wrong or foreign keys come back as HTTP 400 with an empty body (§2).
            detail = data.get("errorMessage") if isinstance(data, dict) else None
            raise AuthError(
                detail
                or "Daraja refused the consumer key and secret: check them, and that they belong to this "
                "environment (sandbox or production)",
                str(data.get("errorCode", "")) if isinstance(data, dict) else "",
            )
        raise UnavailableError(
            f"Daraja's token service answered HTTP {response.status_code}", maybe_sent=False
        )

    async def _send(self, method: str, url: str, **options: Any) -> httpx.Response:
        try:
            return await self._http.request(method, url, **options)
        except (
            httpx.ConnectError,
            httpx.ConnectTimeout,
            httpx.PoolTimeout,
            httpx.UnsupportedProtocol,
        ) as error:
            raise UnavailableError(
                f"could not connect to Daraja ({_name(error)})", maybe_sent=False
            ) from None
        except httpx.TransportError as error:
            raise UnavailableError(f"no answer from Daraja ({_name(error)})", maybe_sent=True) from None


def _name(error: Exception) -> str:
    # httpx's own message can quote the request; the class name says enough.
    return re.sub(r"(?<!^)(?=[A-Z])", " ", type(error).__name__).lower()


def _json(response: httpx.Response) -> Any:
    """Daraja's errors are not always JSON: empty bodies, Apigee HTML pages (§1)."""
    try:
        return response.json()
    except ValueError:
        return None


def _refusal(response: httpx.Response) -> DarajaError:
    """The typed error for a non-200 answer (§1.1, §12)."""
    data, status = _json(response), response.status_code
    if not isinstance(data, dict) or not data.get("errorCode"):
        if status == 504:
            # The gateway passed the request on and gave up waiting: it may have been acted on.
            return UnavailableError("Daraja's gateway timed out (HTTP 504)", maybe_sent=True)
        # Apigee in front of Daraja turned it away (spike arrest as HTTP 429, a fault, a 502 or 503
        # page, an empty body): Daraja never saw it.
        fault = data.get("fault") if isinstance(data, dict) else None
        said = fault.get("faultstring") if isinstance(fault, dict) else None
        detail = f": {str(said)[:200]}" if said else ""
        return BusyError(f"Daraja's gateway refused the request (HTTP {status}){detail}", str(status), True)
    code, message = str(data["errorCode"]), str(data.get("errorMessage") or "")
    lowered = message.lower()
    if code == "404.001.03" or code.startswith("401."):
        return AuthError(message or "Invalid Access Token", code)
    if code.startswith("400.002"):
        field = message.rpartition("Invalid ")[2].strip() if "Invalid " in message else ""
        return ValidationError(message, code, field=field)
    if code in {"500.003.02", "500.003.03"}:
        return BusyError(message, code, rate_limited=True)
    if code == "500.001.1001" and "lock subscriber" in lowered:
        return BusyError(message, code)
    if code == "500.001.1001" and ("credentials" in lowered or "merchant does not exist" in lowered):
        return CredentialError(message, code)
    return DarajaError(message, code)
