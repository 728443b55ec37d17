"""Asking M-Pesa about a receipt (reference/daraja.md §8): the SecurityCredential, the client's question
to the simulator, and reading the result Daraja posts back."""

import base64
import dataclasses
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import padding

from portal.mpesa.callbacks import CallbackError, parse_status_result
from portal.mpesa.daraja import TRANSACTION_STATUS, DarajaClient, ValidationError
from portal.mpesa.security_credential import CertificateError, public_key, security_credential
from portal.sim.daraja import simulator_certificate
from tests.conftest import serving
from tests.mpesa.test_daraja import PHONE, paybill, push
from tests.sim.test_daraja import Receiver

PASSWORD = "Safaricom999!*!"


@pytest.fixture
def client(http, clock):
    return DarajaClient(http, clock)


def with_initiator(account, password: str = PASSWORD):
    return dataclasses.replace(
        account, initiator_name="testapi", initiator_password=password, certificate=simulator_certificate()
    )


def test_the_credential_is_the_password_encrypted_for_the_certificates_key_with_pkcs1_v1_5(daraja):
    first = security_credential(PASSWORD, daraja.sim.certificate_pem)
    second = security_credential(PASSWORD, daraja.sim.certificate_pem)
    assert first != second  # random padding: every one differs
    for made in (first, second):
        assert daraja.sim.key.decrypt(base64.b64decode(made), padding.PKCS1v15()).decode() == PASSWORD


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "Paste the whole certificate"),
        ("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----", "not a readable certificate"),
    ],
)
def test_a_certificate_that_is_not_one_is_explained_without_the_password(text, says):
    with pytest.raises(CertificateError, match=says) as refused:
        security_credential(PASSWORD, text)
    assert PASSWORD not in str(refused.value)


def test_the_simulators_certificate_has_an_rsa_key():
    assert public_key(simulator_certificate()).key_size == 2048


async def test_the_client_asks_and_the_answer_names_the_receipt_amount_and_who_was_paid(daraja, client, http):
    account = with_initiator(paybill(daraja.base_url))
    receipt = daraja.sim.answer((await push(client, account)).checkout_request_id, "success").receipt
    receiver = Receiver()
    async with serving(receiver.app) as base:
        asked = await client.transaction_status(
            account, receipt=receipt, result_url=f"{base}/ts/result", timeout_url=f"{base}/ts/timeout"
        )
        await daraja.sim.settle()
    assert asked.conversation_id.startswith("AG_") and asked.originator_conversation_id
    [(body, _)] = receiver.received
    assert body["Result"]["ConversationID"] == asked.conversation_id
    result = parse_status_result(json.dumps(body).encode())
    assert result.completed and result.receipt == receipt and result.amount == 20
    assert result.credit_party == "174379 - Demo Cafe" and result.finalised.startswith("2026")
    assert daraja.sim.requests[TRANSACTION_STATUS] == 1
    assert PHONE in body["Result"]["ResultParameters"]["ResultParameter"][0]["Value"]


async def test_an_account_without_an_initiator_asks_nothing_and_urls_are_checked_first(daraja, client):
    with pytest.raises(ValueError, match="Transaction Status"):
        await client.transaction_status(
            paybill(daraja.base_url),
            receipt="TJ3MX6CLYC",
            result_url="https://a.b/r",
            timeout_url="https://a.b/t",
        )
    with pytest.raises(ValidationError, match="'query'"):
        await client.transaction_status(
            with_initiator(paybill(daraja.base_url)),
            receipt="TJ3MX6CLYC",
            result_url="https://a.example.com/query/r",
            timeout_url="https://a.example.com/t",
        )
    assert daraja.sim.requests == {}


@pytest.mark.parametrize(
    ("body", "code", "completed"),
    [
        (
            {"Result": {"ResultCode": "2032", "ResultDesc": "no", "TransactionID": "tj3mx6clyc"}},
            "2032",
            False,
        ),
        (
            {
                "Result": {
                    "ResultCode": 0,
                    "ResultParameters": {
                        "ResultParameter": {"Key": "TransactionStatus", "Value": "Completed"}
                    },
                }
            },
            "0",
            True,
        ),
    ],
)
def test_results_are_read_however_daraja_shapes_them(body, code, completed):
    result = parse_status_result(json.dumps(body).encode())
    assert result.result_code == code and result.completed == completed and result.amount is None


@pytest.mark.parametrize("body", [b"", b"[]", b'{"Result": {}}', b'{"Result": {"ResultCode": true}}'])
def test_an_unreadable_result_says_why(body):
    with pytest.raises(CallbackError):
        parse_status_result(body)
