"""Reading the lists that the API cannot filter by time (users, groups, conversations) as snapshots.

Each run reads such a list whole. If anything in it changed, the table is replaced with it (dlt's `replace`),
so a row deleted in CometChat leaves the table; if nothing changed, nothing is loaded. The comparison needs one
order-independent digest of the whole list in dlt state, never anything per row: the rows are spooled to a
temporary file while they are read and digested, and only then loaded or dropped. A first load, with nothing to
compare against, loads them as they are read.

A page-number list may shift while it is read (a conversation list ordered by `updatedAt` moves a row to the
front with every message): rows then repeat across pages and others may be skipped. A repeat is the sign; such
a list is read again, keeping the first copy of every row, until a pass sees no repeat.
"""

import hashlib
import json
import logging
import pickle
import tempfile
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from typing import Any

import dlt
import orjson

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


def snapshot_hints(table: str) -> dict[str, Any]:
    """Resource hints of a snapshot table: replaced when rows come, left as it is when none do.

    Declared `merge` on its primary key, and switched to `replace` by `if_changed` just before it yields the
    first row. dlt truncates a table declared `replace` whose resource yielded nothing, and resets a `replace`
    resource's state (the digest) before each extract. A function as the write disposition avoids both, but
    makes dlt compute and validate the table schema for every row (about 3 ms each: most of the extract
    time of 10,000 conversation rows).
    """
    return {"table_name": table, "write_disposition": {"disposition": "merge", "strategy": "delete-insert"}}


def row_digest(row: TRow) -> int:
    """64 bits of the row's content, keys sorted."""
    try:
        encoded = orjson.dumps(row, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    except TypeError:  # an integer past 64 bits (msgspec keeps it exact; orjson refuses it)
        encoded = json.dumps(
            row, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
        ).encode()
    return int.from_bytes(hashlib.blake2b(encoded, digest_size=8).digest(), "big")


def if_changed(pages: Iterable[list[TRow]], table: str, state: MutableMapping[str, Any]) -> Iterator[Any]:
    """The pages of a snapshot, only if it differs from the last loaded one (`state["digest"]`).

    With nothing loaded to compare with (a first load), the rows load as they are read. Otherwise they are spooled
    while the list is read and digested, and loaded only if the digest differs. The new digest is stored with the
    load package, so it advances only with data that reached the destination.
    """
    digest = ListDigest()
    if "digest" not in state:
        yield from _replacing(digest.passing(pages), table)
    else:
        with tempfile.TemporaryFile() as spool:  # pickle keeps datetimes; spooled, memory stays flat
            spooled = 0
            for page in digest.passing(pages):
                pickle.dump(page, spool, protocol=pickle.HIGHEST_PROTOCOL)
                spooled += 1
            if state["digest"] == str(digest):
                return
            spool.seek(0)
            yield from _replacing((pickle.load(spool) for _ in range(spooled)), table)
    state["digest"] = str(digest)


class ListDigest:
    """One order-independent digest of a list: its number of rows and the sum of their digests (`count:sum`)."""

    def __init__(self) -> None:
        self.rows, self.total = 0, 0

    def passing(self, pages: Iterable[list[TRow]]) -> Iterator[list[TRow]]:
        """The non-empty pages, each row added to the digest as it passes."""
        for page in pages:
            if page:
                self.total = (self.total + sum(map(row_digest, page))) % 2**64
                self.rows += len(page)
                yield page

    def __str__(self) -> str:
        return f"{self.rows}:{self.total:016x}"


def _replacing(pages: Iterable[list[TRow]], table: str) -> Iterator[Any]:
    """The pages, loaded in place of the stored table: an empty snapshot yields dlt's empty-table marker, so that
    the table is emptied."""
    resource = dlt.current.resource()
    declared = resource.write_disposition
    resource.apply_hints(write_disposition="replace")
    try:
        empty = True
        for page in pages:
            empty = False
            yield page
        if empty:
            hints = dlt.mark.make_hints(table_name=table, write_disposition="replace")
            yield dlt.mark.with_hints(dlt.mark.materialize_table_schema(), hints)
    finally:
        # Back to the declared disposition once every row is written, or the read failed: running the same
        # source object again must not reset this resource's state (dlt resets a `replace` resource's).
        resource.apply_hints(write_disposition=declared)
