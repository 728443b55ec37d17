"""Transaction Status as the simulator answers it (reference/daraja.md §8, §13.2 item 7): the question
is acknowledged at once, and the answer is posted to its ResultURL: a receipt this shortcode was paid
(through a prompt or by hand) is `Completed` with its amount and parties; any other is 2032. The
SecurityCredential is read as Safaricom reads it, with the private key of the certificate clients got
from `GET /__sim/certificate` (`Simulator.certificate_pem`): a wrong one, or a wrong initiator, is 2001.
"""

import base64
import secrets
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import padding
from litestar import Request, Response, get, post
from litestar.datastructures import State

from ...mpesa.daraja import KENYA
from .protocol import digits, error, gatekeeper, invalid, json_object, ok, respond, simulator_of, url_problem
from .simulator import Simulator, kenya_time, new_request_id

NO_SUCH_RECEIPT = (2032, "The transaction receipt number does not exist.")
WRONG_INITIATOR = (2001, "The initiator information is invalid.")


@post("/mpesa/transactionstatus/v1/query")
async def transaction_status(state: State, request: Request) -> Response:
    sim = simulator_of(state)
    if stopped := gatekeeper(sim, request):
        return stopped
    body = await json_object(request)
    if body is None:
        return error(400, "400.002.05", "Invalid Request Payload")
    if body.get("CommandID") != "TransactionStatusQuery":
        return invalid("CommandID")
    if not str(body.get("TransactionID") or body.get("OriginalConversationID") or "").strip():
        return invalid("TransactionID")
    if (shortcode := digits(body.get("PartyA"))) is None or shortcode not in sim.merchants:
        return invalid("PartyA")
    if str(body.get("IdentifierType")) not in {"1", "2", "4"}:
        return invalid("IdentifierType")
    for name in ("ResultURL", "QueueTimeOutURL"):
        if url_problem(body.get(name)):
            return invalid(name)
    if not body.get("Initiator") or not body.get("SecurityCredential"):
        return invalid("Initiator")
    now = sim.clock.now().astimezone(KENYA)
    conversation = f"AG_{now:%Y%m%d}_{secrets.token_hex(10)}"
    originator = new_request_id()
    result = status_result(sim, body, shortcode, conversation, originator)
    if not sim.dropped("status_result", conversation, body["ResultURL"]):
        sim.deliver_later(sim.post("status_result", conversation, body["ResultURL"], result))
    return await respond(
        sim,
        ok(
            {
                "OriginatorConversationID": originator,
                "ConversationID": conversation,
                "ResponseCode": "0",
                "ResponseDescription": "Accept the service request successfully.",
            }
        ),
    )


def status_result(sim: Simulator, body: dict, shortcode: str, conversation: str, originator: str) -> dict:
    """The Result Daraja posts for a Transaction Status question (§8.1), typed as Daraja types it."""
    receipt = str(body.get("TransactionID") or "").strip().upper()
    found = _payment(sim, shortcode, receipt)
    if not _initiator_ok(sim, body):
        (code, desc), parameters = WRONG_INITIATOR, None
    elif found is None:
        (code, desc), parameters = NO_SUCH_RECEIPT, None
    else:
        amount, payer, at = found
        code, desc = 0, "The service request is processed successfully."
        merchant = sim.merchants[shortcode]
        parameters = [
            {"Key": "DebitPartyName", "Value": payer},
            {"Key": "CreditPartyName", "Value": f"{shortcode} - {merchant.name}"},
            {"Key": "OriginatorConversationID", "Value": originator},
            {"Key": "InitiatedTime", "Value": int(kenya_time(at))},
            {"Key": "DebitAccountType", "Value": "MMF Account For Customer"},
            {"Key": "DebitPartyCharges", "Value": ""},
            {"Key": "TransactionReason", "Value": ""},
            {"Key": "ReasonType", "Value": "Pay Bill Online"},
            {"Key": "TransactionStatus", "Value": "Completed"},
            {"Key": "FinalisedTime", "Value": int(kenya_time(at))},
            {"Key": "Amount", "Value": amount},
            {"Key": "ConversationID", "Value": conversation},
            {"Key": "ReceiptNo", "Value": receipt},
        ]
    result: dict[str, Any] = {
        "ResultType": 0,
        "ResultCode": code,
        "ResultDesc": desc,
        "OriginatorConversationID": originator,
        "ConversationID": conversation,
        "TransactionID": receipt,
        "ReferenceData": {"ReferenceItem": {"Key": "Occasion", "Value": str(body.get("Occasion") or "")}},
    }
    if parameters:
        result["ResultParameters"] = {"ResultParameter": parameters}
    return {"Result": result}


def _initiator_ok(sim: Simulator, body: dict) -> bool:
    """Is the SecurityCredential the initiator's password, encrypted for the simulator's key (§8.2)?"""
    expected = sim.initiators.get(str(body.get("Initiator")))
    try:
        encrypted = base64.b64decode(str(body.get("SecurityCredential")), validate=True)
        password = sim.key.decrypt(encrypted, padding.PKCS1v15()).decode()
    except ValueError:
        return False
    return expected is not None and password == expected


def _payment(sim: Simulator, shortcode: str, receipt: str) -> tuple[int, str, datetime] | None:
    """(amount, payer, when) of the payment to this shortcode with this receipt, by prompt or by hand."""
    for prompt in sim.prompts.values():
        if prompt.receipt == receipt and prompt.shortcode == shortcode and prompt.answered_at:
            return prompt.amount, f"{prompt.phone} - JOHN DOE", prompt.answered_at
    by_hand = sim.paid_by_hand.get(receipt)
    if by_hand is not None and by_hand["BusinessShortCode"] == shortcode:
        at = datetime.strptime(by_hand["TransTime"], "%Y%m%d%H%M%S").replace(tzinfo=KENYA)
        return int(by_hand["TransAmount"].split(".")[0]), "JOHN DOE", at
    return None


@get("/__sim/certificate")
async def certificate(state: State) -> Response:
    """The certificate to paste into an M-Pesa account on this simulator (a test control, not Daraja)."""
    return Response(simulator_of(state).certificate_pem, media_type="text/plain")


HANDLERS = [transaction_status, certificate]
