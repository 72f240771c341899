"""What the command-line tools share: a client from dlt config, logging, and one-line errors."""

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dlt.common.configuration import resolve_configuration
from dlt.common.configuration.exceptions import ConfigFieldMissingException, ConfigurationException
from requests.exceptions import RequestException

from pipelines.run_lock import PipelineBusyError
from sources.cometchat import CometChatClient, CometChatCredentials, cometchat_source
from sources.cometchat.errors import (
    CometChatApiError,
    CometChatAuthError,
    CometChatConfigError,
    CometChatError,
    CometChatUnreachableError,
    CometChatUnreadableError,
)
from sources.cometchat.redaction import RedactingFilter, redact

DEMO_DATA = {"users": 120, "groups": 15, "members_per_group": 12, "messages": 20_000, "seed": 7}
DEMO_REQUESTS_PER_MINUTE = 20_000  # the emulator plays a paid plan, so the demo is not held back
EXIT_FAILED = 1
EXIT_UNUSABLE_INPUT = 2
DEBUG_ENV = "COMETCHAT_DEBUG"
MISSING_CONFIG_HELP = (
    "set app_id, region and api_key under [sources.cometchat.credentials] in .dlt/secrets.toml (see "
    ".dlt/secrets.toml.example), or the environment variables SOURCES__COMETCHAT__CREDENTIALS__APP_ID, "
    "SOURCES__COMETCHAT__CREDENTIALS__REGION and SOURCES__COMETCHAT__CREDENTIALS__API_KEY"
)


def configured_client(**overrides: Any) -> CometChatClient:
    """A client from the very settings `cometchat_source()` resolves: `[sources.cometchat]` in .dlt/*.toml or
    SOURCES__COMETCHAT__* variables; `overrides` (for example `requests_per_minute`) win."""
    source = cometchat_source.ref
    config = resolve_configuration(
        source.SPEC(), sections=("sources", source.section, source.name), explicit_value=overrides
    )
    return CometChatClient(
        config.credentials,
        requests_per_minute=config.requests_per_minute,
        max_workers=config.max_workers,
        request_deadline_seconds=config.request_deadline_seconds,
    )


@contextmanager
def client_for(demo: bool, requests_per_minute: float | None) -> Iterator[CometChatClient]:
    """The configured account's client; with `demo`, a client of a seeded emulator started for the block."""
    if not demo:
        # Only a budget given on the command line overrides the configured one.
        override = {"requests_per_minute": requests_per_minute} if requests_per_minute else {}
        yield configured_client(**override)
        return
    from sources.cometchat_emulator import Emulator, EmulatorConfig

    print(f"Starting the CometChat emulator with seeded demo data: {DEMO_DATA}", file=sys.stderr)
    with Emulator(EmulatorConfig(**DEMO_DATA)) as emulator:
        yield configured_client(
            credentials=CometChatCredentials(
                app_id=emulator.app_id, api_key=emulator.api_key, base_url=emulator.base_url
            ),
            requests_per_minute=requests_per_minute or DEMO_REQUESTS_PER_MINUTE,
        )


def configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    for name in ("sources", "pipelines"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)
    handler.addFilter(RedactingFilter())


@contextmanager
def exit_on_known_errors() -> Iterator[None]:
    """Turns a configuration, credential or API failure into one line on stderr and an exit status."""
    try:
        yield
    except Exception as error:
        cause = root_cause(error)
        status, line = _describe(cause)
        if os.environ.get(DEBUG_ENV):
            raise
        print(redact(line), file=sys.stderr)
        raise SystemExit(status) from None


def root_cause(error: BaseException) -> BaseException:
    """The connector's own error behind dlt's wrappers (PipelineStepFailed, ResourceExtractionError...)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, CometChatError | ConfigurationException | RequestException):
            return seen
        seen = seen.__cause__ or seen.__context__
    return error


def _describe(error: BaseException) -> tuple[int, str]:
    if isinstance(error, CometChatAuthError):
        return EXIT_UNUSABLE_INPUT, f"CometChat rejected the credentials ({error.code}): {error.api_message}"
    if isinstance(error, PipelineBusyError):
        return EXIT_UNUSABLE_INPUT, str(error)
    if isinstance(error, ConfigFieldMissingException):
        missing = ", ".join(error.fields)
        return (
            EXIT_UNUSABLE_INPUT,
            f"Configuration missing ({missing} of {error.spec_name}): {MISSING_CONFIG_HELP}",
        )
    if isinstance(error, CometChatConfigError | ConfigurationException):
        return EXIT_UNUSABLE_INPUT, f"Configuration error: {error}"
    if isinstance(error, CometChatApiError | CometChatUnreachableError | CometChatUnreadableError):
        return EXIT_FAILED, str(error)  # each names its cause and the endpoint
    if isinstance(error, CometChatError):
        return EXIT_FAILED, f"CometChat error: {error}"
    if isinstance(error, RequestException):
        return EXIT_FAILED, f"CometChat request failed: {type(error).__name__}: {error}"
    return EXIT_FAILED, f"Failed: {type(error).__name__}: {error} (set {DEBUG_ENV}=1 for the traceback)"
