"""The simulator's Transaction Status (reference/daraja.md §8, §13.2 item 7), raw over HTTP: acknowledged
at once, answered at the ResultURL; the SecurityCredential read with the simulator's own key."""

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric import padding

from portal.mpesa.daraja import STK_PUSH, TRANSACTION_STATUS
from portal.mpesa.security_credential import public_key
from tests.conftest import serving
from tests.sim.test_daraja import PHONE, Receiver, api, push_body

INITIATOR, PASSWORD = "testapi", "Safaricom999!*!"


def credential(certificate: str, password: str = PASSWORD) -> str:
    encrypted = public_key(certificate).encrypt(password.encode(), padding.PKCS1v15())
    return base64.b64encode(encrypted).decode()


def question(result_url: str, receipt: str, security_credential: str, **changes) -> dict:
    return {
        "Initiator": INITIATOR,
        "SecurityCredential": security_credential,
        "CommandID": "TransactionStatusQuery",
        "TransactionID": receipt,
        "PartyA": "174379",
        "IdentifierType": "4",
        "ResultURL": result_url + "/result",
        "QueueTimeOutURL": result_url + "/timeout",
        "Remarks": "check",
        "Occasion": "",
    } | changes


async def paid_receipt(daraja, http, clock) -> str:
    checkout = (await api(http, daraja.base_url, STK_PUSH, push_body(clock))).json()["CheckoutRequestID"]
    return daraja.sim.answer(checkout, "success").receipt


async def test_the_certificate_to_paste_is_served_and_is_the_simulators(daraja, http):
    served = await http.get(daraja.base_url + "/__sim/certificate")
    assert served.status_code == 200 and served.text == daraja.sim.certificate_pem
    assert served.text.startswith("-----BEGIN CERTIFICATE-----")


@pytest.mark.parametrize(
    ("which", "password", "code"),
    [("paid", PASSWORD, 0), ("never issued", PASSWORD, 2032), ("paid", "wrong password", 2001)],
)
async def test_a_receipt_is_acknowledged_then_answered_at_the_result_url(
    daraja, http, clock, which, password, code
):
    receipt = await paid_receipt(daraja, http, clock) if which == "paid" else "TJ3MX6CLYC"
    receiver = Receiver()
    async with serving(receiver.app) as base:
        body = question(base + "/ts/1", receipt, credential(daraja.sim.certificate_pem, password))
        acknowledged = await api(http, daraja.base_url, TRANSACTION_STATUS, body)
        await daraja.sim.settle()
    assert acknowledged.status_code == 200
    ack = acknowledged.json()
    assert ack["ResponseCode"] == "0" and ack["ConversationID"].startswith("AG_20260105_")
    [(answer, _)] = receiver.received
    result = answer["Result"]
    assert result["ResultCode"] == code and result["ConversationID"] == ack["ConversationID"]
    values = {
        item["Key"]: item["Value"] for item in result.get("ResultParameters", {}).get("ResultParameter", [])
    }
    if code == 0:
        assert values["ReceiptNo"] == receipt and values["TransactionStatus"] == "Completed"
        assert values["Amount"] == 20 and values["CreditPartyName"] == "174379 - Demo Cafe"
        assert values["DebitPartyName"].startswith(PHONE)
    else:
        assert values == {}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"CommandID": "TransactionStatus"}, "CommandID"),
        ({"TransactionID": ""}, "TransactionID"),
        ({"PartyA": "999999"}, "PartyA"),
        ({"ResultURL": "https://x.example.com/mpesa/result"}, "ResultURL"),
        ({"SecurityCredential": ""}, "Initiator"),
    ],
)
async def test_a_question_daraja_would_refuse_is_refused_at_once(daraja, http, changes, field):
    body = question("https://x.example.com/ts", "TJ3MX6CLYC", "x", **changes)
    refused = await api(http, daraja.base_url, TRANSACTION_STATUS, body)
    assert refused.status_code == 400 and refused.json()["errorMessage"] == f"Bad Request - Invalid {field}"
    assert daraja.sim.deliveries == []
