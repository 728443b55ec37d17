import pytest

from portal.typed_numbers import is_digits, whole


@pytest.mark.parametrize("typed", ["²", "①", "\uff11\uff12", "٣", "1.5", "-1", "", " ", "1e3"])
def test_only_ascii_digits_make_a_number(typed):
    assert not is_digits(typed)
    assert whole(typed) is None


def test_a_whole_number_is_read_within_its_length():
    assert whole(" 42 ") == 42
    assert whole("65535", 5) == 65535
    assert whole("123456", 5) is None
