"""Whole numbers as people type them into forms and query strings.

`str.isdigit()` alone is not the test: it is true for '²' and other digits that `int()` refuses, and
for the digits of other scripts, which `int()` takes but nobody means in a price or a port.
"""


def is_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def whole(text: str, max_digits: int = 9) -> int | None:
    """`text` as a whole number of up to `max_digits` ASCII digits; None for anything else."""
    text = text.strip()
    return int(text) if is_digits(text) and len(text) <= max_digits else None
