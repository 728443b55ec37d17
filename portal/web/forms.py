"""Posted forms as text: every form handler, the admin's and the customer pages', reads them this way."""

from typing import Any

from litestar.datastructures import UploadFile


def form_fields(form: Any) -> dict[str, str]:
    """The posted fields as text, to read and to show again when something needs fixing. A file posted
    where text belongs is simply not there, and is closed at once, as nothing will read it (Litestar
    leaves uploads open)."""
    for value in form.values():
        if isinstance(value, UploadFile):
            value.file.close()
    return {key: value for key, value in form.items() if isinstance(value, str)}
