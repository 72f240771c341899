"""Exceptions of the CometChat connector. None of them ever carries the API key."""

from requests import ConnectionError, HTTPError, Response


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
        super().__init__(
            f"CometChat refused {method} {endpoint} ({code}, HTTP {status}): {message}",
            response=response,
        )


class CometChatAuthError(CometChatApiError):
    """Wrong API key, app id or region: nothing else can work, so the run stops."""


class CometChatNotFoundError(CometChatApiError):
    """A user, group or message does not exist (any more)."""


class CometChatUnreachableError(CometChatError, ConnectionError):
    """No answer at all: the host does not resolve, refuses or drops connections, or never answers in time."""

    def __init__(self, method: str, endpoint: str, reason: str, attempts: int) -> None:
        self.method = method
        self.endpoint = endpoint
        self.reason = reason
        self.attempts = attempts
        tries = "not retried, it cannot heal" if attempts == 1 else f"after {attempts} attempts"
        super().__init__(f"CometChat is unreachable: {method} {endpoint}: {reason} ({tries})")


class CometChatUnreadableError(CometChatError):
    """An answer that is not the API's JSON envelope, such as a 200 with malformed JSON."""

    def __init__(self, method: str, endpoint: str, status: int, problem: str) -> None:
        self.method = method
        self.endpoint = endpoint
        self.status = status
        self.problem = problem
        super().__init__(
            f"CometChat answered {method} {endpoint} with something unreadable: HTTP {status}, {problem}"
        )
