"""The M-Pesa account form: what an owner types to connect a PayBill or Till and its Daraja app.

The consumer key, consumer secret and passkey are write-only: a form says which are set, and a new
value replaces (rotates) the stored one. For a Till (Buy Goods), Daraja's BusinessShortCode is the
store number (head office) and the till number is where the money goes; mixing them up is the most
common set-up error (reference/daraja.md §11.7), so both are asked for.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from ..numbers import is_digits


class StoredAccount(Protocol):
    name: str
    kind: str
    shortcode: str
    till_number: str | None
    environment: str


KINDS = {"paybill": "PayBill", "till": "Till (Buy Goods)"}
ENVIRONMENTS = {"sandbox": "Sandbox (testing)", "production": "Production (real money)"}
SECRETS = {"consumer_key": "consumer key", "consumer_secret": "consumer secret", "passkey": "passkey"}
RETYPE_SECRETS = (
    "The environment changed: type the consumer key, secret and passkey again. Stored ones are only"
    " sent to the environment they were typed for."
)


class AccountError(ValueError):
    """A field of an M-Pesa account is wrong; `field` names it."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class AccountSpec:
    name: str
    kind: str
    shortcode: str
    till_number: str | None
    environment: str  # sandbox, production, or the base URL of a Daraja simulator
    secrets: dict[str, str]  # only the secrets given: the others keep their stored values


def read_account(
    form: Mapping[str, str], *, stored: "StoredAccount | None"
) -> tuple[AccountSpec | None, dict[str, str]]:
    """The account a form describes, or what is wrong with each field.

    `stored` is the account being edited (None: a new one). Its secrets left blank are kept, but only
    while the environment stays: re-pointed at another URL, an account would otherwise send the stored
    secrets there (Test credentials sends them all), so a new environment needs them typed again."""
    errors = {}
    name = " ".join(form.get("name", "").split())
    if not name or len(name) > 60:
        errors["name"] = (
            "Give the account a name you will recognise, like “Main PayBill” (up to 60 characters)."
        )
    kind = form.get("kind", "").strip().lower()
    if kind not in KINDS:
        errors["kind"] = "Pick PayBill or Till."
    shortcode = form.get("shortcode", "").strip()
    if not _is_shortcode(shortcode):
        errors["shortcode"] = (
            "The shortcode is 5 to 7 digits: the PayBill number, or for a Till the store number"
            " (not the till number)."
        )
    till_number = (form.get("till_number") or "").strip()
    if kind == "till" and not _is_shortcode(till_number):
        errors["till_number"] = "A Till needs its till number (5 to 7 digits): where customers' money goes."
    elif kind == "paybill" and till_number:
        errors["till_number"] = "A PayBill has no till number; leave this empty."
    environment = _environment(form.get("environment", ""))
    if environment is None:
        errors["environment"] = "Pick sandbox or production."
    moved = stored is not None and environment not in (None, stored.environment)
    given = {key: (form.get(key) or "").strip() for key in SECRETS}
    for key, label in SECRETS.items():
        if stored is None and not given[key]:
            errors[key] = f"Paste the {label} from the Daraja portal."
        elif moved and not given[key]:
            errors[key] = RETYPE_SECRETS
        elif len(given[key]) > 500:
            errors[key] = f"That {label} is too long."
    if errors:
        return None, errors
    return (
        AccountSpec(
            name=name,
            kind=kind,
            shortcode=shortcode,
            till_number=till_number if kind == "till" else None,
            environment=environment,
            secrets={key: value for key, value in given.items() if value},
        ),
        {},
    )


def _is_shortcode(text: str) -> bool:
    return is_digits(text) and 5 <= len(text) <= 7  # reference/daraja.md §3.1


def _environment(text: str) -> str | None:
    """sandbox, production, or the base URL of something that speaks Daraja (the simulator, in tests
    and the demo)."""
    text = text.strip()
    if text.lower() in ENVIRONMENTS:
        return text.lower()
    parts = urlsplit(text)
    if parts.scheme in {"http", "https"} and parts.netloc and not (parts.query or parts.fragment):
        return text.rstrip("/")
    return None


def account_fields(account: "StoredAccount | AccountSpec") -> dict[str, str]:
    """What a form shows of an account, stored or as typed: never a secret."""
    return {
        "name": account.name,
        "kind": account.kind,
        "shortcode": account.shortcode,
        "till_number": account.till_number or "",
        "environment": account.environment,
    }
