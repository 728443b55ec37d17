import pytest

from portal.i18n import say
from portal.phones import PhoneError, normalize


@pytest.mark.parametrize(
    "typed",
    ["0712 345 678", "0712345678", "+254 712 345 678", "+254712345678", "254712345678", "712345678",
     "0712-345-678", " (0712) 345.678 "],
)  # fmt: skip
def test_accepts_safaricom_numbers_as_people_type_them(typed):
    assert normalize(typed) == "254712345678"


@pytest.mark.parametrize("typed", ["0112 345 678", "+254 112 345 678", "254112345678", "112345678"])
def test_accepts_01_prefixed_numbers(typed):
    assert normalize(typed) == "254112345678"


@pytest.mark.parametrize(
    ("typed", "reason", "values", "says"),
    [
        ("", "phone.empty", {}, "Enter your M-Pesa phone number"),
        ("0712 34S 678", "phone.not_digits", {}, "only digits"),
        ("071234567", "phone.too_short", {"count": 1}, "is 1 digit short"),
        ("+2547123456", "phone.too_short", {"count": 2}, "is 2 digits short"),
        ("07123456789", "phone.too_long", {"count": 1}, "has 1 digit too many"),
        ("25471234567890", "phone.too_long", {"count": 2}, "has 2 digits too many"),
        ("0212 345 678", "phone.bad_prefix", {}, "start with 07 or 01"),
        ("+1 202 555 0101", "phone.not_kenyan", {}, "Use a Kenyan M-Pesa number"),
        # Full-width digits pass str.isdigit(), yet are no phone number.
        ("0712\uff13\uff14\uff15678", "phone.not_digits", {}, "only digits"),
    ],
)
def test_explains_what_is_wrong_in_english_and_swahili(typed, reason, values, says):
    with pytest.raises(PhoneError) as caught:
        normalize(typed)
    assert (caught.value.reason, caught.value.values) == (reason, values)
    english = say("en", reason, **values)
    swahili = say("sw", reason, **values)
    assert says in english
    assert swahili and swahili != english


def test_a_missing_digit_is_counted_in_swahili_too():
    with pytest.raises(PhoneError) as caught:
        normalize("+2547123456")
    assert say("sw", caught.value.reason, **caught.value.values) == (
        "Nambari hiyo inakosa tarakimu 2: nambari ya simu ya Kenya ni kama 0712 345 678."
    )
