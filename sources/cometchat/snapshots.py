"""Reading the lists that the API cannot filter by time (users, groups, members, conversations) as snapshots.

These tables are loaded whole each run with dlt's `replace`, so a row deleted in CometChat leaves the table and
nothing per row is kept in dlt state. A page-number list may shift while it is read (a conversation list
ordered by `updatedAt` moves a row to the front with every message): rows then repeat across pages and others
may be skipped. A repeat is the sign; such a list is read again, keeping the first copy of every row, until a
pass sees no repeat.
"""

import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .errors import CometChatError
from .settings import MAX_LIST_PASSES

logger = logging.getLogger(__name__)

TRow = dict[str, Any]
Key = Callable[[TRow], str]


def _fingerprint(key: str) -> int:
    # 8 bytes per row instead of the key itself: the set stays small for millions of conversation rows.
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")


def unique_pages(pages: Iterable[Iterable[TRow]], key: Key) -> Iterator[list[TRow]]:
    """The rows of each page that no earlier page held (a list that shifted while read repeats rows)."""
    seen: set[int] = set()
    for page in pages:
        fresh = []
        for row in page:
            fingerprint = _fingerprint(key(row))
            if fingerprint not in seen:
                seen.add(fingerprint)
                fresh.append(row)
        if fresh:
            yield fresh


def stable_read(
    read: Callable[[], Iterable[list[TRow]]],
    shape: Callable[[TRow], TRow],
    key: Key,
    what: str,
    max_passes: int = MAX_LIST_PASSES,
) -> Iterator[list[TRow]]:
    """Every row of a list that may shift while it is read, each once.

    A pass that meets a row twice has seen the list move, and may have skipped rows: the list is read again
    and the rows not seen yet are added. Raises when it still moves after `max_passes` passes.
    """
    yielded: set[int] = set()
    for attempt in range(1, max_passes + 1):
        this_pass: set[int] = set()
        shifted = False
        for page in read():
            fresh = []
            for raw in page:
                row = shape(raw)
                fingerprint = _fingerprint(key(row))
                if fingerprint in this_pass:
                    shifted = True
                    continue
                this_pass.add(fingerprint)
                if fingerprint not in yielded:
                    yielded.add(fingerprint)
                    fresh.append(row)
            if fresh:
                yield fresh
        if not shifted:
            return
        logger.warning(
            "%s moved while it was read (a row came twice): reading it again (pass %d)", what, attempt + 1
        )
    raise CometChatError(
        f"{what} kept moving while it was read ({max_passes} passes, each met a row twice): rows ordered by "
        "updatedAt shift between pages under live traffic; run again when the app is quieter"
    )
