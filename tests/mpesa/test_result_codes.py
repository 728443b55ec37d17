import pytest

from portal.i18n import say
from portal.mpesa import result_codes as codes

# Every ResultCode in reference/daraja.md §6.
REFERENCE_CODES = [
    "0", "1", "2", "3", "4", "8", "17", "26", "1001", "1019", "1025", "1031", "1032", "1036", "1037",
    "1101", "1102", "2001", "2026", "2028", "4999", "8006", "9999", "SFC_IC0003", "E3008",
]  # fmt: skip
PORTAL_CODES = [
    codes.PUSH_LOCKED, codes.PUSH_BUSY, codes.PUSH_REFUSED, codes.PUSH_UNREACHABLE, codes.PUSH_BAD_NUMBER,
    codes.EXPIRED, codes.NOT_PAID, codes.PAGE_CANCELLED,
]  # fmt: skip
CATEGORIES = {
    codes.PAID, codes.PENDING, codes.CANCELLED, codes.INSUFFICIENT_FUNDS, codes.WRONG_PIN,
    codes.UNREACHABLE, codes.BUSY, codes.CONGESTED, codes.DECLINED, codes.SYSTEM,
}  # fmt: skip


@pytest.mark.parametrize("code", REFERENCE_CODES)
def test_every_reference_code_has_a_category_and_a_message(code):
    outcome = codes.describe(code)
    assert outcome.known and outcome.category in CATEGORIES
    assert outcome.message.startswith("result.")


def test_the_table_holds_the_reference_codes_and_the_portals_own():
    assert set(codes.known_codes()) == set(REFERENCE_CODES) | set(PORTAL_CODES)


def test_the_codes_that_matter_most_land_in_the_right_category():
    assert codes.describe(0).category == codes.PAID
    assert codes.describe("4999").category == codes.PENDING
    assert codes.describe(1032).category == codes.CANCELLED
    assert codes.describe(1).category == codes.INSUFFICIENT_FUNDS
    assert codes.describe(2001).category == codes.WRONG_PIN
    assert codes.describe(1037).category == codes.UNREACHABLE
    assert codes.describe(17).category == codes.BUSY
    assert codes.describe("2028").category == codes.SYSTEM


def test_retry_is_offered_only_when_asking_again_can_work():
    assert codes.describe(1032).retry and codes.describe(1037).retry and codes.describe(2001).retry
    assert not codes.describe(0).retry  # already paid
    assert not codes.describe(2028).retry  # the account's set-up is wrong: the attendant must fix it
    assert not codes.describe(8006).retry  # the PIN is locked until the payer calls Safaricom


def test_int_and_text_codes_are_the_same_code():
    assert codes.describe(1032) == codes.describe("1032") == codes.describe(" 1032 ")


@pytest.mark.parametrize("spelt", [0, 0.0, "0", "0.0", "00", " 0 ", "0E+2"])
def test_a_code_is_read_as_a_number_however_it_is_spelt(spelt):
    assert codes.normalize(spelt) == "0" and codes.describe(spelt).category == codes.PAID


@pytest.mark.parametrize("text", ["E3008", "SFC_IC0003", "0.5", "NaN", "1e999999", "push.locked"])
def test_a_code_that_is_not_a_whole_number_stays_the_text_it_came_as(text):
    assert codes.normalize(text) == text


def test_an_unknown_code_is_a_failure_that_may_be_retried():
    outcome = codes.describe("XYZ123")
    assert not outcome.known and outcome.category == codes.SYSTEM and outcome.retry
    assert outcome.code == "XYZ123"
    assert outcome.message == codes.describe(9999).message  # "M-Pesa could not process this payment…"


@pytest.mark.parametrize("code", PORTAL_CODES)
def test_the_portals_own_codes_are_described_too(code):
    assert codes.is_known(code) and codes.describe(code).known


def test_messages_promise_no_money_was_taken_only_where_none_was():
    for code in REFERENCE_CODES + PORTAL_CODES:
        outcome = codes.describe(code)
        if "No money was taken" in say("en", outcome.message):
            assert outcome.category != codes.PAID
            assert "Hakuna pesa iliyotolewa" in say("sw", outcome.message)


def test_only_the_payers_own_failures_are_kept_from_the_owner():
    payer = set(codes.payer_codes())
    assert {"1", "17", "1001", "1019", "1032", "1037", "2001", "8006", codes.PUSH_LOCKED} <= payer
    # The set-up, M-Pesa being overloaded, Daraja refusing us: the owner should see these.
    assert not {"2", "26", "2028", "SFC_IC0003", "9999", codes.PUSH_REFUSED, codes.PUSH_BUSY} & payer


def test_a_number_m_pesa_refuses_offers_another_number_and_never_blames_the_set_up():
    outcome = codes.describe(codes.PUSH_BAD_NUMBER)
    assert outcome.category == codes.DECLINED and not outcome.retry  # the same number fails again
    assert codes.PUSH_BAD_NUMBER in codes.payer_codes()  # nothing for the owner to fix
    assert "another" in say("en", outcome.message) and "attendant" not in say("en", outcome.message)


def test_m_pesa_busy_says_no_money_was_taken_and_to_try_again_in_a_minute():
    said = say("en", codes.describe(codes.PUSH_BUSY).message)
    assert said == "M-Pesa is busy. No money was taken. Try again in a minute."


@pytest.mark.parametrize("code", codes.known_codes())
def test_every_known_code_means_something_in_plain_words_to_the_owner(code):
    meaning = codes.describe(code).meaning
    assert meaning and code not in meaning and "result." not in meaning


def test_an_unknown_code_is_named_as_one_rather_than_guessed_at():
    assert codes.describe("7777").meaning == "M-Pesa gave a code portal does not know (7777)"
