"""Daraja's callback bodies (STK result, C2B validation and confirmation, Transaction Status result) as
typed values.

Tolerant where Daraja varies (reference/daraja.md §4, §7.3): ResultCode as int or string, metadata items
looked up by name with or without a Value, amounts as 1, 1.00 or "5.00", nulls for empty strings. Strict
where a missing field would mean guessing: such a body is refused with the reason, for the log.

Bounded, since anyone who learns a hook's address can post to it: a body is at most MAX_BODY bytes and
MAX_DEPTH levels deep, a text at most MAX_TEXT characters and never an object or a list, an amount
within MAX_AMOUNT. Daraja's own bodies are a few hundred bytes and six levels deep.
"""

import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from . import result_codes as codes

MAX_BODY = 64 * 1024  # bytes
MAX_DEPTH = 10  # objects and lists within each other
MAX_TEXT = 200  # characters of one value (ids, names, descriptions)
# Far above any M-Pesa transaction limit, so a real payment is never refused; far below what breaks a
# database integer.
MAX_AMOUNT = Decimal(100_000_000)


class CallbackError(ValueError):
    """The body can't be understood; the message says why (it is logged, and sent back as the 400)."""


@dataclass(frozen=True)
class StkResult:
    merchant_request_id: str
    checkout_request_id: str
    result_code: str
    result_desc: str
    amount: Decimal | None = None  # success only, as are the three below
    receipt: str | None = None
    phone: str | None = None
    transaction_date: str | None = None  # YYYYMMDDHHmmss, Kenya time

    @property
    def paid(self) -> bool:
        return self.result_code == "0"


@dataclass(frozen=True)
class C2BPayment:
    trans_id: str
    trans_time: str
    amount: int
    shortcode: str
    bill_ref: str
    msisdn: str  # v1: a SHA-256 hash, v2: masked ("2547 ***** 126"); never the usable number (§7.3)
    payer_name: str
    transaction_type: str
    third_party_trans_id: str


@dataclass(frozen=True)
class StatusResult:
    """What M-Pesa said about a receipt (Transaction Status, reference/daraja.md §8.1)."""

    result_code: str  # "0": the receipt was found; "2032": no such receipt; "2001": bad credential
    result_desc: str
    conversation_id: str
    receipt: str  # ReceiptNo, else the TransactionID asked about
    transaction_status: str  # "Completed", …
    amount: Decimal | None
    credit_party: str  # "174379 - Demo Cafe": who was paid
    finalised: str  # YYYYMMDDHHmmss, Kenya time

    @property
    def completed(self) -> bool:
        return self.result_code == "0" and self.transaction_status.lower() == "completed"


def _load(body: bytes) -> dict:
    if len(body) > MAX_BODY:
        raise CallbackError(f"body is larger than {MAX_BODY} bytes")
    try:
        data = json.loads(body)
    except ValueError as error:  # not JSON, not UTF-8, or a number of more digits than Python reads
        raise CallbackError(f"body is not JSON: {error}") from None
    except RecursionError:
        raise CallbackError(f"body is nested more than {MAX_DEPTH} levels deep") from None
    if not isinstance(data, dict):
        raise CallbackError("body is not a JSON object")
    if _too_deep(data):
        raise CallbackError(f"body is nested more than {MAX_DEPTH} levels deep")
    return data


def _too_deep(data: Any) -> bool:
    """More than MAX_DEPTH objects and lists within each other; level by level, never recursing."""
    layer = [data]
    for _ in range(MAX_DEPTH):
        layer = [child for node in layer for child in _children(node)]
    return any(isinstance(node, dict | list) for node in layer)


def _children(node: Any) -> list:
    if isinstance(node, dict):
        return list(node.values())
    return node if isinstance(node, list) else []


def _text(value: Any, name: str) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        raise CallbackError(f"{name} is not text")
    text = str(value).strip()
    if len(text) > MAX_TEXT:
        raise CallbackError(f"{name} is longer than {MAX_TEXT} characters")
    return text


def _code(value: Any, where: str) -> str:
    if value is None or isinstance(value, bool | dict | list):
        raise CallbackError(f"{where} has no usable ResultCode")
    code = codes.normalize(_text(value, "ResultCode"))
    if not code:
        raise CallbackError(f"{where} has no usable ResultCode")
    return code


def _amount(value: Any, name: str = "Amount") -> Decimal:
    if isinstance(value, bool | dict | list) or value is None:
        raise CallbackError(f"{name} {value!r} is not a number")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise CallbackError(f"{name} {value!r} is not a number") from None
    if not amount.is_finite():
        raise CallbackError(f"{name} {value!r} is not a number")
    if not -MAX_AMOUNT <= amount <= MAX_AMOUNT:
        raise CallbackError(f"{name} {value!r} is out of range")
    return amount


def parse_stk_callback(body: bytes) -> StkResult:
    data = _load(body)
    callback = data.get("Body", {}).get("stkCallback") if isinstance(data.get("Body"), dict) else None
    if not isinstance(callback, dict):
        raise CallbackError("no Body.stkCallback object")
    checkout = _text(callback.get("CheckoutRequestID"), "CheckoutRequestID")
    if not checkout:
        raise CallbackError("stkCallback has no CheckoutRequestID")
    result = StkResult(
        merchant_request_id=_text(callback.get("MerchantRequestID"), "MerchantRequestID"),
        checkout_request_id=checkout,
        result_code=_code(callback.get("ResultCode"), "stkCallback"),
        result_desc=_text(callback.get("ResultDesc"), "ResultDesc"),
    )
    if not result.paid:
        return result
    # Metadata only comes with success; items by Name, never by position, Value may be absent (§4.1).
    metadata = callback.get("CallbackMetadata")
    items = metadata.get("Item") if isinstance(metadata, dict) else None
    if not isinstance(items, list):
        raise CallbackError("a successful stkCallback has no CallbackMetadata.Item list")
    meta = {
        item["Name"]: item.get("Value")
        for item in items
        if isinstance(item, dict) and isinstance(item.get("Name"), str)
    }
    if "Amount" not in meta:
        raise CallbackError("a successful stkCallback has no Amount")
    receipt = _text(meta.get("MpesaReceiptNumber"), "MpesaReceiptNumber")
    if not receipt:
        raise CallbackError("a successful stkCallback has no MpesaReceiptNumber")
    return StkResult(
        merchant_request_id=result.merchant_request_id,
        checkout_request_id=checkout,
        result_code="0",
        result_desc=result.result_desc,
        amount=_amount(meta["Amount"]),
        receipt=receipt.upper(),
        phone=_text(meta.get("PhoneNumber"), "PhoneNumber") or None,
        transaction_date=_text(meta.get("TransactionDate"), "TransactionDate") or None,
    )


def parse_c2b(body: bytes) -> C2BPayment:
    """A C2B validation or confirmation body (the same shape, §7.3); every value a string or null."""
    data = _load(body)
    trans_id = _text(data.get("TransID"), "TransID").upper()
    if not trans_id:
        raise CallbackError("no TransID")
    amount = _amount(data.get("TransAmount"), "TransAmount")
    if amount != amount.to_integral_value() or amount < 1:
        raise CallbackError(f"TransAmount {data.get('TransAmount')!r} is not a whole number of shillings")
    names = (_text(data.get(key), key) for key in ("FirstName", "MiddleName", "LastName"))
    return C2BPayment(
        trans_id=trans_id,
        trans_time=_text(data.get("TransTime"), "TransTime"),
        amount=int(amount),
        shortcode=_text(data.get("BusinessShortCode"), "BusinessShortCode"),
        bill_ref=_text(data.get("BillRefNumber"), "BillRefNumber"),
        msisdn=_text(data.get("MSISDN"), "MSISDN"),
        payer_name=" ".join(name for name in names if name),
        transaction_type=_text(data.get("TransactionType"), "TransactionType"),
        third_party_trans_id=_text(data.get("ThirdPartyTransID"), "ThirdPartyTransID"),
    )


def parse_status_result(body: bytes) -> StatusResult:
    """A Transaction Status result (or queue time-out) body: `{"Result": {…}}`; parameters by Key."""
    data = _load(body)
    result = data.get("Result")
    if not isinstance(result, dict):
        raise CallbackError("no Result object")
    code = _code(result.get("ResultCode"), "Result")
    parameters = result.get("ResultParameters")
    listed = parameters.get("ResultParameter") if isinstance(parameters, dict) else None
    # One parameter can come as an object rather than a list of one.
    listed = [listed] if isinstance(listed, dict) else listed if isinstance(listed, list) else []
    values = {
        item["Key"]: item.get("Value")
        for item in listed
        if isinstance(item, dict) and isinstance(item.get("Key"), str)
    }
    amount = values.get("Amount")
    return StatusResult(
        result_code=code,
        result_desc=_text(result.get("ResultDesc"), "ResultDesc"),
        conversation_id=_text(result.get("ConversationID"), "ConversationID"),
        receipt=(
            _text(values.get("ReceiptNo"), "ReceiptNo") or _text(result.get("TransactionID"), "TransactionID")
        ).upper(),
        transaction_status=_text(values.get("TransactionStatus"), "TransactionStatus"),
        amount=None if amount in (None, "") else _amount(amount),
        credit_party=_text(values.get("CreditPartyName"), "CreditPartyName"),
        finalised=_text(values.get("FinalisedTime"), "FinalisedTime"),
    )
