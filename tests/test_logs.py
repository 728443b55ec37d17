import json
import logging
import sys

from portal.logs import JsonFormatter, TextFormatter


def record(message: str, *, fields: dict | None = None, failing: bool = False) -> logging.LogRecord:
    exc_info = None
    if failing:
        try:
            raise ValueError("router said no\nsecond line of the reason")
        except ValueError:
            exc_info = sys.exc_info()
    event = logging.LogRecord("portal.jobs", logging.WARNING, __file__, 1, message, (), exc_info)
    if fields is not None:
        event.fields = fields
    return event


def test_json_log_is_one_line_of_json_with_the_event_fields():
    event = record("grant failed\nfor device", fields={"router": "lobby", "attempt": 3})
    line = JsonFormatter().format(event)
    assert "\n" not in line
    event = json.loads(line)
    assert event["level"] == "warning" and event["logger"] == "portal.jobs"
    assert event["message"] == "grant failed\nfor device"
    assert (event["router"], event["attempt"]) == ("lobby", 3)
    assert event["time"].endswith("+00:00")


def test_an_exception_stays_on_the_events_line():
    line = JsonFormatter().format(record("grant failed", failing=True))
    assert "\n" not in line
    event = json.loads(line)
    assert event["error"] == "ValueError: router said no\nsecond line of the reason"
    assert event["traceback"].startswith("Traceback") and "raise ValueError" in event["traceback"]

    text = TextFormatter().format(record("grant failed", fields={"router": "lobby"}, failing=True))
    assert "\n" not in text
    assert "grant failed router=lobby | Traceback" in text and "ValueError: router said no" in text
