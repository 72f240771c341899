"""The CLIs' log handler and final line mask every registered key, arguments and exceptions included."""

import io
import logging

from sources.cometchat.redaction import MASK, RedactingFilter, redact, register_secret

KEY = "feedfacecafebeef0123456789abcdef01234567"


def test_registered_keys_are_masked_in_text():
    register_secret(KEY)
    assert redact(f"GET /users apikey={KEY}") == f"GET /users apikey={MASK}"
    assert redact("short words stay") == "short words stay"


def test_log_records_are_masked_message_arguments_and_traceback_alike():
    register_secret(KEY)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("sources.test_redaction")
    logger.addHandler(handler)
    try:
        logger.warning("header was %s", KEY)
        try:
            raise ValueError(f"bad key {KEY}")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert KEY not in output
    assert f"header was {MASK}" in output
