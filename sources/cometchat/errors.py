"""Exceptions of the CometChat connector. None of them ever carries the API key."""

from requests import HTTPError, Response


class CometChatError(Exception):
    """Base class of every error this connector raises on purpose."""


class CometChatConfigError(CometChatError):
    """The configuration cannot be used (missing or malformed value)."""


class CometChatApiError(CometChatError, HTTPError):
    """The API answered with an error envelope: names the endpoint, the status and the API error code."""

    def __init__(self, method: str, endpoint: str, status: int, code: str, message: str, response: Response):
        self.method = method
        self.endpoint = endpoint
        self.status = status
        self.code = code
        self.api_message = message
        super().__init__(f"{method} {endpoint} failed: HTTP {status} {code}: {message}", response=response)


class CometChatAuthError(CometChatApiError):
    """Wrong API key, app id or region: nothing else can work, so the run stops."""


class CometChatNotFoundError(CometChatApiError):
    """A user, group or message does not exist (any more)."""
