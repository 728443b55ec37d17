"""Each engine's schema as an append-only list of migrations (`sqlite.py`); the store applies them."""
