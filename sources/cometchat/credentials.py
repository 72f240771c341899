"""Typed CometChat credentials, resolved by dlt from `[sources.cometchat.credentials]` or environment variables."""

from typing import ClassVar
from urllib.parse import urlsplit

from dlt.common.configuration import configspec
from dlt.common.configuration.specs import CredentialsConfiguration
from dlt.common.typing import TSecretStrValue

from .errors import CometChatConfigError
from .loopback import is_loopback
from .settings import BASE_URL_TEMPLATE, DEFAULT_REGION, PLACEHOLDER_PREFIXES, REGIONS


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
    if not app_id or not str(app_id).strip():
        raise CometChatConfigError("sources.cometchat.credentials.app_id is empty")
    check_not_placeholder("app_id", app_id)


def check_api_key(api_key: str | None) -> None:
    if not api_key or not str(api_key).strip():
        raise CometChatConfigError("sources.cometchat.credentials.api_key is empty")
    check_not_placeholder("api_key", api_key)


def check_not_placeholder(field: str, value: str) -> None:
    """Example values (`your-...` of .dlt/secrets.toml.example, `<configure me>` of `dlt init`) fail at once."""
    if str(value).strip().lower().startswith(PLACEHOLDER_PREFIXES):
        raise CometChatConfigError(
            f"sources.cometchat.credentials.{field} still holds an example value (from .dlt/secrets.toml.example or `dlt init`); "
            "put your app's value in .dlt/secrets.toml"
        )


def check_region(region: str) -> None:
    if region not in REGIONS:
        raise CometChatConfigError(
            f"sources.cometchat.credentials.region must be one of {', '.join(REGIONS)}, not {region!r}"
        )


def check_base_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CometChatConfigError(f"sources.cometchat.credentials.base_url is not a URL: {url!r}")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise CometChatConfigError(
            "sources.cometchat.credentials.base_url must use https (plain http is allowed only on loopback): "
            f"{url!r}"
        )
