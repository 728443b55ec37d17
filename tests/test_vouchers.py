from portal import vouchers
from portal.vouchers import ALPHABET, CODE_LENGTH, new_code, normalize_code, shown


def test_codes_use_no_characters_that_look_alike():
    assert not set("01OIL") & set(ALPHABET)
    codes = {new_code() for _ in range(200)}
    assert len(codes) == 200
    assert all(len(code) == CODE_LENGTH and set(code) <= set(ALPHABET) for code in codes)


def test_a_code_is_found_however_it_was_typed():
    code = new_code()
    assert normalize_code(shown(code)) == code
    assert normalize_code(" " + shown(code).lower().replace("-", " - ") + " ") == code


def test_only_batch_names_the_portal_makes_are_looked_up():
    assert vouchers.is_batch("0a1b2c3d")
    assert not vouchers.is_batch("0A1B2C3D")
    assert not vouchers.is_batch("../../x")
    assert not vouchers.is_batch("0a1b2c3d0")
