"""Typed CometChat credentials: app id, region, REST API key and an optional base URL."""

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from dlt.common.typing import TSecretStrValue

from .errors import CometChatConfigError
from .settings import BASE_URL_TEMPLATE, REGIONS


@dataclass(frozen=True)
class CometChatCredentials:
    app_id: str
    api_key: TSecretStrValue
    region: str = "us"
    base_url: str | None = None

    def __post_init__(self) -> None:
        if not self.app_id or not str(self.app_id).strip():
            raise CometChatConfigError("sources.cometchat.app_id is empty")
        if not self.api_key or not str(self.api_key).strip():
            raise CometChatConfigError("sources.cometchat.api_key is empty")
        if self.region not in REGIONS:
            raise CometChatConfigError(
                f"sources.cometchat.region must be one of {', '.join(REGIONS)}, not {self.region!r}"
            )
        if self.base_url:
            _check_base_url(self.base_url)

    @property
    def api_base_url(self) -> str:
        url = self.base_url or BASE_URL_TEMPLATE.format(app_id=self.app_id, region=self.region)
        return url.rstrip("/")

    def __repr__(self) -> str:
        # Never show the key, even in a debugger or a dlt trace.
        return f"CometChatCredentials(app_id={self.app_id!r}, region={self.region!r}, base_url={self.base_url!r})"


def _check_base_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CometChatConfigError(f"sources.cometchat.base_url is not a URL: {url!r}")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise CometChatConfigError(
            f"sources.cometchat.base_url must use https (plain http is allowed only on loopback): {url!r}"
        )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
