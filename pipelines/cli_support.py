"""What the command-line tools share: a client from dlt config, logging, and one-line errors."""

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from dlt.common.configuration import with_config
from dlt.common.configuration.exceptions import ConfigurationException
from dlt.common.typing import TSecretStrValue
from requests.exceptions import RequestException

from sources.cometchat import MISSING_CREDENTIALS_HELP, CometChatClient, CometChatCredentials
from sources.cometchat.errors import (
    CometChatApiError,
    CometChatAuthError,
    CometChatConfigError,
    CometChatError,
    CometChatUnreachableError,
    CometChatUnreadableError,
)
from sources.cometchat.redaction import RedactingFilter, redact
from sources.cometchat.settings import (
    DEFAULT_REGION,
    DEFAULT_REQUESTS_PER_MINUTE,
    MAX_WORKERS,
    REQUEST_DEADLINE_SECONDS,
)

DEMO_DATA = {"users": 120, "groups": 15, "members_per_group": 12, "messages": 20_000, "seed": 7}
DEMO_REQUESTS_PER_MINUTE = 20_000  # the emulator plays a paid plan, so the demo is not held back
EXIT_FAILED = 1
EXIT_UNUSABLE_INPUT = 2
DEBUG_ENV = "COMETCHAT_DEBUG"


@with_config(sections=("sources", "cometchat"))
def configured_client(
    app_id: str | None = None,
    api_key: TSecretStrValue | None = None,
    region: str = DEFAULT_REGION,
    base_url: str | None = None,
    requests_per_minute: float = DEFAULT_REQUESTS_PER_MINUTE,
    max_workers: int = MAX_WORKERS,
    request_deadline_seconds: float = REQUEST_DEADLINE_SECONDS,
) -> CometChatClient:
    """A client from the `[sources.cometchat]` settings in .dlt/*.toml or SOURCES__COMETCHAT__* variables."""
    if not app_id or not api_key:
        raise CometChatConfigError(MISSING_CREDENTIALS_HELP)
    credentials = CometChatCredentials(app_id=app_id, api_key=api_key, region=region, base_url=base_url)
    return CometChatClient(
        credentials,
        requests_per_minute=requests_per_minute,
        max_workers=max_workers,
        request_deadline_seconds=request_deadline_seconds,
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
            app_id=emulator.app_id,
            api_key=emulator.api_key,
            base_url=emulator.base_url,
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
    if isinstance(error, CometChatConfigError | ConfigurationException):
        return EXIT_UNUSABLE_INPUT, f"Configuration error: {error}"
    if isinstance(error, CometChatApiError | CometChatUnreachableError | CometChatUnreadableError):
        return EXIT_FAILED, str(error)  # each names its cause and the endpoint
    if isinstance(error, CometChatError):
        return EXIT_FAILED, f"CometChat error: {error}"
    if isinstance(error, RequestException):
        return EXIT_FAILED, f"CometChat request failed: {type(error).__name__}: {error}"
    return EXIT_FAILED, f"Failed: {type(error).__name__}: {error} (set {DEBUG_ENV}=1 for the traceback)"
