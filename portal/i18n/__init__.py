"""What customers read, in English or Swahili: `say(lang, key, **values)` from the one catalogue.

Customers pick a language with a link; it travels in the query string and in forms (a cookie may not
survive the phone's captive-portal window), and is remembered in a cookie where one survives. The first
time, the phone's own languages (Accept-Language) choose. Owners read English. How numbers, times and
phone numbers look is formats.py's.
"""

from .catalogue import CATALOGUE

LANGUAGES = tuple(CATALOGUE)  # ("en", "sw")


def language(requested: str | None, remembered: str | None = None, accepted: str | None = None) -> str:
    """The language asked for (a link's); else the one remembered (the device's cookie); else the first
    of the phone's own (an Accept-Language header) that we speak; else English. 'sw' → 'sw';
    (None, None, 'sw-KE,en;q=0.8') → 'sw'; None, 'fr' → 'en'."""
    for choice in (requested, remembered, _first_spoken(accepted or "")):
        if choice in LANGUAGES:
            return choice
    return "en"


def _first_spoken(header: str) -> str | None:
    """'fr;q=0.9, sw-KE, en;q=0.5' → 'sw': the most preferred language we speak, by its q-value."""
    ranked = []
    for position, item in enumerate(header.split(",")):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, number = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(number)
                except ValueError:
                    quality = 0.0
        primary = tag.strip().split("-")[0].lower()
        if primary in LANGUAGES and quality > 0:
            ranked.append((-quality, position, primary))
    return min(ranked)[2] if ranked else None


def say(lang: str, key: str, **values: object) -> str:
    """say('en', 'phone.too_short', count=2) → 'That number is 2 digits short: …'."""
    text = CATALOGUE[lang][key]
    if isinstance(text, tuple):
        one, many = text
        text = one if values["count"] == 1 else many
    return text.format(**values)
