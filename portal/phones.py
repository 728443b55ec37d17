"""Kenyan mobile numbers as people type them, and as M-Pesa wants them (2547XXXXXXXX / 2541XXXXXXXX).

How a number is shown (to owners whole, to customers masked) is i18n/formats.py's.
"""

import re

from .numbers import is_digits

SEPARATORS = re.compile(r"[\s\-().]")
NATIONAL_DIGITS = 9  # after the 0 or the 254: 712 345 678


class PhoneError(ValueError):
    """What is wrong with a typed number: `reason` is a catalogue key (`phone.…`), `values` fill it in.

    Told to the person who typed it with i18n.say(lang, error.reason, **error.values)."""

    def __init__(self, reason: str, **values: int):
        super().__init__(reason)
        self.reason = reason
        self.values = values


def normalize(typed: str) -> str:
    """'0712 345 678', '+254 712-345-678', '254112345678', '712345678' → '254712345678'."""
    digits = SEPARATORS.sub("", typed or "")
    if not digits:
        raise PhoneError("phone.empty")
    international = digits.startswith("+")
    digits = digits.removeprefix("+")
    if not is_digits(digits):
        raise PhoneError("phone.not_digits")
    if international and not digits.startswith("254"):
        raise PhoneError("phone.not_kenyan")
    if digits.startswith("254"):
        national = digits[3:]
    elif digits.startswith("0"):
        national = digits[1:]
    else:
        national = digits
    # Counted after the 0 or 254, so the words hold however the number was typed.
    if len(national) < NATIONAL_DIGITS:
        raise PhoneError("phone.too_short", count=NATIONAL_DIGITS - len(national))
    if len(national) > NATIONAL_DIGITS:
        raise PhoneError("phone.too_long", count=len(national) - NATIONAL_DIGITS)
    if national[0] not in "17":
        raise PhoneError("phone.bad_prefix")
    return "254" + national
