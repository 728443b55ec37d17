"""The simulator's state and what it does by itself: merchants, tokens, prompts on the fake phone, and
the callbacks it posts (reference/daraja.md §13). The HTTP side is in api.py, phone.py and
transaction_status.py; the knobs a test turns are `Options` and `Simulator.fail_next`.
"""

import asyncio
import functools
import re
import secrets
import string
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from ...clock import Clock, to_text
from ...mpesa.daraja import KENYA

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


DEFAULT_INITIATORS = {"testapi": "Safaricom999!*!"}  # the sandbox's public test initiator (§9)
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
    # Numbers of the right shape that M-Pesa does not know (another network's): "Invalid PhoneNumber".
    not_on_mpesa: set[str] = field(default_factory=set)
    # A shortcode's C2B URLs registered again: "allowed" (the sandbox), "refused" (production: 500
    # 500.003.1001 "Urls are already registered") or "described" (200, no ResponseCode, "Validation and
    # Confirmation URLs are already registered"). Refused, the URLs registered first stay (§7.1).
    c2b_reregistration: str = "allowed"
    slow_answer: float = 1.0  # seconds a "slow" fault holds its answer
    # Seconds (on the clock) an STK query waits in Daraja before it looks the push up and answers: a
    # Daraja that is slow today.
    query_latency: float = 0.0


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
# Not acted on: an HTML 502 page from the gateway, 200 with a page instead of JSON, Daraja's spike arrest
# (500.003.02), the gateway's own (HTTP 429 with an Apigee fault), an empty 503. Acted on, then answered
# late ("slow") or by the gateway giving up on Daraja (HTTP 504). See `Simulator.fail_next`.
FAULTS = (
    "server_error",
    "garbage",
    "spike_arrest",
    "too_many_requests",
    "unavailable",
    "slow",
    "gateway_timeout",
)
ACTED_ON = ("slow", "gateway_timeout")


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
    kind: str  # 'stk' | 'c2b_validation' | 'c2b_confirmation' | 'status_result'
    ref: str  # CheckoutRequestID, TransID or ConversationID
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
        # Transaction Status: initiator name → password, and the key whose certificate clients encrypt
        # the password with (Safaricom's own, for the real Daraja). The PEM is public.
        self.initiators = dict(DEFAULT_INITIATORS)
        self.key, self.certificate_pem = key_and_certificate()
        self.paid_by_hand: dict[str, dict] = {}  # TransID: the confirmed C2B payment
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
        """The next `times` API calls (after the token check) meet `fault` (see FAULTS): 'server_error',
        'garbage', 'spike_arrest', 'too_many_requests' or 'unavailable', none of them acted on; or
        'slow' (answered only after `options.slow_answer` seconds) or 'gateway_timeout' (a 504), both
        acted on."""
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
            prompt.receipt = new_receipt()
            self.balances[prompt.shortcode] = self.balances.get(prompt.shortcode, 0) + prompt.amount
        self.deliver_later(self._deliver_stk(prompt))
        return prompt

    def open_prompt(self, prompt: Prompt, permitted: bool) -> None:
        self.prompts[prompt.checkout_request_id] = prompt
        if permitted:
            self._spawn(self._time_out_later(prompt), self._tasks)
        else:  # a PayBill/Till mix-up is accepted, then fails in the callback (§13.2.3 step 13)
            self.answer(prompt.checkout_request_id, "not_permitted")

    def pay_by_hand(self, registration: dict, payment: dict) -> None:
        """A C2B payment to a registered shortcode: validation (if enabled), then confirmation."""
        self.deliver_later(self._notify_c2b(registration, payment))

    async def settle(self) -> None:
        """Waits until every callback already due has been delivered (or has failed)."""
        while self._deliveries:
            await asyncio.gather(*list(self._deliveries), return_exceptions=True)

    def deliver_later(self, coroutine) -> None:
        """A delivery (see `post`) that `settle` waits for."""
        self._spawn(coroutine, self._deliveries)

    async def stop(self) -> None:
        for task in self._tasks | self._deliveries:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._deliveries, return_exceptions=True)

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

    def dropped(self, kind: str, ref: str, url: str) -> bool:
        """Is this callback lost (`options.drop_callbacks`)? Then it is recorded as such."""
        if self.options.drop_callbacks:
            self.deliveries.append(Delivery(kind, ref, url, to_text(self.clock.now()), error="dropped"))
        return self.options.drop_callbacks

    async def _deliver_stk(self, prompt: Prompt) -> None:
        if self.dropped("stk", prompt.checkout_request_id, prompt.callback_url):
            return
        # The delay counts from the payer's answer, not from when this task got to run.
        due = (prompt.answered_at or self.clock.now()) + timedelta(seconds=self.options.callback_delay)
        await self.clock.sleep((due - self.clock.now()).total_seconds())
        body = stk_callback_body(prompt, self.clock.now())
        copies = 1 + self.options.duplicate_callbacks
        await asyncio.gather(
            *(self.post("stk", prompt.checkout_request_id, prompt.callback_url, body) for _ in range(copies))
        )

    async def post(self, kind: str, ref: str, url: str, body: dict, wait: float = CALLBACK_TIMEOUT) -> Any:
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
            answer = await self.post(
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
        self.paid_by_hand[payment["TransID"]] = payment
        confirmation = {**payment, "OrgAccountBalance": f"{self.balances[shortcode]}.00"}
        await self.post("c2b_confirmation", payment["TransID"], registration["ConfirmationURL"], confirmation)


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
                {"Name": "TransactionDate", "Value": int(kenya_time(prompt.answered_at or now))},
                {"Name": "PhoneNumber", "Value": int(prompt.phone)},
            ]
        }
    return {"Body": {"stkCallback": callback}}


def kenya_time(moment: datetime) -> str:
    return moment.astimezone(KENYA).strftime("%Y%m%d%H%M%S")


def new_receipt() -> str:
    alphabet = string.ascii_uppercase + string.digits
    return secrets.choice(string.ascii_uppercase) + "".join(secrets.choice(alphabet) for _ in range(9))


def new_request_id() -> str:
    return (
        "-".join(secrets.token_hex(2) for _ in range(3))
        + "-"
        + secrets.token_hex(5)
        + str(secrets.randbelow(10**8))
    )


@functools.cache
def key_and_certificate() -> tuple[rsa.RSAPrivateKey, str]:
    """The simulator's RSA key and a self-signed certificate of it, in PEM: one per process, as making a
    key takes a while and every test starts a simulator (§8.2: "generate a self-signed test cert")."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Daraja simulator")])
    start = datetime(2020, 1, 1, tzinfo=UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=365 * 30))
        .sign(key, hashes.SHA256())
    )
    return key, certificate.public_bytes(serialization.Encoding.PEM).decode()
