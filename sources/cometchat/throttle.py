"""A thread-safe request budget: paces requests to N per minute and obeys the server's rate-limit headers."""

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

# CometChat documents both spellings of the rate-limit headers; the newest first.
_REMAINING_HEADERS = ("X-RateLimit-Remaining", "X-Rate-Limit-Remaining")
_RESET_HEADERS = ("X-RateLimit-Reset", "X-Rate-Limit-Reset")
_LOGGED_WAIT_SECONDS = 1.0


@dataclass
class RequestStats:
    requests: int = 0
    retries: int = 0
    throttle_waits: int = 0
    throttle_wait_seconds: float = 0.0
    retry_wait_seconds: float = 0.0
    by_status: dict[int, int] = field(default_factory=dict)
    # Responses, and the seconds from sending each request to its response's headers, summed over threads.
    answers: int = 0
    answer_seconds: float = 0.0


class RequestBudget:
    """Spaces request starts evenly so that at most `requests_per_minute` start in any minute.

    The server's headers can only tighten the pace: a window that the requests already in flight will
    exhaust (remaining <= in flight) waits for its reset, and a 429's Retry-After holds every thread back.
    The advertised limit alone is not used as a pace, because the window it counts is not reliably a
    minute; remaining and reset say all that matters.
    """

    def __init__(self, requests_per_minute: float, clock=time.monotonic, sleep=time.sleep) -> None:
        if requests_per_minute <= 0:
            raise ValueError("requests_per_minute must be positive")
        self.requests_per_minute = float(requests_per_minute)
        self.stats = RequestStats()
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_start = clock()
        self._interval = 60.0 / self.requests_per_minute
        self._in_flight = 0

    def acquire(self) -> None:
        with self._lock:
            now = self._clock()
            start = max(now, self._next_start)
            self._next_start = start + self._interval
            self._in_flight += 1
            self.stats.requests += 1
        wait = start - now
        if wait > 0:
            self._record_wait(wait)
            self._sleep(wait)

    def observe(self, status: int, headers: Mapping[str, str], seconds: float = 0.0) -> None:
        """Reads the rate-limit headers of a response to a request that `acquire` let start, which took
        `seconds` to answer."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            self.stats.by_status[status] = self.stats.by_status.get(status, 0) + 1
            self.stats.answers += 1
            self.stats.answer_seconds += seconds
            remaining = _first_number(headers, _REMAINING_HEADERS)
            reset_at = _first_number(headers, _RESET_HEADERS)
            if remaining is not None and remaining <= self._in_flight and reset_at:
                self._hold_until_wall_time(reset_at)

    def abandon(self) -> None:
        """A request that `acquire` let start got no response (a reset, a timeout)."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)

    def hold(self, seconds: float) -> None:
        """Holds every request back for `seconds` (a 429's Retry-After)."""
        with self._lock:
            self._next_start = max(self._next_start, self._clock() + seconds)

    def record_retry(self, wait_seconds: float) -> None:
        with self._lock:
            self.stats.retries += 1
            self.stats.retry_wait_seconds += wait_seconds

    def _hold_until_wall_time(self, reset_at: float) -> None:
        seconds = reset_at - time.time()
        if 0 < seconds <= 120:
            self._next_start = max(self._next_start, self._clock() + seconds)

    def _record_wait(self, wait: float) -> None:
        with self._lock:
            self.stats.throttle_waits += 1
            self.stats.throttle_wait_seconds += wait
        if wait >= _LOGGED_WAIT_SECONDS:
            logger.info("Rate budget: waiting %.1f s before the next request", wait)


def _first_number(headers: Mapping[str, str], names: tuple[str, ...]) -> float | None:
    for name in names:
        value = headers.get(name)
        if value is None:
            continue
        try:
            return float(value)
        except ValueError:
            continue
    return None
