"""A Daraja simulator that speaks the real protocol (reference/daraja.md §13), and a fake phone.

Clients point an M-Pesa account's environment at its base URL. It checks what Daraja checks, in
Daraja's order, and answers with Daraja's envelopes and HTTP statuses: an invalid token is a 404, a
wrong passkey a 500, a form-encoded body "Invalid BusinessShortCode". Results go out as callbacks over
HTTP, and the STK query tells the same story (or, on request, contradicts it, as the sandbox has).

Nobody pays until someone answers the prompt on the fake phone (`/phone`, or `/phone/api/prompts` for
programs) or the prompt times out on the injected clock. Knobs (`Options`) reproduce the field's
troubles: late, duplicated or lost callbacks, both "still pending" styles, and `fail_next` injects
gateway errors, garbage, spike arrest and answers that come too late.

The simulator's own choices, not Daraja's: the credentials and merchants in DEFAULT_*, a receipt's
letters, and that hosts under `.invalid` are never contacted (RFC 6761: they can't exist).
"""

import asyncio
import base64
import contextlib
import hashlib
import html
import json
import re
import secrets
import string
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from litestar import Litestar, Request, Response, get, post
from litestar.datastructures import State
from litestar.exceptions import MethodNotAllowedException, NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect

from ..clock import Clock, to_text
from ..mpesa.daraja import FORBIDDEN_IN_URLS, KENYA, MAX_AMOUNT

SANDBOX_PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"  # public (§9)
DEFAULT_CONSUMERS = {"sim-consumer-key": "sim-consumer-secret"}
TOKEN_TTL = timedelta(seconds=3600)
CALLBACK_TIMEOUT = 10.0  # seconds Daraja waits on a callback (§13.2)
C2B_VALIDATION_TIMEOUT = 8.0  # §7.1
MSISDN = re.compile(r"^254[17]\d{8}$")


@dataclass(frozen=True)
class Merchant:
    name: str  # what the prompt says the payer pays to
    passkey: str
    kind: str  # 'paybill' | 'till'; a till's shortcode is its store number
    tills: tuple[str, ...] = ()


DEFAULT_MERCHANTS = {
    "174379": Merchant("Demo Cafe", SANDBOX_PASSKEY, "paybill"),
    "300100": Merchant("Demo Kiosk", SANDBOX_PASSKEY, "till", tills=("300101",)),
}


@dataclass
class Options:
    """Knobs a test (or `portal sim-daraja`) may turn at any time."""

    prompt_timeout: float = 60.0  # seconds a prompt waits for the payer before 1037 (§4.3)
    pending_style: str = "4999"  # or "legacy500": how the query says "still pending" (§5.2)
    callback_delay: float = 0.0  # seconds from the payer's answer to the callback
    duplicate_callbacks: int = 0  # extra identical deliveries of each callback, sent at once
    drop_callbacks: bool = False  # deliver none (the sandbox often doesn't)
    callback_source_ip: str = ""  # sent as X-Forwarded-For: Daraja's address as seen through a proxy
    query_disagrees: bool = False  # the query calls a paid push cancelled (seen in the sandbox, §5.2)
    expires_in_as_number: bool = False  # OAuth expires_in as 3599 instead of the observed "3599"
    c2b_validation: bool = False  # call the ValidationURL first (Daraja: off unless asked for, §7.1)
    slow_answer: float = 1.0  # seconds a "slow" fault holds its answer


# outcome: (ResultCode, ResultDesc), as the callback gives them (§13.2.4)
OUTCOMES: dict[str, tuple[int | str, str]] = {
    "success": (0, "The service request is processed successfully."),
    "cancel": (1032, "Request Cancelled by user."),
    "wrong_pin": (2001, "The initiator information is invalid."),
    "no_funds": (1, "The balance is insufficient for the transaction."),
    "timeout": (1037, "No response from user."),
    "expired": (1019, "Transaction has expired."),
    "locked": (
        1001,
        "Unable to lock subscriber, a transaction is already in process for the current subscriber.",
    ),
    "push_error": (1025, "An error occurred while sending a push request."),
    "bad_debt": ("E3008", "Error, the user has a bad debt contract."),
    "not_permitted": (2028, "The request is not permitted according to product assignment."),
}
# The query words some of them differently (ResultDesc drifts, §4.1).
QUERY_DESCS = {"cancel": "Request cancelled by user", "timeout": "DS timeout user cannot be reached."}
FAULTS = ("server_error", "garbage", "spike_arrest", "slow")


@dataclass
class Prompt:
    checkout_request_id: str
    merchant_request_id: str
    shortcode: str
    merchant: str
    phone: str
    amount: int
    account_reference: str
    callback_url: str
    expires_at: datetime
    outcome: str | None = None  # None while the prompt waits on the phone
    receipt: str | None = None
    answered_at: datetime | None = None

    def summary(self) -> dict:
        return {
            "checkout_request_id": self.checkout_request_id,
            "phone": self.phone,
            "amount": self.amount,
            "account_reference": self.account_reference,
            "merchant": self.merchant,
            "outcome": self.outcome,
        }


@dataclass
class Delivery:
    kind: str  # 'stk' | 'c2b_validation' | 'c2b_confirmation'
    ref: str  # CheckoutRequestID or TransID
    url: str
    at: str
    status: int | None = None
    error: str = ""

    def as_dict(self) -> dict:
        return self.__dict__.copy()


class Simulator:
    def __init__(
        self,
        clock: Clock,
        options: Options | None = None,
        consumers: dict[str, str] | None = None,
        merchants: dict[str, Merchant] | None = None,
    ):
        self.clock = clock
        self.options = options or Options()
        self.consumers = dict(consumers or DEFAULT_CONSUMERS)
        self.merchants = dict(merchants or DEFAULT_MERCHANTS)
        self.tokens: dict[str, tuple[str, datetime]] = {}  # token: (consumer key, expires at)
        self.prompts: dict[str, Prompt] = {}
        self.deliveries: list[Delivery] = []
        self.c2b_urls: dict[str, dict] = {}  # shortcode: the registration
        self.balances: dict[str, int] = {}
        self.requests: dict[str, int] = {}  # path: how many arrived, for tests of client behaviour
        self.faults: deque[str] = deque()
        self.http: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task] = set()
        self._deliveries: set[asyncio.Task] = set()

    # --- test and phone controls -------------------------------------------------------------------

    def fail_next(self, fault: str, times: int = 1) -> None:
        """The next `times` API calls (after the token check) meet `fault`: 'server_error' (an HTML
        502 from the gateway), 'garbage' (200 with a non-JSON body), 'spike_arrest' (500.003.02), none
        of them acted on; or 'slow': acted on, then answered only after `options.slow_answer` seconds."""
        if fault not in FAULTS:
            raise ValueError(f"fault must be one of {', '.join(FAULTS)}")
        self.faults.extend([fault] * times)

    def pending_prompts(self) -> list[Prompt]:
        """Prompts still waiting on the phone, once those whose time has passed have timed out."""
        self._time_out_overdue()
        return [prompt for prompt in self.prompts.values() if prompt.outcome is None]

    def answer(self, checkout_request_id: str, outcome: str) -> Prompt:
        """The payer's answer on the phone. KeyError: no such prompt; ValueError: already answered."""
        prompt = self.prompts[checkout_request_id]
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}")
        if prompt.outcome is not None:
            raise ValueError(f"this prompt was already answered ({prompt.outcome})")
        prompt.outcome = outcome
        prompt.answered_at = self.clock.now()
        if outcome == "success":
            prompt.receipt = _receipt()
            self.balances[prompt.shortcode] = self.balances.get(prompt.shortcode, 0) + prompt.amount
        self._spawn(self._deliver_stk(prompt), self._deliveries)
        return prompt

    def open_prompt(self, prompt: Prompt, permitted: bool) -> None:
        self.prompts[prompt.checkout_request_id] = prompt
        if permitted:
            self._spawn(self._time_out_later(prompt), self._tasks)
        else:  # a PayBill/Till mix-up is accepted, then fails in the callback (§13.2.3 step 13)
            self.answer(prompt.checkout_request_id, "not_permitted")

    def pay_by_hand(self, registration: dict, payment: dict) -> None:
        """A C2B payment to a registered shortcode: validation (if enabled), then confirmation."""
        self._spawn(self._notify_c2b(registration, payment), self._deliveries)

    async def settle(self) -> None:
        """Waits until every callback already due has been delivered (or has failed)."""
        while self._deliveries:
            await asyncio.gather(*list(self._deliveries), return_exceptions=True)

    # --- internals ----------------------------------------------------------------------------------

    def _spawn(self, coroutine, group: set[asyncio.Task]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        group.add(task)
        task.add_done_callback(group.discard)

    def _time_out_overdue(self) -> None:
        now = self.clock.now()
        for prompt in list(self.prompts.values()):
            if prompt.outcome is None and now >= prompt.expires_at:
                self.answer(prompt.checkout_request_id, "timeout")

    async def _time_out_later(self, prompt: Prompt) -> None:
        await self.clock.sleep((prompt.expires_at - self.clock.now()).total_seconds())
        if prompt.outcome is None:
            self.answer(prompt.checkout_request_id, "timeout")

    async def _deliver_stk(self, prompt: Prompt) -> None:
        if self.options.drop_callbacks:
            when = to_text(self.clock.now())
            self.deliveries.append(
                Delivery("stk", prompt.checkout_request_id, prompt.callback_url, when, error="dropped")
            )
            return
        # The delay counts from the payer's answer, not from when this task got to run.
        due = (prompt.answered_at or self.clock.now()) + timedelta(seconds=self.options.callback_delay)
        await self.clock.sleep((due - self.clock.now()).total_seconds())
        body = stk_callback_body(prompt, self.clock.now())
        copies = 1 + self.options.duplicate_callbacks
        await asyncio.gather(
            *(self._post("stk", prompt.checkout_request_id, prompt.callback_url, body) for _ in range(copies))
        )

    async def _post(self, kind: str, ref: str, url: str, body: dict, wait: float = CALLBACK_TIMEOUT) -> Any:
        """One delivery, recorded; returns the receiver's JSON answer, or None."""
        delivery = Delivery(kind, ref, url, to_text(self.clock.now()))
        self.deliveries.append(delivery)
        if (urlsplit(url).hostname or "").endswith(".invalid"):
            delivery.error = "not delivered: .invalid hosts never exist"
            return None
        headers = (
            {"X-Forwarded-For": self.options.callback_source_ip} if self.options.callback_source_ip else {}
        )
        assert self.http is not None, "the simulator's lifespan has not started"
        try:
            response = await self.http.post(url, json=body, headers=headers, timeout=wait)
        except httpx.HTTPError as error:
            delivery.error = type(error).__name__
            return None
        delivery.status = response.status_code
        try:
            return response.json()
        except ValueError:
            return None

    def new_checkout_request_id(self, phone: str) -> str:
        # ws_CO_ + DDMMYYYYHHmmss + milliseconds + national number (§3.2); bumped if taken.
        now = self.clock.now().astimezone(KENYA)
        millis = now.microsecond // 1000
        while True:
            candidate = f"ws_CO_{now:%d%m%Y%H%M%S}{millis:03d}{phone[3:]}"
            if candidate not in self.prompts:
                return candidate
            millis = (millis + 1) % 1000

    async def _notify_c2b(self, registration: dict, payment: dict) -> None:
        if self.options.c2b_validation and registration["ValidationURL"]:
            url = registration["ValidationURL"]
            answer = await self._post(
                "c2b_validation", payment["TransID"], url, payment, C2B_VALIDATION_TIMEOUT
            )
            if not isinstance(answer, dict):  # unreachable, slow or nonsense: ResponseType decides (§7.1)
                if registration["ResponseType"] == "Cancelled":
                    return
            elif str(answer.get("ResultCode", "")) != "0":
                return
            elif answer.get("ThirdPartyTransID"):
                payment = {**payment, "ThirdPartyTransID": str(answer["ThirdPartyTransID"])}
        shortcode = payment["BusinessShortCode"]
        self.balances[shortcode] = self.balances.get(shortcode, 0) + int(payment["TransAmount"].split(".")[0])
        confirmation = {**payment, "OrgAccountBalance": f"{self.balances[shortcode]}.00"}
        await self._post(
            "c2b_confirmation", payment["TransID"], registration["ConfirmationURL"], confirmation
        )


def stk_callback_body(prompt: Prompt, now: datetime) -> dict:
    """What Daraja posts to CallBackURL (§4.1, §4.2): typed as Daraja types it."""
    code, desc = OUTCOMES[prompt.outcome or "timeout"]
    callback: dict[str, Any] = {
        "MerchantRequestID": prompt.merchant_request_id,
        "CheckoutRequestID": prompt.checkout_request_id,
        "ResultCode": code,
        "ResultDesc": desc,
    }
    if code == 0:
        callback["CallbackMetadata"] = {
            "Item": [
                {"Name": "Amount", "Value": prompt.amount},
                {"Name": "MpesaReceiptNumber", "Value": prompt.receipt},
                {"Name": "Balance"},
                {"Name": "TransactionDate", "Value": int(_kenya_time(prompt.answered_at or now))},
                {"Name": "PhoneNumber", "Value": int(prompt.phone)},
            ]
        }
    return {"Body": {"stkCallback": callback}}


def _kenya_time(moment: datetime) -> str:
    return moment.astimezone(KENYA).strftime("%Y%m%d%H%M%S")


def _receipt() -> str:
    alphabet = string.ascii_uppercase + string.digits
    return secrets.choice(string.ascii_uppercase) + "".join(secrets.choice(alphabet) for _ in range(9))


def _request_id() -> str:
    return (
        "-".join(secrets.token_hex(2) for _ in range(3))
        + "-"
        + secrets.token_hex(5)
        + str(secrets.randbelow(10**8))
    )


def _error(status: int, code: str, message: str, request_id: str | None = None) -> Response:
    """Daraja's error envelope: camelCase, unlike its PascalCase success bodies (§1)."""
    body = {"requestId": request_id or _request_id(), "errorCode": code, "errorMessage": message}
    return Response(body, status_code=status)


def _ok(body: dict) -> Response:
    return Response(body, status_code=200)


def _invalid(field_name: str) -> Response:
    return _error(400, "400.002.02", f"Bad Request - Invalid {field_name}")


def _digits(value: Any) -> str | None:
    """Daraja takes numbers as JSON integers or as digit strings (§3.1)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if isinstance(value, str) and value.isdigit():
        return value
    return None


def _is_timestamp(value: Any) -> bool:
    """YYYYMMDDHHmmss, a real date; Daraja doesn't mind how far it is from now (§3.1)."""
    if not isinstance(value, str) or not re.fullmatch(r"\d{14}", value):
        return False
    try:
        datetime.strptime(value, "%Y%m%d%H%M%S")  # a shape check: no zone involved
    except ValueError:
        return False
    return True


def _url_problem(url: Any) -> bool:
    if not isinstance(url, str) or re.search(r"\s", url):
        return True
    parts = urlsplit(url)
    return (
        parts.scheme not in {"http", "https"}
        or not parts.netloc
        or any(w in url.lower() for w in FORBIDDEN_IN_URLS)
    )


async def _json_object(request: Request) -> dict | None:
    try:
        data = json.loads(await request.body())
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _merchant_refused(merchant: Merchant | None, shortcode: str, body: dict) -> Response | None:
    """Daraja's answer to an unknown shortcode, or to a Password that isn't base64 of the shortcode,
    the merchant's passkey and the request's Timestamp."""
    if merchant is None:
        return _error(500, "500.001.1001", "Merchant does not exist")
    try:
        decoded = base64.b64decode(str(body.get("Password", "")), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        decoded = None
    if decoded != f"{shortcode}{merchant.passkey}{body.get('Timestamp')}":
        return _error(500, "500.001.1001", "[MerchantValidate] - Wrong credentials")
    return None


def _simulator(state: State) -> Simulator:
    return state.simulator


def _bearer_refused(sim: Simulator, request: Request) -> Response | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    entry = sim.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
    if entry is None or sim.clock.now() >= entry[1]:
        return _error(404, "404.001.03", "Invalid Access Token")
    return None


def _gatekeeper(sim: Simulator, request: Request) -> Response | None:
    """The token check, then any injected fault that stops the request before Daraja acts on it."""
    sim.requests[request.url.path] = sim.requests.get(request.url.path, 0) + 1
    if refused := _bearer_refused(sim, request):
        return refused
    if sim.faults and sim.faults[0] != "slow":
        fault = sim.faults.popleft()
        if fault == "server_error":
            return Response(
                "<html><body>502 Bad Gateway</body></html>", status_code=502, media_type="text/html"
            )
        if fault == "garbage":
            return Response(
                "<html><body>Service unavailable</body></html>", status_code=200, media_type="text/html"
            )
        return _error(500, "500.003.02", "Error Occurred: Spike Arrest Violation")
    return None


async def _answer(sim: Simulator, response: Response) -> Response:
    if sim.faults and sim.faults[0] == "slow":
        sim.faults.popleft()
        await asyncio.sleep(sim.options.slow_answer)  # real time: it is the client's timeout under test
    return response


# --- Daraja's API --------------------------------------------------------------------------------------


@get("/oauth/v1/generate")
async def oauth(state: State, request: Request) -> Response:
    sim = _simulator(state)
    sim.requests[request.url.path] = sim.requests.get(request.url.path, 0) + 1
    if request.query_params.get("grant_type") != "client_credentials":
        return _error(400, "400.008.02", "Invalid grant type passed")
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return _error(400, "400.008.01", "Invalid authentication type passed")
    try:
        key, _, secret = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        key, secret = "", ""
    if not key or sim.consumers.get(key) != secret:
        return Response(b"", status_code=400, media_type="application/json")  # observed: empty body (§2)
    # Each new token invalidates the consumer's previous one (Daraja FAQ, §2).
    sim.tokens = {token: entry for token, entry in sim.tokens.items() if entry[0] != key}
    token = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(28))
    sim.tokens[token] = (key, sim.clock.now() + TOKEN_TTL)
    expires_in = int(TOKEN_TTL.total_seconds()) - 1
    shown = expires_in if sim.options.expires_in_as_number else str(expires_in)
    return Response({"access_token": token, "expires_in": shown}, status_code=200)


@post("/mpesa/stkpush/v1/processrequest")
async def stk_push(state: State, request: Request) -> Response:
    sim = _simulator(state)
    if stopped := _gatekeeper(sim, request):
        return stopped
    body = await _json_object(request)
    # Daraja's order of checks (§13.2.3); a form-encoded body fails the first.
    if body is None or (shortcode := _digits(body.get("BusinessShortCode"))) is None:
        return _invalid("BusinessShortCode")
    if not _is_timestamp(body.get("Timestamp")):
        return _invalid("Timestamp")
    kind = body.get("TransactionType")
    if kind not in {"CustomerPayBillOnline", "CustomerBuyGoodsOnline"}:
        return _invalid("TransactionType")
    amount = _digits(body.get("Amount"))
    if amount is None or not 1 <= int(amount) <= MAX_AMOUNT:
        return _invalid("Amount")
    for name in ("PartyA", "PhoneNumber"):
        if not MSISDN.match(_digits(body.get(name)) or ""):
            return _invalid(name)
    party_b = _digits(body.get("PartyB"))
    if party_b is None or not 5 <= len(party_b) <= 7:
        return _invalid("PartyB")
    if _url_problem(body.get("CallBackURL")):
        return _invalid("CallBackURL")
    if not body.get("AccountReference"):
        return _invalid("AccountReference")
    if not str(body.get("TransactionDesc") or "").strip():
        return _invalid("Remarks")
    merchant = sim.merchants.get(shortcode)
    if refused := _merchant_refused(merchant, shortcode, body):
        return refused
    phone = _digits(body["PhoneNumber"]) or ""
    if any(prompt.phone == phone for prompt in sim.pending_prompts()):
        return _error(500, "500.001.1001", OUTCOMES["locked"][1].rstrip("."))
    prompt = Prompt(
        checkout_request_id=sim.new_checkout_request_id(phone),
        merchant_request_id=_request_id(),
        shortcode=shortcode,
        merchant=merchant.name,
        phone=phone,
        amount=int(amount),
        account_reference=str(body["AccountReference"]),
        callback_url=body["CallBackURL"],
        expires_at=sim.clock.now() + timedelta(seconds=sim.options.prompt_timeout),
    )
    permitted = (kind == "CustomerPayBillOnline") == (merchant.kind == "paybill") and (
        party_b == shortcode if merchant.kind == "paybill" else party_b in merchant.tills
    )
    sim.open_prompt(prompt, permitted)
    accepted = "Success. Request accepted for processing"
    return await _answer(
        sim,
        _ok(
            {
                "MerchantRequestID": prompt.merchant_request_id,
                "CheckoutRequestID": prompt.checkout_request_id,
                "ResponseCode": "0",
                "ResponseDescription": accepted,
                "CustomerMessage": accepted,
            }
        ),
    )


@post("/mpesa/stkpushquery/v1/query")
async def stk_query(state: State, request: Request) -> Response:
    sim = _simulator(state)
    if stopped := _gatekeeper(sim, request):
        return stopped
    body = await _json_object(request)
    if body is None or (shortcode := _digits(body.get("BusinessShortCode"))) is None:
        return _invalid("BusinessShortCode")
    merchant = sim.merchants.get(shortcode)
    if refused := _merchant_refused(merchant, shortcode, body):
        return refused
    sim.pending_prompts()  # time out what is overdue, so the answer matches the clock
    checkout = str(body.get("CheckoutRequestID", ""))
    prompt = sim.prompts.get(checkout)
    if prompt is None or prompt.shortcode != shortcode:
        return _error(500, "500.001.1001", "This transaction does not exist")
    if prompt.outcome is None and sim.options.pending_style == "legacy500":
        return await _answer(sim, _error(500, "500.001.1001", "The transaction is being processed", checkout))
    if prompt.outcome is None:
        code, desc = "4999", "The transaction is still under processing"
    elif prompt.outcome == "success" and sim.options.query_disagrees:
        code, desc = "1032", QUERY_DESCS["cancel"]
    else:
        code = str(OUTCOMES[prompt.outcome][0])
        desc = QUERY_DESCS.get(prompt.outcome, OUTCOMES[prompt.outcome][1])
    return await _answer(
        sim,
        _ok(
            {
                "ResponseCode": "0",
                "ResponseDescription": "The service request has been accepted successsfully",  # sic (§5.1)
                "MerchantRequestID": prompt.merchant_request_id,
                "CheckoutRequestID": prompt.checkout_request_id,
                "ResultCode": code,
                "ResultDesc": desc,
            }
        ),
    )


@post("/mpesa/c2b/{version:str}/registerurl")
async def c2b_register(state: State, request: Request, version: FromPath[str]) -> Response:
    sim = _simulator(state)
    if version not in {"v1", "v2"}:
        return _error(404, "404.001.01", "Resource not found")
    if stopped := _gatekeeper(sim, request):
        return stopped
    body = await _json_object(request)
    if (
        body is None
        or (shortcode := _digits(body.get("ShortCode"))) is None
        or shortcode not in sim.merchants
    ):
        return _invalid("ShortCode")
    if body.get("ResponseType") not in {"Completed", "Cancelled"}:
        return _invalid("ResponseType")
    for name in ("ConfirmationURL", "ValidationURL"):
        if _url_problem(body.get(name)):
            return _invalid(name)
    sim.c2b_urls[shortcode] = {**body, "version": version}  # the sandbox allows registering again
    return await _answer(
        sim,
        _ok(
            {
                "OriginatorCoversationID": _request_id(),  # sic: Daraja's spelling (§7.1)
                "ResponseCode": "0",
                "ResponseDescription": "Success",
            }
        ),
    )


@post("/mpesa/c2b/{version:str}/simulate")
async def c2b_simulate(state: State, request: Request, version: FromPath[str]) -> Response:
    sim = _simulator(state)
    if version not in {"v1", "v2"}:
        return _error(404, "404.001.01", "Resource not found")
    if stopped := _gatekeeper(sim, request):
        return stopped
    body = await _json_object(request)
    if body is None or (shortcode := _digits(body.get("ShortCode"))) is None or shortcode not in sim.c2b_urls:
        return _invalid("ShortCode")
    command = body.get("CommandID")
    if command not in {"CustomerPayBillOnline", "CustomerBuyGoodsOnline"}:
        return _invalid("CommandID")
    amount = _digits(body.get("Amount"))
    if amount is None or not 1 <= int(amount) <= MAX_AMOUNT:
        return _invalid("Amount")
    msisdn = _digits(body.get("Msisdn")) or ""
    if not MSISDN.match(msisdn):
        return _invalid("Msisdn")
    # The payer's number never reaches the business: v1 sends a hash, v2 a mask (§7.3).
    shown = (
        hashlib.sha256(msisdn.encode()).hexdigest()
        if version == "v1"
        else f"{msisdn[:4]} ***** {msisdn[-3:]}"
    )
    payment = {
        "TransactionType": "Pay Bill" if command == "CustomerPayBillOnline" else "Buy Goods",
        "TransID": _receipt(),
        "TransTime": f"{sim.clock.now().astimezone(KENYA):%Y%m%d%H%M%S}",
        "TransAmount": f"{int(amount)}.00",
        "BusinessShortCode": shortcode,
        "BillRefNumber": str(body.get("BillRefNumber") or "") if command == "CustomerPayBillOnline" else "",
        "InvoiceNumber": "",
        "OrgAccountBalance": "",
        "ThirdPartyTransID": "",
        "MSISDN": shown,
        "FirstName": "JOHN",
        "MiddleName": "",
        "LastName": "DOE",
    }
    sim.pay_by_hand(sim.c2b_urls[shortcode], payment)
    return await _answer(
        sim,
        _ok(
            {
                "OriginatorCoversationID": _request_id(),
                "ResponseCode": "0",
                "ResponseDescription": "Accept the service request successfully.",
            }
        ),
    )


# --- the fake phone ------------------------------------------------------------------------------------


@get("/phone/api/prompts")
async def phone_prompts(state: State) -> list[dict]:
    return [prompt.summary() for prompt in _simulator(state).pending_prompts()]


@post("/phone/api/prompts/{checkout_request_id:str}")
async def phone_answer(state: State, request: Request, checkout_request_id: FromPath[str]) -> Response:
    sim = _simulator(state)
    body = await _json_object(request)
    outcome = body.get("outcome") if body else None
    if outcome not in OUTCOMES:
        return Response({"error": f"outcome must be one of {', '.join(OUTCOMES)}"}, status_code=400)
    sim.pending_prompts()
    try:
        prompt = sim.answer(checkout_request_id, outcome)
    except KeyError:
        return Response({"error": "no such prompt"}, status_code=404)
    except ValueError as error:
        return Response({"error": str(error)}, status_code=409)
    return Response({**prompt.summary(), "result_code": str(OUTCOMES[outcome][0])}, status_code=200)


@post("/phone/prompts/{checkout_request_id:str}")
async def phone_button(state: State, request: Request, checkout_request_id: FromPath[str]) -> Redirect:
    sim = _simulator(state)
    outcome = (await request.form()).get("outcome")
    sim.pending_prompts()
    if outcome in BUTTONS:
        with contextlib.suppress(KeyError, ValueError):  # gone or answered: the page shows what is true
            sim.answer(checkout_request_id, outcome)
    return Redirect("/phone", status_code=303)


# The fake phone's buttons: outcome and label.
BUTTONS = {
    "success": "Enter PIN and pay",
    "cancel": "Cancel",
    "wrong_pin": "Wrong PIN",
    "no_funds": "Not enough money",
    "timeout": "Let it time out",
}


@get("/phone")
async def phone_page(state: State) -> Response:
    sim = _simulator(state)
    cards = []
    for prompt in sim.pending_prompts():
        buttons = "".join(
            f'<button name="outcome" value="{value}">{label}</button>' for value, label in BUTTONS.items()
        )
        cards.append(
            f'<form method="post" action="/phone/prompts/{html.escape(prompt.checkout_request_id)}">'
            f"<p>Pay <b>KES {prompt.amount}</b> to <b>{html.escape(prompt.merchant)}</b>"
            f" (account {html.escape(prompt.account_reference)})?</p>"
            f"<p class=n>To {html.escape(prompt.phone)}</p>{buttons}</form>"
        )
    answered = sorted(
        (p for p in sim.prompts.values() if p.outcome), key=lambda p: p.answered_at, reverse=True
    )
    recent = "".join(
        f"<li>KES {p.amount} to {html.escape(p.merchant)} from {html.escape(p.phone)}: {p.outcome}"
        f"{' ' + p.receipt if p.receipt else ''}</li>"
        for p in answered[:5]
    )
    page = (
        "<!doctype html><html><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        "<meta http-equiv=refresh content=3><title>Fake phone - M-Pesa prompts</title><style>"
        "body{font:16px sans-serif;max-width:28em;margin:1em auto;padding:0 1em}"
        "form{border:1px solid #999;border-radius:8px;padding:.5em 1em;margin:1em 0}"
        "button{font-size:1em;margin:.2em;padding:.5em}.n{color:#555}</style></head><body>"
        "<h1>Fake phone</h1>"
        + ("".join(cards) or "<p>No M-Pesa prompt is waiting.</p>")
        + (f"<h2>Answered</h2><ul>{recent}</ul>" if recent else "")
        + "</body></html>"
    )
    return Response(page, media_type="text/html")


@get("/__sim/callbacks")
async def sim_callbacks(state: State) -> list[dict]:
    return [delivery.as_dict() for delivery in _simulator(state).deliveries]


def _not_found(request: Request, exc: Exception) -> Response:
    return _error(404, "404.001.01", "Resource not found")


def _method_not_allowed(request: Request, exc: Exception) -> Response:
    return _error(405, "405.001", "Method Not Allowed")


def create_simulator(
    clock: Clock,
    options: Options | None = None,
    *,
    consumers: dict[str, str] | None = None,
    merchants: dict[str, Merchant] | None = None,
) -> Litestar:
    """The simulator as an ASGI app; its state (for tests and knobs) is `app.state.simulator`."""
    sim = Simulator(clock, options, consumers, merchants)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with httpx.AsyncClient() as http:
            sim.http = http
            try:
                yield
            finally:
                for task in sim._tasks | sim._deliveries:
                    task.cancel()
                await asyncio.gather(*sim._tasks, *sim._deliveries, return_exceptions=True)

    return Litestar(
        route_handlers=[
            oauth,
            stk_push,
            stk_query,
            c2b_register,
            c2b_simulate,
            phone_prompts,
            phone_answer,
            phone_button,
            phone_page,
            sim_callbacks,
        ],
        lifespan=[lifespan],
        state=State({"simulator": sim}),
        exception_handlers={NotFoundException: _not_found, MethodNotAllowedException: _method_not_allowed},
        openapi_config=None,
        logging_config=None,
    )
