"""One copy of each message per load package, so that the destination's merge skips its deduplication.

A package of messages can hold several copies of one message: the copy its page lists, and the changed copies
that edit and delete action messages carry, or that the late-changes pass (updates, lookback) reads again.
dlt deduplicates the staged rows of every merged table with a `ROW_NUMBER()` window per key, which was a third
of DuckDB's load step at 200,000 messages. Here the listed copies stream as before. A changed copy no newer
than the listed copy of its message, read earlier in the package (which is usually read after the change, so
at least as new), is dropped on arrival; the others are held, as arrow tables, until the package's end, where
the newest changed copy of each message is kept only if it is newer than any copy the package listed, and the
tables are declared deduplicated (dlt's `x-stage-data-deduplicated` table hint, which turns the window into a
plain `SELECT`).

A listed copy is handed to dlt before a newer copy of it can arrive, so where one does (a message changed while
the run reads it) or a message was listed twice, the package holds more than one copy: then the hint is set
to false on every message table before its last rows, and dlt deduplicates that package as before (by
`version_id`, with the `_superseded` rows; the listed copy comes first, as that needs).
"""

from array import array
from collections.abc import Iterable, Iterator
from typing import Any

import dlt
import pyarrow as pa
import pyarrow.compute as pc
from dlt.common.typing import TDataItem

from .arrow_pages import (
    BATCH_SIZE,
    CHILD_COLUMNS,
    CHILD_KINDS,
    MESSAGE_TABLES,
    MESSAGES,
    ROOT_COLUMNS,
    MessagePages,
    append_new_messages,
    appended_message_tables,
    child_table,
    empty_table,
    table_item,
)
from .message_structs import stamps
from .versions import copy_version

DEDUPLICATED = "x-stage-data-deduplicated"


def declare_deduplicated(deduplicated: bool) -> None:
    """Sets dlt's staged-data-deduplicated hint on `messages` and its child tables (the running resource's)."""
    resource = dlt.current.resource()
    resource.apply_hints(additional_table_hints={DEDUPLICATED: deduplicated})
    for kind in CHILD_KINDS:
        resource.apply_hints(
            table_name=child_table(kind),
            additional_table_hints={DEDUPLICATED: deduplicated},
            create_table_variant=True,
        )


class OneCopyPerMessage:
    """`MessagePages` for one load package that holds each message once (see the module's docstring).

    Same interface: `add_listed` for copies as a list returns them now, `add` for changed copies, `flush` at the
    package's end. Holds the ids and versions of the listed copies (16 bytes each) and the changed copies as
    arrow tables until `flush`.
    """

    def __init__(self, batch_size: int = BATCH_SIZE) -> None:
        self.listed = MessagePages(batch_size, keep_keys=True)
        self.changed = MessagePages(batch_size)
        # One bound of the surplus rows for both: where the package keeps two copies, the later one covers the
        # listed one's rows.
        self.changed.longest = self.listed.longest
        self.held_versions: dict[int, int] = {}
        # Versions of the listed copies of changed messages (edited, deleted, updated later), which the copies
        # that actions and the updates pass bring are usually no newer than: those are dropped on arrival.
        self.listed_changed: dict[int, int] = {}
        self.held_tables: list[Any] = []
        self.deduplicated: bool | None = None  # known after flush
        # Set by the caller before flush: every message this package lists is new to the destination (not stored,
        # not listed by another package). Then a package with no other copy is appended, not merged.
        self.may_append = False
        self.appended: bool | None = None  # known after flush
        self._current = False

    def add_listed(self, messages: list[TDataItem]) -> Iterator[Any]:
        for message in messages:
            updated, edited, deleted, sent = stamps(message)
            if edited or deleted or updated != sent:
                self.listed_changed[int(message["id"])] = copy_version(message)
        return self.listed.add_listed(messages)

    def add_current(self, copies: list[tuple[int, TDataItem]]) -> Iterator[Any]:
        """Copies as a list returns them now of messages that no other list of this package holds (the lookback
        re-read of messages before the cursor): streamed as listed copies that replace the stored child rows,
        so that a long look back is not held; the changed copies held for them are checked at the end."""
        self._current = True
        return self.listed.add(copies, changed=True)

    def add(self, copies: Iterable[tuple[int | None, TDataItem]], changed: bool = True) -> Iterator[Any]:
        """Holds each changed copy newer than the copies of its message held so far; yields nothing."""
        newer = []
        for version, message in copies:
            if version is None:
                raise ValueError("a changed copy needs its version")
            key = int(message["id"])
            if self.listed_changed.get(key, -1) >= version:
                continue  # listed in this package at least as new: most changed copies, never reshaped
            if self.held_versions.get(key, -1) < version:
                self.held_versions[key] = version
                newer.append((version, message))
        self.held_tables.extend(self.changed.add(newer, changed=True))
        yield from ()

    def flush(self) -> Iterator[Any]:
        """The rest of the listed copies, then the changed copies that win; sets the hints for the package."""
        listed = list(self.listed.flush())  # its last batch, held until the hints are known
        self.held_tables.extend(self.changed.flush())
        kept, deduplicated = self._winners()
        self.deduplicated = deduplicated
        self.appended = self.may_append and deduplicated and not len(kept) and not self._current
        if self.appended:
            # Listed copies of new messages only: no stored row to replace, so the merge's staging and delete
            # would do nothing. The tables that get rows from here on take it into the package's schema.
            append_new_messages()
        if self.held_tables or not deduplicated:
            declare_deduplicated(deduplicated)
        yield from listed
        parts: dict[str, list[pa.Table]] = {}
        for item in self.held_tables:
            name, table = _name_and_table(item)
            parts.setdefault(name, []).append(table)
        self.held_tables = []
        for name in MESSAGE_TABLES:
            tables = parts.pop(name, [])
            if tables:
                table = _only(pa.concat_tables(tables, promote_options="permissive"), name, kept)
            elif not deduplicated:
                # A table with no rows here still takes the changed hint into this package's schema.
                table = _empty(name)
            else:
                continue
            yield table_item(name, table)
        if not self.appended:
            # Where a package appended before this one (in this run), a table that got no row since is still
            # appended in the schema: an empty table takes the merge back.
            yield from (
                table_item(name, _empty(name))
                for name in appended_message_tables(dlt.current.source_schema())
            )

    def _winners(self) -> tuple[pa.Table, bool]:
        """(id, version_id) of the held copies to load (those newer than any copy the package listed), and
        whether the package then holds one copy per id."""
        ids = pa.array(list(self.held_versions), pa.int64())
        versions = pa.array(list(self.held_versions.values()), pa.int64())
        self.held_versions = {}
        listed_ids = pa.array(self.listed.key_ids, pa.int64())
        listed_versions = pa.array(self.listed.key_versions, pa.int64())
        self.listed.key_ids, self.listed.key_versions = array("q"), array("q")
        newest_listed = _newest_listed(ids, listed_ids, listed_versions)
        newer = pc.greater(versions, newest_listed)  # null where not listed
        keep = pc.or_kleene(pc.is_null(newest_listed), newer)
        stale_listed = pc.any(newer).as_py() or False
        kept = pa.table({"id": ids.filter(keep), "version_id": versions.filter(keep)})
        return kept, _all_distinct(listed_ids) and not stale_listed


# Both below avoid a hash table over the listed ids (every message of a package): pyarrow's hash kernels take
# about 225 bytes a value for `count_distinct` (450 MB at 2M messages) and 55 for a value set of `index_in`.


def _all_distinct(values: pa.Array) -> bool:
    """Whether no value repeats, by sorting them (about 16 bytes a value)."""
    if len(values) < 2:
        return True
    ordered = values.take(pc.sort_indices(values))
    return not pc.any(pc.equal(ordered.slice(1), ordered.slice(0, len(values) - 1))).as_py()


def _newest_listed(ids: pa.Array, listed_ids: pa.Array, listed_versions: pa.Array) -> pa.Array:
    """For each of `ids` (the held copies', few), the newest version the package listed of it; null where it
    listed none. The hash table is built over `ids`, and the listed copies are looked up in it."""
    if not len(ids):
        return pa.array([], pa.int64())
    at = pc.index_in(listed_ids, value_set=ids)
    matched = pc.is_valid(at)
    listed = pa.table({"at": at.filter(matched), "version": listed_versions.filter(matched)})
    newest = listed.group_by("at").aggregate([("version", "max")])
    positions = pa.array(range(len(ids)), pa.int32())
    where = pc.index_in(positions, value_set=newest.column("at").combine_chunks())
    return newest.column("version_max").combine_chunks().take(where)


def _name_and_table(item: Any) -> tuple[str, pa.Table]:
    if isinstance(item, pa.Table):
        return MESSAGES, item
    return item.meta.table_name, item.data


def _only(table: pa.Table, name: str, kept: pa.Table) -> pa.Table:
    """The rows of `table` that belong to the kept copies (one version per id)."""
    at = pc.index_in(table.column("id" if name == MESSAGES else "message_id"), value_set=kept.column("id"))
    return table.filter(pc.equal(table.column("version_id"), kept.column("version_id").take(at)))


def _empty(name: str) -> pa.Table:
    return empty_table(ROOT_COLUMNS if name == MESSAGES else CHILD_COLUMNS[name.removeprefix("messages__")])
