"""CSV files an owner opens in Excel or LibreOffice: nothing in them runs, and no value changes on the way."""

BOM = "\ufeff"  # without it Excel reads a CSV in the computer's own code page, and "Wanjikũ" breaks


def cell(text: str) -> str:
    """A spreadsheet runs a cell that starts with = + - @ as a formula; a leading ' keeps it text."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def text_cell(text: str) -> str:
    """A value that only looks like a number (a phone number would lose itself to 2.54712E+11): a leading '
    keeps it text. Never `="…"`, which is a formula: no cell written here starts with =."""
    return "'" + text if text else ""
