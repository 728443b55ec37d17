"""The Daraja client against the simulator, over real HTTP on loopback."""

import asyncio
import dataclasses
from datetime import UTC, datetime

import httpx
import pytest

from portal.mpesa.daraja import (
    OAUTH,
    STK_PUSH,
    STK_QUERY,
    TOKEN_TIMEOUT,
    Account,
    AuthError,
    BusyError,
    CredentialError,
    DarajaClient,
    DarajaError,
    UnavailableError,
    ValidationError,
    account_reference,
    password,
    timestamp,
    transaction_desc,
)
from portal.sim.daraja import SANDBOX_PASSKEY
from tests.billing.conftest import Impatient
from tests.conftest import free_port

PHONE = "254708374149"
CALLBACK = "http://127.0.0.1:9/hooks/stk/0123abcd"


def paybill(base_url: str, **changes) -> Account:
    account = Account(
        id=1,
        name="Demo Cafe",
        shortcode="174379",
        kind="paybill",
        till_number=None,
        base_url=base_url,
        consumer_key="sim-consumer-key",
        consumer_secret="sim-consumer-secret",
        passkey=SANDBOX_PASSKEY,
    )
    return dataclasses.replace(account, **changes)


@pytest.fixture
def client(http, clock):
    return DarajaClient(http, clock)


async def push(client, account, phone=PHONE, amount=20, callback_url=CALLBACK):
    return await client.stk_push(
        account,
        phone=phone,
        amount=amount,
        reference="WiFi 3hrs!",
        description="Wi-Fi access",
        callback_url=callback_url,
    )


def test_password_matches_the_reference_vectors():
    head = "MTc0Mzc5YmZiMjc5ZjlhYTliZGJjZjE1OGU5N2RkNzFhNDY3Y2QyZTBjODkzMDU5YjEwZjc4ZTZiNzJhZGExZWQyYzkxOT"
    assert password("174379", SANDBOX_PASSKEY, "20160216165627") == head + "IwMTYwMjE2MTY1NjI3"
    assert password("174379", SANDBOX_PASSKEY, "20210628092408") == head + "IwMjEwNjI4MDkyNDA4"


def test_timestamp_is_kenya_time():
    assert timestamp(datetime(2026, 1, 5, 21, 30, 5, tzinfo=UTC)) == "20260106003005"


def test_reference_and_description_fit_darajas_limits():
    assert account_reference("WiFi-3 hours / Demo Cafe") == "WiFi3hoursDe"
    assert account_reference("!!!") == "WiFi"
    assert transaction_desc("Wi-Fi access, 3 hours") == "WiFi access 3"
    assert transaction_desc("") == "WiFi"


def test_secrets_stay_out_of_the_accounts_repr():
    shown = repr(paybill("http://x"))
    assert (
        "sim-consumer-secret" not in shown
        and SANDBOX_PASSKEY not in shown
        and "sim-consumer-key" not in shown
    )


async def test_push_to_a_paybill_rings_the_phone(daraja, client, http):
    accepted = await push(client, paybill(daraja.base_url))
    assert accepted.checkout_request_id.startswith("ws_CO_") and accepted.merchant_request_id
    prompts = (await http.get(f"{daraja.base_url}/phone/api/prompts")).json()
    assert prompts == [
        {
            "checkout_request_id": accepted.checkout_request_id,
            "phone": PHONE,
            "amount": 20,
            "account_reference": "WiFi3hrs",
            "merchant": "Demo Cafe",
            "outcome": None,
        }
    ]


async def test_push_to_a_till_pays_the_till_through_its_store_number(daraja, client):
    till = paybill(daraja.base_url, name="Demo Kiosk", shortcode="300100", kind="till", till_number="300101")
    accepted = await push(client, till)
    # A PayBill/Till mix-up would be accepted and then fail with 2028; a right one waits for the PIN.
    answer = await client.stk_query(till, accepted.checkout_request_id)
    assert answer.pending


async def test_a_paybill_sent_as_a_till_fails_with_2028(daraja, client):
    wrong = paybill(daraja.base_url, kind="till", till_number="174380")
    accepted = await push(client, wrong)
    answer = await client.stk_query(wrong, accepted.checkout_request_id)
    assert answer.result_code == "2028"


async def test_token_is_shared_and_refreshed_before_it_expires(daraja, client, clock):
    account = paybill(daraja.base_url)
    accepted = await push(client, account)
    await client.stk_query(account, accepted.checkout_request_id)
    assert daraja.sim.requests[OAUTH] == 1
    clock.advance(3599 - 120 - 1)
    await client.stk_query(account, accepted.checkout_request_id)
    assert daraja.sim.requests[OAUTH] == 1
    clock.advance(2)
    await client.stk_query(account, accepted.checkout_request_id)
    assert daraja.sim.requests[OAUTH] == 2


async def test_concurrent_first_calls_mint_one_token(daraja, http, clock):
    # Each new token invalidates the last (§2): callers racing to mint would knock each other out.
    account = paybill(daraja.base_url)
    accepted = await push(DarajaClient(http, clock), account)
    fresh = DarajaClient(http, clock)
    answers = await asyncio.gather(
        *(fresh.stk_query(account, accepted.checkout_request_id) for _ in range(5))
    )
    assert all(answer.pending for answer in answers)
    assert daraja.sim.requests[OAUTH] == 2


async def test_a_token_superseded_mid_flight_is_reminted_once(daraja, client, http):
    account = paybill(daraja.base_url)
    accepted = await push(client, account)
    # Someone else mints a token with the same keys: ours is now refused with 404.001.03.
    other = await http.get(
        f"{daraja.base_url}{OAUTH}",
        params={"grant_type": "client_credentials"},
        auth=("sim-consumer-key", "sim-consumer-secret"),
    )
    assert other.status_code == 200
    answer = await client.stk_query(account, accepted.checkout_request_id)
    assert answer.pending
    assert daraja.sim.requests[OAUTH] == 3
    assert daraja.sim.requests[STK_QUERY] == 2


async def test_a_token_refused_twice_is_an_auth_error(daraja, clock):
    async def forget_tokens(request):  # as if the app had lost the product: every token is refused
        if request.url.path == STK_PUSH:
            daraja.sim.tokens.clear()

    async with httpx.AsyncClient(event_hooks={"request": [forget_tokens]}) as http:
        with pytest.raises(AuthError) as refused:
            await push(DarajaClient(http, clock), paybill(daraja.base_url))
    assert refused.value.code == "404.001.03"
    assert daraja.sim.requests[OAUTH] == 2 and daraja.sim.requests[STK_PUSH] == 2


async def test_wrong_consumer_secret_is_an_auth_error(daraja, client):
    with pytest.raises(AuthError) as refused:
        await push(client, paybill(daraja.base_url, consumer_secret="nope"))
    assert "consumer key and secret" in str(refused.value)
    assert "nope" not in str(refused.value)
    assert daraja.sim.requests.get(STK_PUSH) is None


async def test_wrong_passkey_or_shortcode_is_a_credential_error(daraja, client):
    with pytest.raises(CredentialError, match="Wrong credentials"):
        await push(client, paybill(daraja.base_url, passkey="0" * 64))
    with pytest.raises(CredentialError, match="Merchant does not exist"):
        await push(client, paybill(daraja.base_url, shortcode="999999"))


async def test_checking_credentials_tells_a_wrong_key_from_a_wrong_passkey_or_shortcode_and_rings_no_phone(
    daraja, client
):
    await client.check_credentials(paybill(daraja.base_url))
    with pytest.raises(AuthError):
        await client.check_credentials(paybill(daraja.base_url, consumer_secret="mistyped"))
    with pytest.raises(CredentialError, match="Wrong credentials"):
        await client.check_credentials(paybill(daraja.base_url, passkey="0" * 64))
    with pytest.raises(CredentialError, match="Merchant does not exist"):
        await client.check_credentials(paybill(daraja.base_url, shortcode="999999"))
    assert daraja.sim.prompts == {}


async def test_a_field_daraja_refuses_is_a_validation_error(daraja, client):
    with pytest.raises(ValidationError) as refused:
        await push(client, paybill(daraja.base_url), phone="254812345678")
    assert refused.value.field == "PartyA" and refused.value.code == "400.002.02"


async def test_forbidden_words_in_the_callback_url_are_refused_before_sending(daraja, client):
    with pytest.raises(ValidationError, match="'mpesa'") as refused:
        await push(client, paybill(daraja.base_url), callback_url="https://mpesa.example.com/hooks/stk/1")
    assert refused.value.field == "CallBackURL"
    assert daraja.sim.requests == {}


async def test_second_push_to_a_phone_with_a_prompt_open_is_busy(daraja, client):
    await push(client, paybill(daraja.base_url))
    with pytest.raises(BusyError, match="Unable to lock subscriber") as busy:
        await push(client, paybill(daraja.base_url), amount=50)
    assert not busy.value.rate_limited


async def test_spike_arrest_is_busy_and_rate_limited(daraja, client):
    daraja.sim.fail_next("spike_arrest")
    with pytest.raises(BusyError) as busy:
        await push(client, paybill(daraja.base_url))
    assert busy.value.rate_limited and busy.value.code == "500.003.02"


@pytest.mark.parametrize(
    ("fault", "status"),
    [("too_many_requests", "429"), ("server_error", "502"), ("unavailable", "503"), ("garbage", "200")],
)
async def test_the_gateway_turning_a_push_away_is_busy_and_nothing_was_sent(daraja, client, fault, status):
    daraja.sim.fail_next(fault)
    with pytest.raises(BusyError) as busy:
        await push(client, paybill(daraja.base_url))
    assert busy.value.rate_limited and busy.value.code == status
    assert daraja.sim.prompts == {}  # no phone rings: the payment may fail at once


async def test_the_gateway_timing_out_on_a_push_may_have_sent_it(daraja, client):
    daraja.sim.fail_next("gateway_timeout")
    with pytest.raises(UnavailableError) as unavailable:
        await push(client, paybill(daraja.base_url))
    assert unavailable.value.maybe_sent
    assert [prompt.phone for prompt in daraja.sim.pending_prompts()] == [PHONE]


async def test_a_push_whose_answer_times_out_may_still_ring_the_phone(daraja, clock):
    daraja.sim.options.slow_answer = 0.5
    daraja.sim.fail_next("slow")
    async with httpx.AsyncClient(transport=Impatient()) as impatient:
        with pytest.raises(UnavailableError) as unavailable:
            await push(DarajaClient(impatient, clock), paybill(daraja.base_url))
    assert unavailable.value.maybe_sent
    assert [prompt.phone for prompt in daraja.sim.pending_prompts()] == [PHONE]


async def test_an_invalid_phone_number_is_about_the_payer(daraja, client):
    with pytest.raises(ValidationError) as refused:
        await push(client, paybill(daraja.base_url), phone="254608374149")
    assert refused.value.field == "PartyA" and refused.value.about_the_payer
    with pytest.raises(ValidationError) as refused:
        await client.stk_push(
            paybill(daraja.base_url), phone=PHONE, amount=20, reference="x", description="x",
            callback_url="https://a.example.com/mpesa",
        )  # fmt: skip
    assert not refused.value.about_the_payer


async def test_waiting_is_short_for_a_token_and_a_query_and_long_for_a_push(daraja, http, clock):
    seen = {}

    async def note(request):
        seen[request.url.path] = request.extensions["timeout"]

    account = paybill(daraja.base_url)
    async with httpx.AsyncClient(event_hooks={"request": [note]}) as noting:
        client = DarajaClient(noting, clock)
        accepted = await push(client, account)
        await client.stk_query(account, accepted.checkout_request_id)
    assert seen[OAUTH] == TOKEN_TIMEOUT.as_dict() and seen[OAUTH]["read"] <= 5
    assert seen[STK_PUSH]["connect"] <= 5 and seen[STK_PUSH]["read"] == 30
    assert seen[STK_QUERY]["connect"] <= 5 and seen[STK_QUERY]["read"] == 10


async def test_daraja_unreachable_means_nothing_was_sent(client):
    with pytest.raises(UnavailableError) as unavailable:
        await push(client, paybill(f"http://127.0.0.1:{free_port()}"))
    assert not unavailable.value.maybe_sent


@pytest.mark.parametrize("style", ["4999", "legacy500"])
async def test_query_reads_both_pending_styles_as_pending(daraja, client, style):
    daraja.sim.options.pending_style = style
    account = paybill(daraja.base_url)
    accepted = await push(client, account)
    answer = await client.stk_query(account, accepted.checkout_request_id)
    assert answer.pending and answer.result_code is None


@pytest.mark.parametrize(
    ("outcome", "code"), [("success", "0"), ("cancel", "1032"), ("wrong_pin", "2001"), ("no_funds", "1")]
)
async def test_query_gives_the_final_code_as_text(daraja, client, outcome, code):
    account = paybill(daraja.base_url)
    accepted = await push(client, account)
    daraja.sim.answer(accepted.checkout_request_id, outcome)
    assert (await client.stk_query(account, accepted.checkout_request_id)).result_code == code


async def test_query_after_the_prompt_times_out_says_1037(daraja, client, clock):
    account = paybill(daraja.base_url)
    accepted = await push(client, account)
    clock.advance(daraja.sim.options.prompt_timeout)
    answer = await client.stk_query(account, accepted.checkout_request_id)
    assert answer.result_code == "1037"


async def test_expires_in_as_a_number_is_understood(daraja, client):
    daraja.sim.options.expires_in_as_number = True
    await push(client, paybill(daraja.base_url))
    assert daraja.sim.requests[STK_PUSH] == 1


async def register(client, account, host: str = "wifi.example.co.ke") -> None:
    await client.register_c2b_urls(
        account,
        confirmation_url=f"https://{host}/hooks/c2b/ab12/confirmation",
        validation_url=f"https://{host}/hooks/c2b/ab12/validation",
    )


async def test_register_c2b_urls(daraja, client):
    await register(client, paybill(daraja.base_url))
    assert daraja.sim.c2b_urls["174379"]["ResponseType"] == "Completed"


@pytest.mark.parametrize(("shape", "code"), [("refused", "500.003.1001"), ("described", "")])
async def test_c2b_urls_already_registered_are_refused_in_either_shape(daraja, client, shape, code):
    daraja.sim.options.c2b_reregistration = shape
    account = paybill(daraja.base_url)
    await register(client, account, "old.example.com")
    with pytest.raises(DarajaError, match="already registered") as refused:
        await register(client, account)
    assert refused.value.code == code
    assert daraja.sim.c2b_urls["174379"]["ConfirmationURL"].startswith("https://old.example.com/")
