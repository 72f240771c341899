"""read_concurrently: several iterators read on threads, each one's items in its order, errors re-raised, what
was read handed over when it finishes early, readers under way taking turns so that they end together, and more
threads while the consumer waits on slow readers; a first run's windows started on as many connections as the
API's answers keep busy. ForwardRead.drops: which changed copies carried by actions are left out, in a
backfill's windows and in a read in slices."""

import threading
import time

import pytest

from sources.cometchat.versions import copy_version
from sources.cometchat.windows import ForwardRead, read_concurrently


def numbers(start: int, count: int):
    return lambda: iter(range(start, start + count))


def test_each_reader_keeps_its_order_and_ends_once():
    readers = [numbers(0, 50), numbers(100, 3), numbers(200, 0), numbers(300, 20)]
    seen: dict[int, list] = {index: [] for index in range(len(readers))}
    for index, item in read_concurrently(readers, workers=2):
        seen[index].append(item)
    assert seen == {
        0: [*range(0, 50), None],
        1: [100, 101, 102, None],
        2: [None],
        3: [*range(300, 320), None],
    }


def test_an_error_in_one_reader_is_raised_to_the_consumer():
    def failing():
        yield 1
        raise RuntimeError("page 2 failed")

    with pytest.raises(RuntimeError, match="page 2 failed"):
        list(read_concurrently([numbers(0, 5), failing], workers=2))


def test_closing_early_stops_the_readers():
    produced = threading.Event()

    def endless():
        while True:
            produced.set()
            yield 0

    items = read_concurrently([endless, endless], workers=2, depth=1)
    next(items)
    items.close()
    produced.wait(1)
    alive = [t for t in threading.enumerate() if t.name.startswith("cometchat-window")]
    for thread in alive:
        thread.join(timeout=2)
    assert not any(thread.is_alive() for thread in alive)


def slow_readers(count: int, items: int, seconds: float):
    """`count` readers of `items` items each, every item taking `seconds` (a slow API); the most items read at
    once (connections), and the most readers under way at once (begun, not yet exhausted)."""
    reading, most, lock = [0], {"reading": 0, "under_way": 0}, threading.Lock()
    under_way = [0]

    def reader(index: int):
        def read():
            with lock:
                under_way[0] += 1
                most["under_way"] = max(most["under_way"], under_way[0])
            for item in range(items):
                with lock:
                    reading[0] += 1
                    most["reading"] = max(most["reading"], reading[0])
                time.sleep(seconds)
                with lock:
                    reading[0] -= 1
                yield index * 100 + item
            with lock:
                under_way[0] -= 1

        return read

    return [reader(index) for index in range(count)], most


def test_readers_under_way_take_turns_and_end_together():
    """Four readers on two workers: a reader does not wait for another to end before it starts, so that none is
    left to be read alone at the end (at a slow API, one answer at a time)."""
    readers, _ = slow_readers(count=4, items=20, seconds=0.002)

    taken = list(read_concurrently(readers, workers=2, most_workers=4))

    assert len(taken) == 4 * 21
    ends = [position for position, (_, item) in enumerate(taken) if item is None]
    first_items = [next(p for p, (i, _) in enumerate(taken) if i == index) for index in range(4)]
    # One after the other, two readers would end half way through (position 41 or so).
    assert max(first_items) < 8 and min(ends) >= len(taken) - 16


def test_more_readers_than_the_most_workers_start_as_others_end():
    readers, most_at_once = slow_readers(count=6, items=3, seconds=0.002)

    taken = list(read_concurrently(readers, workers=2, most_workers=2))

    for index in range(6):
        assert [item for i, item in taken if i == index] == [index * 100 + n for n in range(3)] + [None]
    assert most_at_once["under_way"] == 2


def test_a_waiting_consumer_gets_more_workers_up_to_the_most():
    readers, most_at_once = slow_readers(count=8, items=6, seconds=0.05)
    told: list[int] = []

    taken = list(read_concurrently(readers, workers=2, most_workers=6, on_more_workers=told.append))

    assert told and told == sorted(told) and told[-1] <= 6 and told[0] > 2
    assert 2 < most_at_once["reading"] <= 6
    for index in range(8):  # each reader's items still in order, and exhausted once
        assert [item for i, item in taken if i == index] == [index * 100 + n for n in range(6)] + [None]


def test_a_busy_consumer_keeps_the_workers_it_started_with():
    readers, most_at_once = slow_readers(count=8, items=6, seconds=0.001)
    told: list[int] = []

    for _ in read_concurrently(readers, workers=2, most_workers=6, on_more_workers=told.append):
        time.sleep(0.05)  # the consumer, not the readers, sets the pace

    assert told == [] and most_at_once["reading"] <= 2


class Answers:
    """A running count and sum of the API's answer times, as `CometChatClient.answers` gives them."""

    def __init__(self, seconds_each: float) -> None:
        self.seconds_each, self.count, self.lock = seconds_each, 0, threading.Lock()

    def reader(self, read):
        def counted():
            for item in read():
                with self.lock:
                    self.count += 1
                yield item

        return counted

    def __call__(self) -> tuple[int, float]:
        with self.lock:
            return self.count, self.count * self.seconds_each


@pytest.mark.parametrize(("answer_seconds", "grows"), [(0.05, True), (0.001, False)])
def test_more_workers_only_where_the_api_is_slow_to_answer(answer_seconds, grows):
    """Items take 50 ms each to read and the consumer 5 ms to take in, so it waits either way; only answers that
    took the time start more workers. Fast answers with a waiting consumer: the wait was elsewhere (the rate
    budget, a 429's hold, a busy CPU)."""
    readers, most_at_once = slow_readers(count=8, items=6, seconds=0.05)
    answers = Answers(answer_seconds)
    told: list[int] = []

    items = read_concurrently(
        [answers.reader(read) for read in readers],
        workers=2,
        most_workers=6,
        on_more_workers=told.append,
        answers=answers,
    )
    taken = 0
    for _ in items:
        time.sleep(0.005)
        taken += 1
    assert taken == 8 * 7

    assert bool(told) is grows and (most_at_once["reading"] > 2) is grows
    assert all(count <= 6 for count in told)


class FirstRunClient:
    """A client of an app whose history spans days, for a first run's plan: pages of the first window's second,
    each answer having taken `answer_seconds`."""

    max_workers = 16

    def __init__(self, answer_seconds: float) -> None:
        self.answer_seconds, self.window_readers, self.answered = answer_seconds, 4, 0

    def messages(self, path, params, after=None, start=0, until=None):
        if until is None and after is None:  # the sequential read's first page: a full one
            self.answered += 1
            yield [{"id": str(n), "sentAt": 1_000_000} for n in range(1, 1_001)]

    def newest_message(self, path):
        self.answered += 1
        return {"id": "999999", "sentAt": 1_000_000 + 10 * 86_400}

    def answers(self) -> tuple[int, float]:
        return self.answered, self.answered * self.answer_seconds

    def read_windows_on(self, readers: int) -> None:
        self.window_readers = min(readers, self.max_workers)


@pytest.mark.parametrize(("answer_seconds", "least", "most"), [(0.005, 4, 4), (0.5, 6, 11), (5.0, 16, 16)])
def test_a_first_run_starts_its_windows_on_as_many_connections_as_its_answers_keep_busy(
    answer_seconds, least, most
):
    """The loader takes 50 to 100 ms over the first page (a sleep of 50 ms, and a busy machine): 4 connections at
    5 ms answers (never fewer than the client's); at 500 ms, 500 / 50 + 1 down to 500 / 100 + 1; no more than
    `max_workers` at 5 s."""
    client = FirstRunClient(answer_seconds)
    read = ForwardRead(client, state={}, params={}, first=0, windows=8)  # type: ignore[arg-type]

    pages = read.pages()
    page, window = next(pages)
    time.sleep(0.05)
    read.advance(window, page)
    for page, window in pages:
        read.advance(window, page)

    assert least <= client.window_readers <= most
    assert len(read.state.get("backfill", {}).get("windows", [])) == 0 and read.state["cursor"] == [
        1_000_000,
        1_000,
    ]


def backfill_read(newest: tuple[int, int] | None = (1999, 500)) -> ForwardRead:
    """A backfill that began after message (1000, 7), planned when the newest message was `newest`."""
    backfill = {"from": [1000, 7], "until": 2000, "windows": [], "high": None}
    if newest is not None:  # None: planned by a version that did not keep it
        backfill["newest"] = list(newest)
    return ForwardRead(client=None, state={"backfill": backfill}, params={}, first=0, windows=8)  # type: ignore[arg-type]


def drops(read: ForwardRead, window: list[int] | None, copy: dict, action: dict) -> bool:
    return read.drops(window, copy, copy_version(copy, action_id=int(action["id"])), action)


@pytest.mark.parametrize(
    ("message", "changed_at", "action_id", "window_start", "dropped"),
    [
        ((1500, 20), 1600, 300, 1400, True),  # changed before the plan: a window lists the message after it
        ((1500, 20), 1998, 600, 1400, True),
        ((1500, 20), 1999, 500, 1400, True),  # in the newest second, listed before the newest message
        ((1500, 20), 1999, 501, 1400, False),  # listed after it: maybe sent after a window listed the message
        ((1500, 20), 1999, 501, 1800, False),  # the same, for a message of an earlier window
        ((1500, 20), 1700, 501, 1800, True),
        # At or before the backfill's starting cursor: loaded before it, not listed again.
        ((1000, 7), 1200, 300, 1000, False),
        ((900, 3), 1200, 300, 1000, False),
    ],
)
def test_a_backfill_leaves_out_the_changed_copies_its_windows_list_after_the_change(
    message, changed_at, action_id, window_start, dropped
):
    copy = {"id": str(message[1]), "sentAt": message[0], "updatedAt": changed_at, "editedAt": changed_at}
    action = {"id": str(action_id), "sentAt": changed_at}
    assert drops(backfill_read(), [window_start, 2000, -1, -1], copy, action) is dropped


def test_a_backfill_planned_without_its_newest_message_goes_by_the_stamps_alone():
    copy = {"id": "20", "sentAt": 1500, "updatedAt": 1999}
    assert not drops(backfill_read(newest=None), [1400, 2000, -1, -1], copy, {"id": "1", "sentAt": 1999})
    copy = {"id": "20", "sentAt": 1500, "updatedAt": 1998}
    assert drops(backfill_read(newest=None), [1400, 2000, -1, -1], copy, {"id": "1", "sentAt": 1998})


def test_a_sequential_read_in_one_package_keeps_every_changed_copy():
    copy = {"id": "20", "sentAt": 1500, "updatedAt": 1600}
    assert not drops(backfill_read(), None, copy, {"id": "300", "sentAt": 1600})


@pytest.mark.parametrize(
    ("message", "changed_at", "action_id", "dropped"),
    [
        (
            (1500, 20),
            1600,
            300,
            True,
        ),  # changed before the run began: its first slice listed the message after it
        ((1500, 20), 1999, 500, True),  # listed no later than the newest message when the run began
        ((1500, 20), 1999, 501, False),  # maybe sent after a slice listed the message
        ((1500, 20), 2100, 900, False),
        ((1000, 7), 1200, 300, False),  # at or before the run's starting cursor: an earlier run loaded it
    ],
)
def test_a_read_in_slices_leaves_out_the_changed_copies_it_listed_after_the_change(
    message, changed_at, action_id, dropped
):
    run = {"from": [1000, 7], "newest": [1999, 500]}
    read = ForwardRead(client=None, state={"run": run}, params={}, first=0, windows=1)  # type: ignore[arg-type]
    copy = {"id": str(message[1]), "sentAt": message[0], "updatedAt": changed_at, "editedAt": changed_at}
    assert drops(read, None, copy, {"id": str(action_id), "sentAt": changed_at}) is dropped


def test_finishing_hands_over_what_was_read_and_reads_no_further():
    finishing = threading.Event()
    started: list[int] = []

    def reader(index: int):
        def items():
            started.append(index)
            for item in range(1_000):
                yield index * 1_000 + item

        return items

    read = read_concurrently([reader(index) for index in range(6)], workers=2, depth=2, finishing=finishing)
    taken = [next(read)]
    finishing.set()
    taken += list(read)

    # Only the two readers under way read; each item they read comes once, in order; neither is reported done.
    assert len(set(started)) == 2
    assert all(item is not None for _, item in taken)
    for index in set(started):
        items = [item for reader_index, item in taken if reader_index == index]
        assert items == list(range(index * 1_000, index * 1_000 + len(items)))
    # At most what the buffer held and each worker was reading when it finished.
    assert len(taken) <= 1 + 2 * 2 + 2
