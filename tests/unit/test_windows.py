"""read_concurrently: several iterators read on threads, each one's items in its order, errors re-raised."""

import threading

import pytest

from sources.cometchat.windows import read_concurrently


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
