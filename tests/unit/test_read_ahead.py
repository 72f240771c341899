"""The page look-ahead: same items in the same order, errors surface at the consumer, an early stop ends it, and
finishing hands over what was read ahead."""

import threading
import time

import pytest

from sources.cometchat.read_ahead import read_ahead


def test_yields_every_item_in_order():
    assert list(read_ahead(iter(range(100)), depth=2)) == list(range(100))


def recorded(count: int, read: list[int]):
    """0 .. count - 1, each noted in `read` as it is read."""
    for i in range(count):
        read.append(i)
        yield i


def wait_until_read(read: list[int], count: int) -> None:
    deadline = time.monotonic() + 5
    while len(read) < count and time.monotonic() < deadline:
        time.sleep(0.01)


def test_reads_ahead_while_the_consumer_works():
    read: list[int] = []
    items = read_ahead(recorded(3, read), depth=2)
    assert next(items) == 0
    wait_until_read(read, 3)
    assert read == [0, 1, 2]  # the next two were read before they were asked for
    assert list(items) == [1, 2]


def test_an_error_of_the_source_is_raised_to_the_consumer_after_the_items_before_it():
    def source():
        yield 1
        raise ValueError("page 2 failed")

    items = read_ahead(source())
    assert next(items) == 1
    with pytest.raises(ValueError, match="page 2 failed"):
        next(items)


def test_stopping_early_ends_the_reading_thread():
    items = read_ahead(iter(range(1_000_000)), depth=2)
    assert next(items) == 0
    items.close()
    deadline = time.monotonic() + 5
    while (
        any(t.name == "cometchat-read-ahead" for t in threading.enumerate()) and time.monotonic() < deadline
    ):
        time.sleep(0.01)
    assert not any(t.name == "cometchat-read-ahead" for t in threading.enumerate())


def test_finishing_hands_over_the_items_read_ahead_and_reads_no_further():
    read: list[int] = []
    finishing = threading.Event()
    items = read_ahead(recorded(1_000, read), depth=2, finishing=finishing)
    assert next(items) == 0
    wait_until_read(read, 3)
    finishing.set()

    rest = list(items)
    assert [0, *rest] == read  # every item read comes, in order, and nothing more is read
    assert 2 <= len(rest) <= 3  # the two waiting, and the one being read when it finished
