"""What a Daraja ResultCode means for the person paying: a category, whether asking again can work, and
the key of the words they are told (in the i18n catalogue; this layer names texts, it does not render them).

Branch on codes, never on ResultDesc: Safaricom rewords it across years and channels (reference/daraja.md
§4.1, §6). The list is not closed; `describe` answers for any code. Codes that start with `push.` or
`owner.`, or equal `expired`, are the portal's own: Daraja gives no ResultCode when it refuses the push
itself or when no answer comes, nor when the owner settles a payment whose outcome was unknown, nor when
the payer cancels on the waiting page (`page.`), yet the payer still needs to be told what happened.
"""

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

PAID = "paid"
PENDING = "pending"
CANCELLED = "cancelled"
INSUFFICIENT_FUNDS = "insufficient_funds"
WRONG_PIN = "wrong_pin"
UNREACHABLE = "unreachable"
BUSY = "busy"  # the payer must wait: a prompt already open, the same payment twice within minutes
CONGESTED = "congested"  # M-Pesa or Daraja is overloaded, or asks us to slow down
DECLINED = "declined"  # an M-Pesa rule on the payer's account: limits, bad debt
SYSTEM = "system"

# Failures that are the payer's doing or the payer's phone's: nothing for the owner to fix. Any other
# failure points at the set-up, at M-Pesa or at Daraja, and the owner is shown it.
PAYER_CATEGORIES = frozenset({CANCELLED, INSUFFICIENT_FUNDS, WRONG_PIN, UNREACHABLE, BUSY, DECLINED})

# Daraja's codes have at most five digits; a bigger "number" (1e999999) is kept as the text it came as.
LARGEST_CODE = 10**9

# The portal's own codes (see the module docstring).
PUSH_LOCKED = "push.locked"  # Daraja: "Unable to lock subscriber": a prompt is already open on that phone
PUSH_BUSY = "push.busy"  # Daraja: spike arrest or quota: too many requests
PUSH_REFUSED = "push.refused"  # Daraja refused the request: the M-Pesa account's set-up is wrong
PUSH_UNREACHABLE = "push.unreachable"  # Daraja could not be reached; nothing was sent
PUSH_BAD_NUMBER = "push.bad_number"  # Daraja: "Invalid PhoneNumber" / "Invalid PartyA": not an M-Pesa number
EXPIRED = "expired"  # no final answer within settings.mpesa.payment_timeout
NOT_PAID = "owner.not_paid"  # the outcome was unknown; the owner found no such money on M-Pesa
PAGE_CANCELLED = "page.cancelled"  # the payer cancelled on the waiting page; the prompt may still be paid


@dataclass(frozen=True)
class Outcome:
    code: str
    category: str
    message: str  # the catalogue key of what the payer is told: i18n.say(lang, outcome.message)
    retry: bool  # would the same payment, asked again, likely go through?
    known: bool = True

    @property
    def meaning(self) -> str:
        """What happened, as the owner reads it in a list of payments: Daraja's ResultDesc is rewritten
        across years and channels, and is no sentence."""
        return MEANINGS.get(self.code, f"M-Pesa gave a code portal does not know ({self.code})")


# code: (category, message, retry). Sources and meanings: reference/daraja.md §6.
_TABLE: dict[str, tuple[str, str, bool]] = {
    "0": (PAID, "result.paid", False),
    "4999": (PENDING, "result.pending", False),  # query only: still waiting for the PIN
    "1": (INSUFFICIENT_FUNDS, "result.no_funds", True),
    "2": (SYSTEM, "result.setup", False),  # below M-Pesa's minimum amount: the package price is wrong
    "3": (SYSTEM, "result.setup", False),  # above M-Pesa's maximum amount
    "4": (DECLINED, "result.daily_limit", False),
    "8": (SYSTEM, "result.setup", False),  # the receiving account is at its maximum balance
    "17": (BUSY, "result.same_payment_twice", True),  # same amount, same payer, within 2 minutes
    "26": (CONGESTED, "result.mpesa_busy", True),
    "1001": (BUSY, "result.prompt_open", True),
    "1019": (UNREACHABLE, "result.prompt_expired", True),
    "1025": (SYSTEM, "result.try_again", True),  # the prompt could not be sent (or its text was too long)
    "1031": (CANCELLED, "result.cancelled", True),
    "1032": (CANCELLED, "result.cancelled", True),
    "1036": (UNREACHABLE, "result.phone_no_answer", True),  # SMSC ACK timeout
    "1037": (UNREACHABLE, "result.phone_no_answer", True),  # phone off or unreachable, or the prompt ignored
    "1101": (SYSTEM, "result.try_again", True),  # prompt text too long
    "1102": (SYSTEM, "result.try_again", True),
    "2001": (WRONG_PIN, "result.wrong_pin", True),
    "2026": (UNREACHABLE, "result.phone_no_answer", True),  # the channel session expired
    "2028": (SYSTEM, "result.setup", False),  # PayBill/Till mix-up in the account's set-up
    "8006": (WRONG_PIN, "result.pin_locked", False),
    "9999": (SYSTEM, "result.try_again", True),
    "SFC_IC0003": (SYSTEM, "result.setup", False),  # PayBill/Till mix-up
    "E3008": (DECLINED, "result.bad_debt", False),
    PUSH_LOCKED: (BUSY, "result.prompt_open", True),
    PUSH_BUSY: (CONGESTED, "result.mpesa_busy", True),
    PUSH_REFUSED: (SYSTEM, "result.setup", False),
    PUSH_UNREACHABLE: (SYSTEM, "result.mpesa_unreachable", True),
    PUSH_BAD_NUMBER: (DECLINED, "result.bad_number", False),  # another number may work
    EXPIRED: (UNREACHABLE, "result.no_final_answer", True),
    NOT_PAID: (UNREACHABLE, "result.not_paid", True),  # the prompt never reached the payer, or wasn't paid
    PAGE_CANCELLED: (CANCELLED, "result.cancelled_here", True),
}


# What each code means to the owner (the payer's words are the catalogue's): English only, like the admin.
MEANINGS: dict[str, str] = {
    "0": "Paid",
    "4999": "Still waiting for the customer's PIN",
    "1": "Not enough money on the customer's M-Pesa",
    "2": "The amount is below M-Pesa's smallest payment: check the package's price",
    "3": "The amount is above M-Pesa's largest payment: check the package's price",
    "4": "Over the customer's daily M-Pesa limit",
    "8": "Your PayBill or Till is at its largest balance: move money out of it",
    "17": "The same amount from the same number within two minutes: M-Pesa refused the second",
    "26": "M-Pesa was too busy",
    "1001": "Another M-Pesa prompt was open on the customer's phone",
    "1019": "The prompt expired before the customer answered it",
    "1025": "M-Pesa could not send the prompt to the phone",
    "1031": "The customer cancelled the prompt",
    "1032": "The customer cancelled the prompt",
    "1036": "The phone did not answer the prompt (off, or out of reach)",
    "1037": "The phone did not answer the prompt (off, out of reach, or the prompt was ignored)",
    "1101": "M-Pesa could not send the prompt to the phone",
    "1102": "M-Pesa could not process the payment",
    "2001": "The customer typed a wrong M-Pesa PIN",
    "2026": "The phone did not answer the prompt in time",
    "2028": "PayBill and Till are mixed up in the M-Pesa account's settings",
    "8006": "The customer's M-Pesa PIN is locked",
    "9999": "M-Pesa could not process the payment",
    "SFC_IC0003": "PayBill and Till are mixed up in the M-Pesa account's settings",
    "E3008": "M-Pesa declined payments from this number (a bad debt on the line)",
    PUSH_LOCKED: "Another M-Pesa prompt was open on the customer's phone",
    PUSH_BUSY: "Daraja turned the prompt away: too many requests",
    PUSH_REFUSED: "Daraja refused the prompt: check the M-Pesa account's settings (Test credentials)",
    PUSH_UNREACHABLE: "Daraja could not be reached from this box: no prompt was sent",
    PUSH_BAD_NUMBER: "Daraja refused the number: not an M-Pesa line",
    EXPIRED: "No answer from M-Pesa before the payment timed out",
    NOT_PAID: "Marked not paid: no such money on M-Pesa",
    PAGE_CANCELLED: "The customer cancelled on the waiting page",
}


def normalize(code: object) -> str:
    """ResultCode is an int in callbacks and a string in queries; some are alphanumeric (`E3008`).

    A number is read as a number however it is spelt (0, 0.0, "0.0", "00"): read as text, "0.0" would
    be an unknown code, and a payment that succeeded would be marked failed."""
    text = str(code).strip()
    try:
        number = Decimal(text)
    except InvalidOperation:
        return text
    if number.is_finite() and abs(number) < LARGEST_CODE and number == number.to_integral_value():
        return str(int(number))
    return text


def describe(code: object) -> Outcome:
    code = normalize(code)
    if code in _TABLE:
        return Outcome(code, *_TABLE[code])
    # An unknown code from Daraja is still a final failure (§6); say so without guessing why.
    return Outcome(code, SYSTEM, "result.try_again", retry=True, known=False)


def is_known(code: object) -> bool:
    return normalize(code) in _TABLE


def known_codes() -> tuple[str, ...]:
    """Every code the table describes, Daraja's and the portal's own."""
    return tuple(_TABLE)


def payer_codes() -> tuple[str, ...]:
    """The known codes of failures that are the payer's own (see PAYER_CATEGORIES)."""
    return tuple(code for code, (category, _, _) in _TABLE.items() if category in PAYER_CATEGORIES)
