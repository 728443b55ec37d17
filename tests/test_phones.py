import pytest

from portal.phones import PhoneError, mask, normalize


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
    ("typed", "says"),
    [
        ("", "Enter your M-Pesa phone number"),
        ("0712 34S 678", "only digits"),
        ("071234567", "is 1 digit short"),
        ("+2547123456", "is 2 digits short"),
        ("07123456789", "has 1 digit too many"),
        ("25471234567890", "has 2 digits too many"),
        ("0212 345 678", "start with 07 or 01"),
        ("+1 202 555 0101", "Use a Kenyan M-Pesa number"),
        ("0712\uff13\uff14\uff15678", "only digits"),  # full-width digits pass str.isdigit()
    ],
)
def test_explains_what_is_wrong_in_english_and_swahili(typed, says):
    with pytest.raises(PhoneError) as caught:
        normalize(typed)
    assert says in caught.value.english
    assert caught.value.swahili and caught.value.swahili != caught.value.english


def test_mask_keeps_only_what_the_owner_recognises():
    assert mask("254712345678") == "0712 ••• 678"
    assert "345" not in mask("254712345678")
