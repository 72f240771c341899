"""Typed CometChat credentials: app id, region, REST API key and an optional base URL."""

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from dlt.common.typing import TSecretStrValue

from .errors import CometChatConfigError
from .settings import BASE_URL_TEMPLATE, REGIONS

APP_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,100}")


@dataclass(frozen=True)
class CometChatCredentials:
    app_id: str
    api_key: TSecretStrValue
    region: str = "us"
    base_url: str | None = None

    def __post_init__(self) -> None:
        if not self.app_id or not str(self.app_id).strip():
            raise CometChatConfigError("sources.cometchat.app_id is empty")
        check_app_id(str(self.app_id))
        check_api_key(str(self.api_key or ""))
        if self.region not in REGIONS:
            raise CometChatConfigError(
                f"sources.cometchat.region must be one of {', '.join(REGIONS)}, not {self.region!r}"
            )
        if self.base_url:
            check_base_url(self.base_url)

    @property
    def api_base_url(self) -> str:
        url = self.base_url or BASE_URL_TEMPLATE.format(app_id=self.app_id, region=self.region)
        return url.rstrip("/")

    def __repr__(self) -> str:
        # Never show the key, even in a debugger or a dlt trace.
        return f"CometChatCredentials(app_id={self.app_id!r}, region={self.region!r}, base_url={self.base_url!r})"


def check_app_id(app_id: str) -> None:
    """The app id becomes part of the API's host name: letters, digits, `-` and `_` only."""
    if not APP_ID_PATTERN.fullmatch(app_id):
        raise CometChatConfigError(
            "sources.cometchat.app_id may hold only letters, digits, '-' and '_' (it is part of the API's "
            f"host name), not {app_id[:64]!r}"
        )


def check_api_key(key: str) -> None:
    """A usable key, or an error that names the problem and never the key (not even part of it)."""
    if not key.strip():
        raise CometChatConfigError("sources.cometchat.api_key is empty")
    if key != key.strip():
        raise CometChatConfigError(
            "sources.cometchat.api_key has leading or trailing whitespace (a space or line break, often a "
            "copy-paste slip): remove it; the key itself is not shown"
        )
    if any(not char.isprintable() or char.isspace() for char in key) or not key.isascii():
        raise CometChatConfigError(
            "sources.cometchat.api_key contains spaces, control or non-ASCII characters, which an HTTP header "
            "cannot carry: copy it again from the CometChat dashboard; the key itself is not shown"
        )


def check_base_url(url: str) -> None:
    """An http(s) URL without credentials or a query; https unless it points at loopback.

    Errors show the URL without its user, password, query and fragment, so no secret can leak through them.
    """
    try:
        parts = urlsplit(url)
        hostname, _port = parts.hostname, parts.port
    except ValueError:
        raise CometChatConfigError(f"sources.cometchat.base_url is not a URL: {safe_url(url)!r}") from None
    shown = safe_url(url)
    if parts.scheme not in ("http", "https") or not hostname:
        raise CometChatConfigError(f"sources.cometchat.base_url is not a URL: {shown!r}")
    if parts.username is not None or parts.password is not None:
        raise CometChatConfigError(
            f"sources.cometchat.base_url must not carry a user name or password ({shown!r} without them): "
            "the API authenticates with api_key alone"
        )
    if parts.query or parts.fragment:
        raise CometChatConfigError(
            f"sources.cometchat.base_url must not carry a query string or fragment ({shown!r} without it)"
        )
    if parts.scheme == "http" and not is_loopback(hostname):
        raise CometChatConfigError(
            f"sources.cometchat.base_url must use https (plain http is allowed only on loopback): {shown!r}"
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


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
