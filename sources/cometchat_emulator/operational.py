"""Operational realism: a fixed-window rate limit, added latency, seeded fault injection and request stats."""

from __future__ import annotations

import math
import random
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, replace
from typing import Any

from .config import OperationalSettings

# With the limit switched off the headers still advertise the paid plan's standard budget.
NOMINAL_LIMIT = 20_000
NOMINAL_WINDOW = 60.0


@dataclass(frozen=True)
class Admission:
    """What the operational layer decided for one request before it is handled."""

    limit: int
    remaining: int
    reset: int
    limited: bool
    retry_after: int
    fault: str | None
    latency: float

    def headers(self) -> dict[str, str]:
        limit, remaining, reset = str(self.limit), str(self.remaining), str(self.reset)
        return {
            "X-Rate-Limit": limit,
            "X-Rate-Limit-Remaining": remaining,
            "X-Rate-Limit-Reset": reset,
            "X-RateLimit-Limit": limit,
            "X-RateLimit-Remaining": remaining,
            "X-RateLimit-Reset": reset,
        }


class Operations:
    def __init__(self, settings: OperationalSettings, seed: int) -> None:
        self._lock = threading.Lock()
        self._seed = seed
        self.settings = settings.validated()
        self._rng = random.Random(seed)
        self._window_index: int | None = None
        self._window_count = 0

    def configure(self, **changes: Any) -> OperationalSettings:
        """Apply any subset of the settings at once; the window and the fault sequence restart."""
        if "fault_kinds" in changes and changes["fault_kinds"] is not None:
            kinds = changes["fault_kinds"]
            changes["fault_kinds"] = tuple(kinds.split(",") if isinstance(kinds, str) else kinds)
        unknown = set(changes) - set(asdict(self.settings))
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
        with self._lock:
            self.settings = replace(self.settings, **changes).validated()
            self._rng = random.Random(self._seed)
            self._window_index = None
            self._window_count = 0
            return self.settings

    def admit(self) -> Admission:
        now = time.time()
        with self._lock:
            s = self.settings
            limit = s.rate_limit or NOMINAL_LIMIT
            window = s.rate_window if s.rate_limit else NOMINAL_WINDOW
            index = math.floor(now / window)
            if index != self._window_index:
                self._window_index, self._window_count = index, 0
            self._window_count += 1
            window_end = (index + 1) * window
            reset = math.ceil(window_end)
            limited = bool(s.rate_limit) and self._window_count > s.rate_limit
            retry_after = max(1, math.ceil(window_end - now))
            fault = None
            if not limited and s.fault_rate > 0 and self._rng.random() < s.fault_rate:
                fault = self._rng.choice(s.fault_kinds)
            return Admission(
                limit=limit,
                remaining=max(0, limit - self._window_count),
                reset=reset,
                limited=limited,
                retry_after=retry_after,
                fault=fault,
                latency=s.latency_ms / 1000.0,
            )

    @property
    def slow_seconds(self) -> float:
        return self.settings.slow_seconds


class RequestStats:
    """Counts of /v3 requests by (method, route template, status), injected faults, and every PUT."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str, int]] = Counter()
        self._faults: Counter[str] = Counter()
        self._puts: list[dict[str, Any]] = []

    def record(self, method: str, route: str, status: int) -> None:
        with self._lock:
            self._counts[(method, route, status)] += 1

    def record_fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] += 1

    def record_put(self, path: str, on_behalf_of: str | None, body: Any, status: int) -> None:
        entry = {
            "path": path,
            "on_behalf_of": on_behalf_of,
            "body": body,
            "status": status,
            "at": time.time(),
        }
        with self._lock:
            self._puts.append(entry)

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
            self._faults.clear()
            self._puts.clear()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            requests = [
                {"method": method, "route": route, "status": status, "count": count}
                for (method, route, status), count in sorted(self._counts.items())
            ]
            by_status: Counter[str] = Counter()
            for (_, _, status), count in self._counts.items():
                by_status[str(status)] += count
            return {
                "requests": requests,
                "total": sum(self._counts.values()),
                "by_status": dict(sorted(by_status.items())),
                "faults": dict(sorted(self._faults.items())),
                "puts": list(self._puts),
            }
