"""Keeps secrets out of text: every API key this process uses is registered, and `redact()` masks it.

Used where text leaves the connector: API error messages (an API may echo a request), the CLIs' final
line, and a logging filter on the CLIs' handler.
"""

import logging
import threading

MASK = "***"
# Shorter values would mask ordinary words; a real REST API key is 40 characters.
MIN_SECRET_LENGTH = 8

_lock = threading.Lock()
_secrets: set[str] = set()


def register_secret(value: str) -> None:
    value = str(value)
    if len(value) >= MIN_SECRET_LENGTH:
        with _lock:
            _secrets.update({value, value.strip()})


def redact(text: str) -> str:
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class RedactingFilter(logging.Filter):
    """Masks registered secrets in a record's final message (arguments merged in) before it is emitted."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if (
            record.exc_info
            and record.exc_info[1] is not None
            and redact(str(record.exc_info[1])) != str(record.exc_info[1])
        ):
            record.exc_info, record.exc_text = None, None  # a traceback that would show the key is dropped
        return True
