from string import Formatter

import pytest

from portal.i18n import LANGUAGES, language, say
from portal.i18n.catalogue import CATALOGUE, ENGLISH, SWAHILI
from portal.mpesa import result_codes


def placeholders(text: str | tuple[str, ...]) -> set[str]:
    forms = text if isinstance(text, tuple) else (text,)
    return {name for form in forms for _, name, _, _ in Formatter().parse(form) if name is not None}


def test_both_languages_have_exactly_the_same_keys():
    assert set(ENGLISH) == set(SWAHILI)
    assert set(CATALOGUE) == set(LANGUAGES) == {"en", "sw"}


@pytest.mark.parametrize("key", sorted(ENGLISH))
def test_a_translation_fills_in_the_same_values_as_the_english(key):
    assert placeholders(ENGLISH[key]) == placeholders(SWAHILI.get(key, ""))


@pytest.mark.parametrize("key", sorted(ENGLISH))
def test_a_text_with_a_singular_and_a_plural_is_told_a_count(key):
    for text in (ENGLISH[key], SWAHILI[key]):
        if isinstance(text, tuple):
            assert len(text) == 2 and placeholders(text) >= {"count"}


def test_every_message_a_result_code_names_is_in_the_catalogue_in_both_languages():
    outcomes = [result_codes.describe(code) for code in result_codes.known_codes()]
    outcomes.append(result_codes.describe("a code nobody has seen"))
    for outcome in outcomes:
        assert say("en", outcome.message) != say("sw", outcome.message), outcome.code


def test_say_fills_in_the_values():
    assert say("en", "till_how", till="123456") == "Lipa na M-Pesa, Buy Goods, till 123456"
    assert say("sw", "paybill_how", shortcode="600000", account="WIFI") == (
        "Lipa na M-Pesa, Pay Bill 600000, akaunti WIFI"
    )


def test_english_counts_one_thing_in_the_singular_and_more_in_the_plural():
    assert say("en", "unit.hour", count=1) == "1 hour"
    assert say("en", "unit.hour", count=2) == "2 hours"
    assert say("sw", "unit.hour", count=2) == "saa 2"


@pytest.mark.parametrize(("requested", "chosen"), [("sw", "sw"), ("en", "en"), (None, "en"), ("fr", "en")])
def test_an_unknown_language_falls_back_to_english(requested, chosen):
    assert language(requested) == chosen
