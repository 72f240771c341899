"""pages_ahead: a page-number list read several pages at a time ends exactly where a one-at-a-time read ends."""

import threading
import time

import pytest

from sources.cometchat.errors import CometChatApiError
from sources.cometchat.pages_ahead import pages_ahead


class FakeList:
    """`pages` pages of 2 rows; `total_pages` is a has-more flag, as the API serves it (or no meta at all)."""

    def __init__(self, pages: int, with_meta: bool = True, delay: float = 0.0) -> None:
        self.pages, self.with_meta, self.delay = pages, with_meta, delay
        self.asked: list[int] = []
        self.in_flight = self.most_in_flight = 0
        self._lock = threading.Lock()

    def fetch(self, page: int) -> dict:
        with self._lock:
            self.asked.append(page)
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        time.sleep(self.delay)
        with self._lock:
            self.in_flight -= 1
        rows = [{"id": f"{page}-{i}"} for i in range(2)] if page <= self.pages else []
        body: dict = {"data": rows}
        if self.with_meta:
            more = page < self.pages
            body["meta"] = {"pagination": {"current_page": page, "total_pages": page + 1 if more else page}}
        return body


def ids(pages) -> list[str]:
    return [row["id"] for page in pages for row in page]


@pytest.mark.parametrize("pages", [1, 2, 3, 7, 20])
@pytest.mark.parametrize("most_at_once", [0, 1, 2, 4])
def test_every_page_once_in_order_and_at_most_a_few_asked_past_the_end(pages, most_at_once):
    listing = FakeList(pages)

    read = list(pages_ahead(listing.fetch, most_at_once))

    assert ids(read) == [f"{p}-{i}" for p in range(1, pages + 1) for i in range(2)]
    assert sorted(listing.asked) == list(range(1, len(listing.asked) + 1)), (
        "each page asked once, none skipped"
    )
    assert pages <= len(listing.asked) <= pages + max(1, most_at_once) - 1
    assert listing.asked[0] == 1 and listing.asked.count(1) == 1


def test_a_one_page_list_costs_one_request():
    listing = FakeList(1)

    assert len(list(pages_ahead(listing.fetch, 4))) == 1
    assert listing.asked == [1]


def test_without_pagination_meta_the_read_ends_at_the_first_empty_page():
    listing = FakeList(5, with_meta=False)

    assert ids(pages_ahead(listing.fetch, 4)) == [f"{p}-{i}" for p in range(1, 6) for i in range(2)]
    assert 6 in listing.asked


def test_no_more_than_most_at_once_pages_are_asked_at_the_same_time():
    listing = FakeList(30, delay=0.02)

    list(pages_ahead(listing.fetch, 4))

    assert listing.most_in_flight == 4


def test_an_error_on_a_page_is_raised_after_the_pages_before_it():
    listing = FakeList(10)

    def fetch(page: int) -> dict:
        if page == 4:
            raise CometChatApiError("GET", "/users", 500, "ERR_INTERNAL", "boom", None)
        return listing.fetch(page)

    read = pages_ahead(fetch, 4)
    assert ids(next(read) for _ in range(3)) == [f"{p}-{i}" for p in range(1, 4) for i in range(2)]
    with pytest.raises(CometChatApiError, match="ERR_INTERNAL"):
        next(read)


def test_a_reader_that_stops_early_leaves_no_request_running():
    listing = FakeList(50, delay=0.02)

    read = pages_ahead(listing.fetch, 4)
    next(read)
    next(read)
    read.close()

    assert listing.in_flight == 0
    assert len(listing.asked) <= 2 + 4
