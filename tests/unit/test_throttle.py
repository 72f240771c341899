"""The request budget paces requests and obeys the server's rate-limit headers (fake clock, no sleeping)."""

import threading
import time

import pytest

from sources.cometchat.throttle import RequestBudget


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def make_budget(rpm: float) -> tuple[RequestBudget, FakeClock]:
    clock = FakeClock()
    return RequestBudget(rpm, clock=clock, sleep=clock.sleep), clock


def test_spaces_requests_evenly_at_the_budget():
    budget, clock = make_budget(120)  # one every 0.5 s
    for _ in range(5):
        budget.acquire()
    assert clock.slept == pytest.approx([0.5, 0.5, 0.5, 0.5])
    assert budget.stats.requests == 5
    assert budget.stats.throttle_wait_seconds == pytest.approx(2.0)


def test_a_window_with_requests_left_does_not_slow_the_pace():
    budget, clock = make_budget(600)
    budget.acquire()
    reset_at = time.time() + 3
    budget.observe(
        200, {"X-Rate-Limit": "60", "X-Rate-Limit-Remaining": "1", "X-Rate-Limit-Reset": str(reset_at)}
    )
    budget.acquire()
    assert clock.slept == pytest.approx([0.1])


def test_exhausted_window_waits_for_its_reset_with_either_spelling():
    for prefix in ("X-RateLimit-", "X-Rate-Limit-"):
        budget, clock = make_budget(6000)
        budget.acquire()
        reset_at = time.time() + 3
        budget.observe(200, {f"{prefix}Remaining": "0", f"{prefix}Reset": str(reset_at)})
        budget.acquire()
        assert clock.slept and 2.0 < clock.slept[-1] <= 3.1


def test_a_window_the_requests_in_flight_will_use_up_waits_for_its_reset():
    budget, clock = make_budget(6000)
    for _ in range(3):  # three requests started, none answered yet
        budget.acquire()
    reset_at = time.time() + 3
    budget.observe(200, {"X-RateLimit-Remaining": "2", "X-RateLimit-Reset": str(reset_at)})
    budget.acquire()
    assert 2.0 < clock.slept[-1] <= 3.1


def test_a_request_without_answer_is_no_longer_in_flight():
    budget, clock = make_budget(6000)
    budget.acquire()
    budget.acquire()
    budget.abandon()
    clock.slept.clear()
    budget.observe(200, {"X-RateLimit-Remaining": "1", "X-RateLimit-Reset": str(time.time() + 3)})
    budget.acquire()
    assert clock.slept == pytest.approx([0.01])


def test_hold_delays_every_thread():
    budget, clock = make_budget(6000)
    budget.hold(4)
    budget.acquire()
    assert clock.slept == pytest.approx([4.0])


def test_rejects_a_non_positive_budget():
    with pytest.raises(ValueError):
        RequestBudget(0)


def test_threads_sharing_the_budget_each_get_their_own_slot():
    """Concurrent time windows share one budget: every start gets its own slot, none twice, none skipped."""
    waits: list[float] = []
    budget = RequestBudget(120, clock=lambda: 100.0, sleep=waits.append)  # a frozen clock: waits are slots
    threads = [threading.Thread(target=lambda: [budget.acquire() for _ in range(25)]) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(waits) == pytest.approx([0.5 * slot for slot in range(1, 200)])
    assert budget.stats.requests == 200
