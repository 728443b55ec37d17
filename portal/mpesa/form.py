"""The M-Pesa account form: what an owner types to connect a PayBill or Till and its Daraja app.

The consumer key, consumer secret and passkey are write-only: a form says which are set, and a new
value replaces (rotates) the stored one. For a Till (Buy Goods), Daraja's BusinessShortCode is the
store number (head office) and the till number is where the money goes; mixing them up is the most
common set-up error (reference/daraja.md §11.7), so both are asked for.

Optionally, what lets portal ask M-Pesa about a receipt (Transaction Status, §8): the initiator's name,
its password (write-only like the others) and Safaricom's certificate for the environment (public).
All three or none.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from ..typed_numbers import is_digits
from .security_credential import CertificateError, public_key


class StoredAccount(Protocol):
    name: str
    kind: str
    shortcode: str
    till_number: str | None
    environment: str
    initiator_name: str | None
    certificate: str | None


KINDS = {"paybill": "PayBill", "till": "Till (Buy Goods)"}
ENVIRONMENTS = {"sandbox": "Sandbox (testing)", "production": "Production (real money)"}
SECRETS = {"consumer_key": "consumer key", "consumer_secret": "consumer secret", "passkey": "passkey"}
RETYPE_SECRETS = (
    "The environment changed: type the consumer key, secret and passkey again. Stored ones are only"
    " sent to the environment they were typed for."
)
INITIATOR_PASSWORD = "initiator_password"  # noqa: S105 (the field's name)
RETYPE_INITIATOR_PASSWORD = (
    "The environment changed: type the initiator password again. A stored one is only sent to the"  # noqa: S105
    " environment it was typed for."
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
    initiator_name: str | None = None  # None: no Transaction Status (and no initiator password kept)
    certificate: str | None = None  # Safaricom's, for this environment: PEM


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
            "Give the name the M-Pesa prompt shows payers, as Safaricom registered it, like “Demo Cafe”"
            " (up to 60 characters)."
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
    initiator, certificate, password = _status_fields(form, stored, moved, errors)
    if errors:
        return None, errors
    secrets = {key: value for key, value in given.items() if value}
    return (
        AccountSpec(
            name=name,
            kind=kind,
            shortcode=shortcode,
            till_number=till_number if kind == "till" else None,
            environment=environment,
            secrets=secrets | ({INITIATOR_PASSWORD: password} if password else {}),
            initiator_name=initiator,
            certificate=certificate,
        ),
        {},
    )


def _status_fields(
    form: Mapping[str, str], stored: "StoredAccount | None", moved: bool, errors: dict[str, str]
) -> tuple[str | None, str | None, str]:
    """(initiator name, certificate, initiator password typed) for Transaction Status, all three or
    none; what is wrong goes into `errors`."""
    initiator = " ".join((form.get("initiator_name") or "").split())
    certificate = (form.get("certificate") or "").strip()
    password = (form.get(INITIATOR_PASSWORD) or "").strip()
    if not (initiator or certificate or password):
        return None, None, ""
    if not initiator or len(initiator) > 60:
        errors["initiator_name"] = (
            "Type the initiator's user name, as made on the M-Pesa org portal (up to 60 characters)."
        )
    try:
        public_key(certificate)
    except CertificateError as error:
        errors["certificate"] = str(error)
    kept = stored is not None and stored.initiator_name is not None
    if not password and moved and kept:
        errors[INITIATOR_PASSWORD] = RETYPE_INITIATOR_PASSWORD
    elif not password and not kept:
        errors[INITIATOR_PASSWORD] = "Type the initiator's password."
    elif len(password) > 200:
        errors[INITIATOR_PASSWORD] = "That password is too long."
    return initiator, certificate, password


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
    """What a form shows of an account, stored or as typed: never a secret (the certificate is public)."""
    return {
        "name": account.name,
        "kind": account.kind,
        "shortcode": account.shortcode,
        "till_number": account.till_number or "",
        "environment": account.environment,
        "initiator_name": account.initiator_name or "",
        "certificate": account.certificate or "",
    }
