"""What customers read, in English or Swahili: `say(lang, key, **values)` from the one catalogue.

Customers pick a language with a link; it travels in the query string and in forms (a cookie may not
survive the phone's captive-portal window). Owners read English. How numbers, times and phone numbers
look is formats.py's.
"""

from .catalogue import CATALOGUE

LANGUAGES = tuple(CATALOGUE)  # ("en", "sw")


def language(requested: str | None) -> str:
    """The language asked for, or English for anything else: 'sw' → 'sw'; None, 'fr' → 'en'."""
    return requested if requested in LANGUAGES else "en"


def say(lang: str, key: str, **values: object) -> str:
    """say('en', 'phone.too_short', count=2) → 'That number is 2 digits short: …'."""
    text = CATALOGUE[lang][key]
    if isinstance(text, tuple):
        one, many = text
        text = one if values["count"] == 1 else many
    return text.format(**values)
