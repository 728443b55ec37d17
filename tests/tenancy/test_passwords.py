from portal.tenancy.passwords import hash_password, password_problem, verify_password


def test_hash_is_argon2id_salted_and_verifies_only_the_right_password():
    encoded = hash_password("correct horse battery")
    assert encoded.startswith("$argon2id$")
    assert "correct" not in encoded
    assert hash_password("correct horse battery") != encoded
    assert verify_password("correct horse battery", encoded)
    assert not verify_password("correct horse batterY", encoded)


def test_garbage_hash_never_verifies():
    assert not verify_password("anything", "not-a-phc-string")


def test_short_passwords_are_refused():
    assert password_problem("short") == "a password needs at least 10 characters"
    assert password_problem("long enough pw") is None
