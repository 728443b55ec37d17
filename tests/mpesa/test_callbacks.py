import json
from decimal import Decimal

import pytest

from portal.mpesa.callbacks import CallbackError, parse_c2b, parse_stk_callback


def stk(callback: dict) -> bytes:
    return json.dumps({"Body": {"stkCallback": callback}}).encode()


SUCCESS = {
    "MerchantRequestID": "29115-34620561-1",
    "CheckoutRequestID": "ws_CO_191220191020363925",
    "ResultCode": 0,
    "ResultDesc": "The service request is processed successfully.",
    "CallbackMetadata": {
        "Item": [
            {"Name": "Amount", "Value": 1.00},
            {"Name": "MpesaReceiptNumber", "Value": "NLJ7RT61SV"},
            {"Name": "Balance"},
            {"Name": "TransactionDate", "Value": 20191219102115},
            {"Name": "PhoneNumber", "Value": 254708374149},
        ]
    },
}


def test_success_is_read_by_item_name_with_balance_lacking_a_value():
    reordered = dict(SUCCESS, CallbackMetadata={"Item": list(reversed(SUCCESS["CallbackMetadata"]["Item"]))})
    result = parse_stk_callback(stk(reordered))
    assert result.paid and result.result_code == "0"
    assert result.amount == Decimal(1) and result.receipt == "NLJ7RT61SV"
    assert result.phone == "254708374149" and result.transaction_date == "20191219102115"


def test_failure_has_no_metadata_and_keeps_the_code_as_text():
    cancelled = {
        "CheckoutRequestID": "ws_CO_1",
        "ResultCode": 1032,
        "ResultDesc": "[STK_CB - ]Request cancelled",
    }
    result = parse_stk_callback(stk(cancelled))
    assert not result.paid and result.result_code == "1032" and result.amount is None


def test_string_and_alphanumeric_result_codes_are_accepted():
    assert (
        parse_stk_callback(stk({"CheckoutRequestID": "ws_CO_1", "ResultCode": "1032"})).result_code == "1032"
    )
    assert (
        parse_stk_callback(stk({"CheckoutRequestID": "ws_CO_1", "ResultCode": "E3008"})).result_code
        == "E3008"
    )


def success_with(**items) -> bytes:
    metadata = {"Item": [{"Name": name, "Value": value} for name, value in items.items()]}
    return stk(dict(SUCCESS, CallbackMetadata=metadata))


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"Body": ' + b"1" * 5000 + b"}", "not JSON: Exceeds the limit"),
        (b'{"Body": {}}', "no Body.stkCallback"),
        (stk({"ResultCode": 0}), "no CheckoutRequestID"),
        (stk({"CheckoutRequestID": "ws_CO_1"}), "no usable ResultCode"),
        (stk({"CheckoutRequestID": "ws_CO_1", "ResultCode": True}), "no usable ResultCode"),
        (stk(dict(SUCCESS, CallbackMetadata=None)), "no CallbackMetadata"),
        (success_with(MpesaReceiptNumber="X"), "no Amount"),
        (success_with(Amount=1), "no MpesaReceiptNumber"),
        (success_with(Amount="lots", MpesaReceiptNumber="X"), "not a number"),
    ],
)
def test_malformed_bodies_are_refused_with_the_reason(body, reason):
    with pytest.raises(CallbackError, match=reason):
        parse_stk_callback(body)


C2B = {
    "TransactionType": "Pay Bill",
    "TransID": "rkl51zdr4f",
    "TransTime": "20231121121325",
    "TransAmount": "5.00",
    "BusinessShortCode": "600966",
    "BillRefNumber": " Sample Transaction ",
    "InvoiceNumber": None,
    "OrgAccountBalance": "25.00",
    "ThirdPartyTransID": None,
    "MSISDN": "2547 ***** 126",
    "FirstName": "NICHOLAS",
    "MiddleName": "",
    "LastName": None,
}


def test_c2b_body_with_strings_and_nulls():
    payment = parse_c2b(json.dumps(C2B).encode())
    assert payment.trans_id == "RKL51ZDR4F" and payment.amount == 5
    assert payment.bill_ref == "Sample Transaction" and payment.payer_name == "NICHOLAS"
    assert payment.msisdn == "2547 ***** 126" and payment.third_party_trans_id == ""


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"TransID": ""}, "no TransID"),
        ({"TransAmount": "5.50"}, "whole"),
        ({"TransAmount": None}, "not a number"),
    ],
)
def test_c2b_body_without_an_id_or_whole_amount_is_refused(change, reason):
    with pytest.raises(CallbackError, match=reason):
        parse_c2b(json.dumps(C2B | change).encode())
