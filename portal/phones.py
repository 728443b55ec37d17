"""Kenyan mobile numbers as people type them, and as M-Pesa wants them (2547XXXXXXXX / 2541XXXXXXXX):
Safaricom's only, the one network whose lines get the M-Pesa prompt (`NETWORKS` says which ranges).

How a number is shown (to owners whole, to customers masked) is i18n/formats.py's.
"""

import re

from .typed_numbers import is_digits

SEPARATORS = re.compile(r"[\s\-().]")
NATIONAL_DIGITS = 9  # after the 0 or the 254: 712 345 678
# Beyond a slip of a few digits, what was typed is no phone number (E.164 numbers have at most 15).
LONGEST = 15


def _ranges(network: str, *prefixes: str) -> dict[str, str]:
    return dict.fromkeys(prefixes, network)


# Who runs each Kenyan mobile range, by its first digits after the 0 (the Communications Authority's
# allocations, as libphonenumber's carrier data has them). The M-Pesa prompt reaches Safaricom lines
# only: another network's number would wait out the prompt's minute for nothing. A number ported to
# Safaricom keeps its old prefix and is refused too; porting is rare in Kenya, and its owner is told why.
NETWORKS: dict[str, str] = (
    _ranges("Safaricom", "70", "71", "72", "79", "740", "741", "742", "743", "745", "746", "748", "749")
    | _ranges("Safaricom", "757", "758", "759", "768", "769", "110", "111", "112", "113", "114", "115")
    | _ranges("Airtel", "73", "78", "750", "751", "752", "753", "754", "755", "756", "761", "762")
    | _ranges("Airtel", "100", "101", "102", "103", "104", "105", "106")
    | _ranges("Telkom", "77", "120")
    | _ranges("Equitel", "763", "764", "765", "766", "124")
    | _ranges("Faiba", "747")
)
M_PESA = "Safaricom"


def network(national: str) -> str | None:
    """The network that runs a number, from its digits after the 0: '733…' → 'Airtel'; None if unknown."""
    return NETWORKS.get(national[:3]) or NETWORKS.get(national[:2])


class PhoneError(ValueError):
    """What is wrong with a typed number: `reason` is a catalogue key (`phone.…`), `values` fill it in.

    Told to the person who typed it with i18n.say(lang, error.reason, **error.values)."""

    def __init__(self, reason: str, **values: int | str):
        super().__init__(reason)
        self.reason = reason
        self.values = values


def normalize(typed: str) -> str:
    """'0712 345 678', '+254 (0) 712-345-678', '254112345678', '712345678' → '254712345678'; another
    network's number ('0733…', Airtel) is refused, naming the network."""
    digits = SEPARATORS.sub("", typed or "")
    if not digits:
        raise PhoneError("phone.empty")
    international = digits.startswith("+")
    digits = digits.removeprefix("+")
    if not is_digits(digits):
        raise PhoneError("phone.not_digits")
    if international and not digits.startswith("254"):
        raise PhoneError("phone.not_kenyan")
    if len(digits) > LONGEST:
        raise PhoneError("phone.not_a_number")
    # '+254 (0) 712 345 678': the 0 is the national prefix, written out of habit after the country code.
    national = digits[3:] if digits.startswith("254") else digits
    national = national.removeprefix("0")
    # Counted after the 0 or 254, so the words hold however the number was typed.
    if len(national) < NATIONAL_DIGITS:
        raise PhoneError("phone.too_short", count=NATIONAL_DIGITS - len(national))
    if len(national) > NATIONAL_DIGITS:
        raise PhoneError("phone.too_long", count=len(national) - NATIONAL_DIGITS)
    runs_it = network(national)
    if runs_it is None:
        raise PhoneError("phone.bad_prefix")
    if runs_it != M_PESA:
        raise PhoneError("phone.other_network", network=runs_it)
    return "254" + national
