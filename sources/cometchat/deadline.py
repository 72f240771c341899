"""A deadline for a whole request: connecting, the headers and every read of the body together.

requests' timeouts bound each socket operation, so a body that trickles one byte every few seconds never
times out. Neither requests nor urllib3 has an overall limit (urllib3's `total` also counts per read),
so this module adds one: a watchdog thread shuts the request's socket down when its deadline passes, the
blocked read fails at once, and the adapter raises `RequestDeadlineExceeded`, a `Timeout`, which the
client retries like any other timeout.
"""

import contextlib
import heapq
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from requests import Response
from requests.adapters import HTTPAdapter
from requests.exceptions import Timeout
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.connection import HTTPConnection, HTTPSConnection

# How often an expired request whose socket is still being opened is looked at again.
RECHECK_SECONDS = 0.05
# A response body is read in chunks of at most this many bytes (a page of 1,000 messages is about 1 MB).
BODY_CHUNK_BYTES = 1 << 20


class RequestDeadlineExceeded(Timeout):
    """The whole response did not arrive within the request's deadline."""


class _Watch:
    """One request under watch: the socket it reads from (set by the pool) and whether time ran out."""

    def __init__(self) -> None:
        self.sock: socket.socket | None = None
        self.expired = False
        self.finished = False

    def expire(self) -> bool:
        """Cut the request's socket; False while there is no socket yet (still connecting)."""
        if self.finished:
            return True
        self.expired = True
        if self.sock is None:
            return False
        with contextlib.suppress(OSError):  # already closed: the read has ended anyway
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked read in the requesting thread
        return True


class _Watchdog:
    """One daemon thread that expires every watched request of the process at its deadline."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _Watch]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self.lock = self._wake  # held while a request is expired, attached or detached
        self._thread: threading.Thread | None = None

    def add(self, watch: _Watch, deadline: float) -> None:
        with self._wake:
            heapq.heappush(self._heap, (deadline, next(self._order), watch))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="cometchat-deadline", daemon=True)
                self._thread.start()
            self._wake.notify()

    def _run(self) -> None:
        with self._wake:
            while True:
                while self._heap and self._heap[0][2].finished:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._wake.wait()
                    continue
                deadline, _, watch = self._heap[0]
                delay = deadline - time.monotonic()
                if delay > 0:
                    self._wake.wait(delay)
                    continue
                heapq.heappop(self._heap)
                if not watch.expire():
                    heapq.heappush(self._heap, (time.monotonic() + RECHECK_SECONDS, next(self._order), watch))


_WATCHDOG = _Watchdog()
_current = threading.local()


@contextmanager
def _watched(seconds: float) -> Iterator[_Watch]:
    watch = _Watch()
    _current.watch = watch
    _WATCHDOG.add(watch, time.monotonic() + seconds)
    try:
        yield watch
    finally:
        with _WATCHDOG.lock:
            watch.finished = True
        _current.watch = None


def _watch_socket(sock: socket.socket | None) -> None:
    """Called in the requesting thread: the socket its request now reads from (None: none any more)."""
    watch: _Watch | None = getattr(_current, "watch", None)
    if watch is not None:
        with _WATCHDOG.lock:
            watch.sock = sock


class _WatchedHTTPConnection(HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _watch_socket(self.sock)


class _WatchedHTTPSConnection(HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _watch_socket(self.sock)


class _WatchedPool:
    """Reports the socket of the connection a request takes from the pool, and forgets it when it goes back."""

    def _get_conn(self, timeout: float | None = None) -> Any:
        connection = super()._get_conn(timeout)  # type: ignore[misc]
        _watch_socket(connection.sock)  # a pooled connection is open already; a new one reports in connect()
        return connection

    def _put_conn(self, conn: Any) -> None:
        # Back in the pool the connection may serve another request: no longer this one's to cut.
        watch: _Watch | None = getattr(_current, "watch", None)
        if watch is not None and conn is not None and watch.sock is conn.sock:
            _watch_socket(None)
        super()._put_conn(conn)  # type: ignore[misc]


class _WatchedHTTPPool(_WatchedPool, HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(_WatchedPool, HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class DeadlineAdapter(HTTPAdapter):
    """An HTTPAdapter that reads every response whole within `deadline_seconds` or raises a Timeout."""

    def __init__(self, deadline_seconds: float, **kwargs: Any) -> None:
        self.deadline_seconds = deadline_seconds
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}

    def send(self, request: Any, stream: bool = False, timeout: Any = None, **kwargs: Any) -> Any:
        limit = self.deadline_seconds
        with _watched(limit) as watch:
            try:
                response = super().send(request, stream=True, timeout=_capped(timeout, limit), **kwargs)
                _read_body(response)  # here, under the deadline, not later by Session.send
            except Exception as error:
                if watch.expired:
                    raise RequestDeadlineExceeded(_late(limit), request=request) from error
                raise
        if watch.expired:  # cut mid-headers, http.client may take what it got for a whole (empty) answer
            response.close()
            raise RequestDeadlineExceeded(_late(limit), request=request)
        return response


def _read_body(response: Response) -> None:
    """Reads the whole body as `response.content` would, but in chunks of BODY_CHUNK_BYTES instead of requests'
    10 KiB. Each chunk is a blocking read that gives the GIL up and waits to get it back, and costs a dozen
    Python calls: about 120 of them for a page of 1,000 messages, where this needs 3 or 4."""
    response._content = b"".join(response.iter_content(BODY_CHUNK_BYTES))
    response._content_consumed = True


def _late(limit: float) -> str:
    return f"no complete answer within the {limit:g} s deadline"


def _capped(timeout: Any, limit: float) -> tuple[float, float]:
    """requests' (connect, read) timeouts, neither longer than the deadline."""
    connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    return (min(connect or limit, limit), min(read or limit, limit))
