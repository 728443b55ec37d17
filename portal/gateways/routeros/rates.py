"""RouterOS's way of writing a speed: a user profile's `rate-limit`, rx/tx from the router's side (so
upload/download of the device), in the notation owners type (gateways/base.py, `Speed`)."""

from ..base import Speed

NO_LIMIT = Speed(0, 0)


def rate_limit(speed: Speed | None, written: str = "") -> str:
    """A profile's `rate-limit` for `speed`; '' for no limit. `written` (what the router holds) when it
    already says that, since routers carry rates as their owners typed them (1M for 1M/1M, 1024k) and
    must not be rewritten for nothing."""
    wanted = speed or NO_LIMIT
    if meaning(written) == wanted:
        return written
    return "" if wanted == NO_LIMIT else wanted.notation()


def meaning(text: str) -> Speed | None:
    """What a plain rx[/tx] rate limit means; None for anything richer (bursts set by hand), which portal
    then writes over."""
    try:
        return Speed.parse(text) or NO_LIMIT
    except ValueError:
        return None
