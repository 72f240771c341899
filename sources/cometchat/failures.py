"""Requests that got no answer: which failures a retry can heal, and one clear line for those that stay.

A reset, a timeout, a stall or a body cut short may heal and are retried. A host name that does not
resolve, or a TLS certificate that does not verify, stays the same on every attempt: those fail at once.
"""

import socket
from typing import Any

from requests import PreparedRequest
from requests.exceptions import (
    ChunkedEncodingError,
    ConnectionError,
    ConnectTimeout,
    ContentDecodingError,
    ReadTimeout,
    RequestException,
    SSLError,
    Timeout,
)
from urllib3.exceptions import NameResolutionError, NewConnectionError

from .deadline import RequestDeadlineExceeded
from .errors import CometChatUnreachableError

# A reset connection, a timeout, or a body cut short of its Content-Length.
RETRY_EXCEPTIONS = (ConnectionError, Timeout, ChunkedEncodingError, ContentDecodingError)


def can_heal(error: BaseException) -> bool:
    """Whether retrying `error` may help: a network failure, but not a name or certificate failure."""
    return isinstance(error, RETRY_EXCEPTIONS) and _unresolved_host(error) is None and not _tls(error)


def unreachable(
    request: PreparedRequest | None, error: RequestException, attempts: int
) -> CometChatUnreachableError:
    method, _, endpoint = endpoint_of(request).partition(" ")
    return CometChatUnreachableError(method, endpoint, describe(error), attempts)


def describe(error: RequestException) -> str:
    """What went wrong, in a few words, without the URL's query."""
    host = _unresolved_host(error)
    if host is not None:
        return f"the host {host!r} does not resolve (DNS)"
    if _tls(error):
        return f"the TLS connection failed ({_innermost(error)})"
    if isinstance(error, RequestDeadlineExceeded):
        return str(error)
    if isinstance(error, ConnectTimeout):
        return "no connection within the timeout"
    if isinstance(error, ReadTimeout):
        return "no answer within the timeout"
    if isinstance(error, ChunkedEncodingError | ContentDecodingError):
        return f"the answer broke off ({_innermost(error)})"
    if _caused_by(error, ConnectionRefusedError):
        return "the connection was refused"
    return f"the connection failed ({_innermost(error)})"


def endpoint_of(request: Any) -> str:
    """`GET /v3/users` for a prepared request: the method and path, never the query or host."""
    if request is None or not getattr(request, "path_url", None):
        return "request ?"
    return f"{request.method} {request.path_url.split('?')[0]}"


def _unresolved_host(error: BaseException) -> str | None:
    for cause in _chain(error):
        if isinstance(cause, NameResolutionError):
            return str(getattr(cause.conn, "host", None) or "?")
        if isinstance(cause, socket.gaierror):
            return "?"
    return None


def _tls(error: BaseException) -> bool:
    return any(isinstance(cause, SSLError) for cause in _chain(error))


def _caused_by(error: BaseException, kind: type[BaseException]) -> bool:
    return any(isinstance(cause, kind) for cause in _chain(error))


def _innermost(error: BaseException) -> str:
    causes = list(_chain(error))
    for cause in reversed(causes):
        if isinstance(cause, NewConnectionError):
            return str(cause).split(": ", 1)[-1]
    innermost = causes[-1]
    return f"{type(innermost).__name__}: {innermost}" if str(innermost) else type(innermost).__name__


def _chain(error: BaseException) -> list[BaseException]:
    """The error, what it wraps (requests and urllib3 nest errors in args and `reason`) and its causes."""
    seen: list[BaseException] = []
    pending: list[BaseException] = [error]
    while pending and len(seen) < 20:
        current = pending.pop(0)
        if any(current is known for known in seen):
            continue
        seen.append(current)
        pending += [arg for arg in current.args if isinstance(arg, BaseException)]
        for linked in (getattr(current, "reason", None), current.__cause__, current.__context__):
            if isinstance(linked, BaseException):
                pending.append(linked)
    return seen
