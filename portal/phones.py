"""Kenyan mobile numbers as people type them, and as M-Pesa wants them (2547XXXXXXXX / 2541XXXXXXXX)."""

import re

from .numbers import is_digits

SEPARATORS = re.compile(r"[\s\-().]")


class PhoneError(ValueError):
    """`english` and `swahili` say what is wrong, for the person who typed it."""

    def __init__(self, english: str, swahili: str):
        super().__init__(english)
        self.english = english
        self.swahili = swahili


def normalize(typed: str) -> str:
    """'0712 345 678', '+254 712-345-678', '254112345678', '712345678' → '254712345678'."""
    digits = SEPARATORS.sub("", typed or "")
    if not digits:
        raise PhoneError("Enter your M-Pesa phone number.", "Weka nambari yako ya simu ya M-Pesa.")
    international = digits.startswith("+")
    digits = digits.removeprefix("+")
    if not is_digits(digits):
        raise PhoneError(
            "A phone number has only digits, like 0712 345 678.",
            "Nambari ya simu ina tarakimu pekee, kama 0712 345 678.",
        )
    if international and not digits.startswith("254"):
        raise PhoneError(
            "Use a Kenyan M-Pesa number, like +254 712 345 678 or 0712 345 678.",
            "Tumia nambari ya M-Pesa ya Kenya, kama +254 712 345 678 au 0712 345 678.",
        )
    if digits.startswith("254"):
        national = digits[3:]
    elif digits.startswith("0"):
        national = digits[1:]
    else:
        national = digits
    # Counted after the 0 or 254, so the words hold however the number was typed.
    if len(national) < 9:
        short = 9 - len(national)
        raise PhoneError(
            f"That number is {short} digit{'s' * (short > 1)} short: a Kenyan mobile number is like"
            " 0712 345 678.",
            f"Nambari hiyo inakosa tarakimu {short}: nambari ya simu ya Kenya ni kama 0712 345 678.",
        )
    if len(national) > 9:
        extra = len(national) - 9
        raise PhoneError(
            f"That number has {extra} digit{'s' * (extra > 1)} too many: a Kenyan mobile number is like"
            " 0712 345 678.",
            f"Nambari hiyo ina tarakimu {extra} za ziada: nambari ya simu ya Kenya ni kama 0712 345 678.",
        )
    if national[0] not in "17":
        raise PhoneError(
            "M-Pesa numbers start with 07 or 01, like 0712 345 678 or 0112 345 678.",
            "Nambari za M-Pesa huanza na 07 au 01, kama 0712 345 678 au 0112 345 678.",
        )
    return "254" + national


def mask(phone: str) -> str:
    """'254712345678' → '0712 ••• 678': enough for the owner of the phone to recognise it."""
    national = "0" + phone[3:]
    return f"{national[:4]} ••• {national[-3:]}"
