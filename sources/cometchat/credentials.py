"""Typed CometChat credentials, resolved by dlt from `[sources.cometchat.credentials]` or environment variables."""

import re
from typing import ClassVar
from urllib.parse import urlsplit

from dlt.common.configuration import configspec
from dlt.common.configuration.specs import CredentialsConfiguration
from dlt.common.typing import TSecretStrValue

from .errors import CometChatConfigError
from .loopback import is_loopback
from .settings import BASE_URL_TEMPLATE, DEFAULT_REGION, PLACEHOLDER_PREFIXES, REGIONS

APP_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,100}")


@configspec
class CometChatCredentials(CredentialsConfiguration):
    """The app id, region and REST API key (`fullAccess` scope) of one CometChat app.

    `base_url` overrides the regional host (`https://{app_id}.api-{region}.cometchat.io/v3`).
    """

    app_id: str = None
    api_key: TSecretStrValue = None
    region: str = DEFAULT_REGION
    base_url: str | None = None

    __config_gen_annotations__: ClassVar[list[str]] = ["app_id", "api_key", "region"]

    def __post_init__(self) -> None:
        # Built in code with its values: checked at once. dlt builds an empty one and fills it from config;
        # that one is checked when it is resolved (on_resolved).
        if self.app_id is not None and self.api_key is not None:
            check_credentials(self)

    def on_resolved(self) -> None:
        check_credentials(self)

    @property
    def api_base_url(self) -> str:
        url = self.base_url or BASE_URL_TEMPLATE.format(app_id=self.app_id, region=self.region)
        return url.rstrip("/")

    def __repr__(self) -> str:
        # Never show the key, even in a debugger or a dlt trace.
        return f"CometChatCredentials(app_id={self.app_id!r}, region={self.region!r}, base_url={self.base_url!r})"


def check_credentials(credentials: CometChatCredentials) -> None:
    """Every check of a set of credentials, before any request is sent."""
    check_app_id(credentials.app_id)
    check_api_key(credentials.api_key)
    check_region(credentials.region)
    if credentials.base_url:
        check_base_url(credentials.base_url)


def check_app_id(app_id: str | None) -> None:
    """The app id becomes part of the API's host name: letters, digits, `-` and `_` only."""
    if not app_id or not str(app_id).strip():
        raise CometChatConfigError("sources.cometchat.credentials.app_id is empty")
    check_not_placeholder("app_id", str(app_id))
    if not APP_ID_PATTERN.fullmatch(str(app_id)):
        raise CometChatConfigError(
            "sources.cometchat.credentials.app_id may hold only letters, digits, '-' and '_' (it is part of the "
            f"API's host name), not {str(app_id)[:64]!r}"
        )


def check_api_key(key: str | None) -> None:
    """A usable key, or an error that names the problem and never the key (not even part of it)."""
    key = str(key or "")
    if not key.strip():
        raise CometChatConfigError("sources.cometchat.credentials.api_key is empty")
    check_not_placeholder("api_key", key)
    if key != key.strip():
        raise CometChatConfigError(
            "sources.cometchat.credentials.api_key has leading or trailing whitespace (a space or line break, "
            "often a copy-paste slip): remove it; the key itself is not shown"
        )
    if any(not char.isprintable() or char.isspace() for char in key) or not key.isascii():
        raise CometChatConfigError(
            "sources.cometchat.credentials.api_key contains spaces, control or non-ASCII characters, which an "
            "HTTP header cannot carry: copy it again from the CometChat dashboard; the key itself is not shown"
        )


def check_not_placeholder(field: str, value: str) -> None:
    """Example values (`your-...` of .dlt/secrets.toml.example, `<configure me>` of `dlt init`) fail at once."""
    if str(value).strip().lower().startswith(PLACEHOLDER_PREFIXES):
        raise CometChatConfigError(
            f"sources.cometchat.credentials.{field} still holds an example value (from "
            ".dlt/secrets.toml.example or `dlt init`); put your app's value in .dlt/secrets.toml"
        )


def check_region(region: str) -> None:
    if region not in REGIONS:
        raise CometChatConfigError(
            f"sources.cometchat.credentials.region must be one of {', '.join(REGIONS)}, not {region!r}"
        )


def check_base_url(url: str) -> None:
    """An http(s) URL without credentials or a query; https unless it points at loopback.

    Errors show the URL without its user, password, query and fragment, so no secret can leak through them.
    """
    try:
        parts = urlsplit(url)
        hostname, _port = parts.hostname, parts.port
    except ValueError:
        raise CometChatConfigError(
            f"sources.cometchat.credentials.base_url is not a URL: {safe_url(url)!r}"
        ) from None
    shown = safe_url(url)
    if parts.scheme not in ("http", "https") or not hostname:
        raise CometChatConfigError(f"sources.cometchat.credentials.base_url is not a URL: {shown!r}")
    if parts.username is not None or parts.password is not None:
        raise CometChatConfigError(
            f"sources.cometchat.credentials.base_url must not carry a user name or password ({shown!r} without "
            "them): the API authenticates with api_key alone"
        )
    if parts.query or parts.fragment:
        raise CometChatConfigError(
            f"sources.cometchat.credentials.base_url must not carry a query string or fragment ({shown!r} "
            "without it)"
        )
    if parts.scheme == "http" and not is_loopback(hostname):
        raise CometChatConfigError(
            "sources.cometchat.credentials.base_url must use https (plain http is allowed only on loopback): "
            f"{shown!r}"
        )


def safe_url(url: str) -> str:
    """The URL with any user, password, query and fragment dropped (for messages and logs)."""
    try:
        parts = urlsplit(str(url))
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparsable URL>"
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}{port}{parts.path}" if parts.scheme else "<not a URL>"
