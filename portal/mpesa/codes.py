"""What a Daraja ResultCode means for the person paying, in English and Swahili.

Branch on codes, never on ResultDesc: Safaricom rewords it across years and channels (reference/daraja.md
§4.1, §6). The list is not closed; `describe` answers for any code. Codes that start with `push.` or
equal `expired` are the portal's own: Daraja gives no ResultCode when it refuses the push itself or when
no answer comes, yet the payer still needs to be told what happened.
"""

from dataclasses import dataclass

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

# The portal's own codes (see the module docstring).
PUSH_LOCKED = "push.locked"  # Daraja: "Unable to lock subscriber": a prompt is already open on that phone
PUSH_BUSY = "push.busy"  # Daraja: spike arrest or quota: too many requests
PUSH_REFUSED = "push.refused"  # Daraja refused the request: the M-Pesa account's set-up is wrong
PUSH_UNREACHABLE = "push.unreachable"  # Daraja could not be reached; nothing was sent
EXPIRED = "expired"  # no final answer within settings.mpesa.payment_timeout


@dataclass(frozen=True)
class Outcome:
    code: str
    category: str
    english: str
    swahili: str
    retry: bool  # would the same payment, asked again, likely go through?
    known: bool = True

    def say(self, lang: str) -> str:
        return self.swahili if lang == "sw" else self.english


_TRY_AGAIN = (
    "M-Pesa could not process this payment. No money was taken. Try again in a moment.",
    "M-Pesa haikuweza kushughulikia malipo haya. Hakuna pesa iliyotolewa. Jaribu tena baadaye kidogo.",
)
_SETUP = (
    "This hotspot can't take M-Pesa payments right now. No money was taken. Please tell the attendant.",
    "Hotspot hii haiwezi kupokea malipo ya M-Pesa kwa sasa. Hakuna pesa iliyotolewa. "
    "Tafadhali mjulishe mhudumu.",
)
_CANCELLED = (
    "You cancelled the M-Pesa request. No money was taken.",
    "Ulighairi ombi la M-Pesa. Hakuna pesa iliyotolewa.",
)
_NO_ANSWER = (
    "Your phone did not answer the M-Pesa request in time. Check that it is on and try again.",
    "Simu yako haikujibu ombi la M-Pesa kwa wakati. Hakikisha iko wazi kisha ujaribu tena.",
)
_LOCKED = (
    "Another M-Pesa request is open on your phone. Finish or cancel it, then try again in a minute.",
    "Kuna ombi lingine la M-Pesa kwenye simu yako. Likamilishe au ulighairi, "
    "kisha ujaribu tena baada ya dakika moja.",
)
_MESSAGES = {
    "paid": (
        "Payment received. Connecting you now.",
        "Malipo yamepokelewa. Tunakuunganisha sasa.",
    ),
    "pending": (
        "Enter your M-Pesa PIN on your phone to pay.",
        "Weka PIN yako ya M-Pesa kwenye simu yako ili kulipa.",
    ),
    "no_funds": (
        "Your M-Pesa balance is not enough for this package. Top up and try again.",
        "Salio lako la M-Pesa halitoshi kwa kifurushi hiki. Ongeza salio kisha ujaribu tena.",
    ),
    "daily_limit": (
        "This payment would pass your daily M-Pesa limit.",
        "Malipo haya yangezidi kikomo chako cha kila siku cha M-Pesa.",
    ),
    "rule_limited": (
        "M-Pesa refuses the same payment twice within two minutes. Wait two minutes and try again.",
        "M-Pesa haikubali malipo yale yale mara mbili ndani ya dakika mbili. "
        "Subiri dakika mbili kisha ujaribu tena.",
    ),
    "system_busy": (
        "M-Pesa is busy. Try again in a few minutes.",
        "M-Pesa ina shughuli nyingi. Jaribu tena baada ya dakika chache.",
    ),
    "expired_prompt": (
        "The M-Pesa request expired before it was answered. Try again.",
        "Ombi la M-Pesa liliisha muda kabla ya kujibiwa. Jaribu tena.",
    ),
    "wrong_pin": (
        "The M-Pesa PIN entered was wrong. No money was taken. Try again.",
        "PIN ya M-Pesa uliyoweka si sahihi. Hakuna pesa iliyotolewa. Jaribu tena.",
    ),
    "pin_locked": (
        "Your M-Pesa PIN is locked. Call 100 to unlock it, then try again.",
        "PIN yako ya M-Pesa imefungwa. Piga 100 ili kuifungua, kisha ujaribu tena.",
    ),
    "bad_debt": (
        "M-Pesa declined payments from this number. Try another M-Pesa number.",
        "M-Pesa imekataa malipo kutoka nambari hii. Jaribu nambari nyingine ya M-Pesa.",
    ),
    "unreachable": (
        "We could not reach M-Pesa. No money was taken. Try again in a minute.",
        "Hatukuweza kufikia M-Pesa. Hakuna pesa iliyotolewa. Jaribu tena baada ya dakika moja.",
    ),
    "no_answer_in_time": (
        "No answer came from M-Pesa in time. If money left your account, show the M-Pesa message "
        "to the attendant.",
        "Jibu la M-Pesa halikufika kwa wakati. Kama pesa zilitoka kwenye akaunti yako, "
        "mwonyeshe mhudumu ujumbe wa M-Pesa.",
    ),
}

# code: (category, (english, swahili), retry). Sources and meanings: reference/daraja.md §6.
_TABLE: dict[str, tuple[str, tuple[str, str], bool]] = {
    "0": (PAID, _MESSAGES["paid"], False),
    "4999": (PENDING, _MESSAGES["pending"], False),  # query only: still waiting for the PIN
    "1": (INSUFFICIENT_FUNDS, _MESSAGES["no_funds"], True),
    "2": (SYSTEM, _SETUP, False),  # below M-Pesa's minimum amount: the package price is wrong
    "3": (SYSTEM, _SETUP, False),  # above M-Pesa's maximum amount
    "4": (DECLINED, _MESSAGES["daily_limit"], False),
    "8": (SYSTEM, _SETUP, False),  # the receiving account is at its maximum balance
    "17": (BUSY, _MESSAGES["rule_limited"], True),  # same amount, same payer, within 2 minutes
    "26": (CONGESTED, _MESSAGES["system_busy"], True),
    "1001": (BUSY, _LOCKED, True),
    "1019": (UNREACHABLE, _MESSAGES["expired_prompt"], True),
    "1025": (SYSTEM, _TRY_AGAIN, True),  # the prompt could not be sent (or its text was too long)
    "1031": (CANCELLED, _CANCELLED, True),
    "1032": (CANCELLED, _CANCELLED, True),
    "1036": (UNREACHABLE, _NO_ANSWER, True),  # SMSC ACK timeout
    "1037": (UNREACHABLE, _NO_ANSWER, True),  # phone off or unreachable, or the prompt ignored
    "1101": (SYSTEM, _TRY_AGAIN, True),  # prompt text too long
    "1102": (SYSTEM, _TRY_AGAIN, True),
    "2001": (WRONG_PIN, _MESSAGES["wrong_pin"], True),
    "2026": (UNREACHABLE, _NO_ANSWER, True),  # the channel session expired
    "2028": (SYSTEM, _SETUP, False),  # PayBill/Till mix-up in the account's set-up
    "8006": (WRONG_PIN, _MESSAGES["pin_locked"], False),
    "9999": (SYSTEM, _TRY_AGAIN, True),
    "SFC_IC0003": (SYSTEM, _SETUP, False),  # PayBill/Till mix-up
    "E3008": (DECLINED, _MESSAGES["bad_debt"], False),
    PUSH_LOCKED: (BUSY, _LOCKED, True),
    PUSH_BUSY: (CONGESTED, _MESSAGES["system_busy"], True),
    PUSH_REFUSED: (SYSTEM, _SETUP, False),
    PUSH_UNREACHABLE: (SYSTEM, _MESSAGES["unreachable"], True),
    EXPIRED: (UNREACHABLE, _MESSAGES["no_answer_in_time"], True),
}


def normalize(code: object) -> str:
    """ResultCode is an int in callbacks and a string in queries; some are alphanumeric (`E3008`)."""
    return str(code).strip()


def describe(code: object) -> Outcome:
    code = normalize(code)
    if code in _TABLE:
        category, (english, swahili), retry = _TABLE[code]
        return Outcome(code, category, english, swahili, retry)
    # An unknown code from Daraja is still a final failure (§6); say so without guessing why.
    return Outcome(code, SYSTEM, *_TRY_AGAIN, retry=True, known=False)


def is_known(code: object) -> bool:
    return normalize(code) in _TABLE


def payer_codes() -> tuple[str, ...]:
    """The known codes of failures that are the payer's own (see PAYER_CATEGORIES)."""
    return tuple(code for code, (category, _, _) in _TABLE.items() if category in PAYER_CATEGORIES)
