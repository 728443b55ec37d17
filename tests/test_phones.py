import pytest

from portal.i18n import say
from portal.phones import NETWORKS, PhoneError, normalize


@pytest.mark.parametrize(
    "typed",
    ["0712 345 678", "0712345678", "+254 712 345 678", "+254712345678", "254712345678", "712345678",
     "0712-345-678", " (0712) 345.678 ", "+254 (0) 712 345 678", "254 0712 345 678"],
)  # fmt: skip
def test_accepts_safaricom_numbers_as_people_type_them(typed):
    assert normalize(typed) == "254712345678"


@pytest.mark.parametrize("typed", ["0112 345 678", "+254 112 345 678", "254112345678", "112345678"])
def test_accepts_01_prefixed_numbers(typed):
    assert normalize(typed) == "254112345678"


@pytest.mark.parametrize(
    "typed",
    ["0700 000 001", "0729 999 999", "0740 123 456", "0748 123 456", "0757 123 456", "0769 123 456",
     "0790 123 456", "0799 123 456", "0110 123 456", "0115 123 456"],
)  # fmt: skip
def test_accepts_every_safaricom_range(typed):
    assert normalize(typed).startswith("254")


@pytest.mark.parametrize(
    ("typed", "network"),
    [("0733 123 456", "Airtel"), ("0739 123 456", "Airtel"), ("0750 123 456", "Airtel"),
     ("0756 123 456", "Airtel"), ("0780 123 456", "Airtel"), ("0789 123 456", "Airtel"),
     ("0100 123 456", "Airtel"), ("+254 101 123 456", "Airtel"), ("0102 123 456", "Airtel"),
     ("0770 123 456", "Telkom"), ("0779 123 456", "Telkom"), ("0763 123 456", "Equitel")],
)  # fmt: skip
def test_refuses_other_networks_at_once_saying_which_and_why(typed, network):
    with pytest.raises(PhoneError) as caught:
        normalize(typed)
    assert (caught.value.reason, caught.value.values) == ("phone.other_network", {"network": network})
    assert say("en", "phone.other_network", network=network) == (
        f"{network} numbers can't get the M-Pesa prompt: it reaches Safaricom numbers only. Use a"
        " Safaricom M-Pesa number, like 0712 345 678."
    )
    assert say("sw", "phone.other_network", network=network).startswith(f"Nambari za {network} haziwezi")


def test_only_safaricom_and_networks_known_by_name_are_in_the_one_table():
    assert set(NETWORKS.values()) == {"Safaricom", "Airtel", "Telkom", "Equitel", "Faiba"}
    # No range is two networks': a longer prefix never sits inside a shorter one.
    assert not [p for p in NETWORKS if len(p) == 3 and p[:2] in NETWORKS]


@pytest.mark.parametrize(
    ("typed", "reason", "values", "says"),
    [
        ("", "phone.empty", {}, "Enter your M-Pesa phone number"),
        ("0712 34S 678", "phone.not_digits", {}, "only digits"),
        ("071234567", "phone.too_short", {"count": 1}, "is 1 digit short"),
        ("+2547123456", "phone.too_short", {"count": 2}, "is 2 digits short"),
        ("07123456789", "phone.too_long", {"count": 1}, "has 1 digit too many"),
        ("25471234567890", "phone.too_long", {"count": 2}, "has 2 digits too many"),
        ("0212 345 678", "phone.bad_prefix", {}, "That is not a Safaricom number"),
        ("0744 123 456", "phone.bad_prefix", {}, "the M-Pesa prompt reaches Safaricom numbers only"),
        ("7" * 5000, "phone.not_a_number", {}, "That is not a phone number"),
        ("0712 345 678 0712 345 678", "phone.not_a_number", {}, "has 10 digits"),
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
