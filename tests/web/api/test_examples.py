"""The guide's examples (templates/api/examples, the files /api/docs shows) run as a developer would run
them, against the demo business on the simulators: each sends a prompt that reaches the Daraja
simulator and reads the payment back."""

import asyncio
import json
import os
import runpy
import shutil
import sys
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook

from portal.app import TEMPLATES
from portal.tenancy import webhooks
from portal.web.api.docs import EXAMPLES, QUICK_START, VERIFY_WEBHOOK
from tests.web.api.conftest import Api, pushes

EXAMPLE_DIR = TEMPLATES / EXAMPLES
RUNNERS = {
    "curl": ("sh",),
    "Python (httpx)": (sys.executable,),
    "Node (fetch)": ("node",),
    "PHP (curl)": ("php",),
}


async def run(api: Api, language: str) -> list[str]:
    """The example's output lines, run with the API's address and the demo's token in its environment."""
    program = RUNNERS[language]
    if shutil.which(program[0]) is None:
        pytest.skip(f"{program[0]} is not installed here: the {language} example is shown, not run")
    environment = os.environ | {"PORTAL_API": api.base, "PORTAL_TOKEN": api.token}
    # Asynchronously: the portal answering the example runs in this test's event loop.
    process = await asyncio.create_subprocess_exec(
        *program,
        str(EXAMPLE_DIR / QUICK_START[language]),
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode().splitlines()


async def the_one_payment(api: Api) -> dict:
    listed = (await api.get("/payments")).json()["data"]
    assert len(listed) == 1
    assert pushes(api.hotspot) == 1
    return listed[0]


@pytest.mark.parametrize("language", ["Python (httpx)", "Node (fetch)", "PHP (curl)"])
async def test_the_quick_start_sends_a_prompt_and_reads_it_back(api, language):
    sent, now = await run(api, language)
    payment = await the_one_payment(api)
    assert sent.split() == ["sent", str(payment["id"]), "pending"]
    assert now.split() == ["now", str(payment["id"]), "pending"]
    assert (payment["amount"], payment["reference"]) == (10, "ORDER1001")


async def test_the_curl_quick_start_sends_a_prompt_and_finds_it_by_its_reference(api):
    sent, listed = (json.loads(line) for line in await run(api, "curl"))
    payment = await the_one_payment(api)
    assert sent == payment
    assert listed["data"] == [payment]


async def test_the_quick_start_sent_again_answers_the_same_payment_without_a_second_prompt(api):
    first, _ = await run(api, "Python (httpx)")
    again, _ = await run(api, "Python (httpx)")
    assert first == again
    await the_one_payment(api)


def test_the_webhook_check_accepts_what_standard_webhooks_signs_and_nothing_else():
    verify = runpy.run_path(str(EXAMPLE_DIR / VERIFY_WEBHOOK))["verify"]
    secret, body = (
        webhooks.new_secret(),
        b'{"type":"payment.paid","timestamp":"2026-01-05T09:00:00Z","data":{"id":1}}',
    )

    def headers(moment: datetime, signed_with: str = secret, signed_body: bytes = body) -> dict[str, str]:
        signature = Webhook(signed_with).sign("msg_1", moment, signed_body)
        return {
            "webhook-id": "msg_1",
            "webhook-timestamp": str(int(moment.timestamp())),
            "webhook-signature": signature,
        }

    now = datetime.now(UTC)  # the example checks the timestamp against the real time
    assert verify(secret, headers(now), body)
    assert verify(
        secret,
        {**headers(now), "webhook-signature": f"v1,bm90IGl0 {headers(now)['webhook-signature']}"},
        body,
    )
    assert not verify(secret, headers(now), body.replace(b'"id":1', b'"id":2'))
    assert not verify(secret, headers(now, signed_with=webhooks.new_secret()), body)
    assert not verify(secret, headers(now - timedelta(minutes=10)), body)
