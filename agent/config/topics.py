"""What may go into an MQTT topic: the gateway id, device ids, the topic prefix.

Full-string patterns (fullmatch: `re.match(r"...$")` lets a trailing newline through,
and the broker then drops every CONNECT as a protocol error).
"""

import re

# one topic level: no '+', '#', '/', NUL, control characters or whitespace
TOPIC_LEVEL = re.compile(r"[^+#/\x00-\x20\x7f-\x9f\s]+")
TOPIC_PREFIX = re.compile(r"[^+#/\x00-\x20\x7f-\x9f\s]+(?:/[^+#/\x00-\x20\x7f-\x9f\s]+)*")


def check_prefix(cls, value: str) -> str:
    """A pydantic validator: a topic prefix such as city/lighting."""
    if not TOPIC_PREFIX.fullmatch(value):
        raise ValueError(f"{value!r}: topic levels separated by '/', none empty, without "
                         "'+', '#', NUL, control characters or spaces, e.g. city/lighting")
    return value


def check_level(cls, value: str | None) -> str | None:
    """A pydantic validator: one topic level (or a client id), None allowed."""
    if value is not None and not TOPIC_LEVEL.fullmatch(value):
        raise ValueError(f"{value!r}: no '+', '#', '/', NUL, control characters or spaces")
    return value
