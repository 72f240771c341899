"""A page-number list read several pages at a time, so that a long list does not pay the API's latency once per
page. The API cannot say how many pages a list has (`total_pages` is only a has-more flag), so pages are asked
for ahead of the answers: page 1 alone, then two at a time, doubling up to `most_at_once`. The pages are
yielded in order and the read ends at the first page that says no more, exactly as a one-at-a-time read would;
the pages asked for after it (at most `most_at_once - 1`) are dropped unread.

A list that moves while it is read (rows ordered by `updatedAt` come to the front) still shows the move as a
repeated row, which `snapshots.stable_read` watches for. Page 1 is always read before the others are asked
for, so a page read after the move always has a page read before the move somewhere ahead of it in the list;
where the first such pair meet, the row the move pushed down across their boundary comes twice.
"""

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from .paginators import has_more_pages
from .shaping import as_rows

Body = dict[str, Any]


def pages_ahead(fetch: Callable[[int], Body], most_at_once: int) -> Iterator[list[dict[str, Any]]]:
    """The non-empty pages of a list, in order, from `fetch(page_number)` (page numbers from 1)."""
    body = fetch(1)
    rows = as_rows(body.get("data"))
    if rows:
        yield rows
    if not has_more_pages(body):
        return
    most_at_once = max(1, most_at_once)
    pool = ThreadPoolExecutor(max_workers=most_at_once, thread_name_prefix="cometchat-pages")
    asked: deque[Future[Body]] = deque()
    next_page, at_once = 2, min(2, most_at_once)
    try:
        while True:
            while len(asked) < at_once:
                asked.append(pool.submit(fetch, next_page))
                next_page += 1
            body = asked.popleft().result()
            rows = as_rows(body.get("data"))
            if rows:
                yield rows
            if not has_more_pages(body):
                return
            at_once = min(most_at_once, at_once * 2)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
