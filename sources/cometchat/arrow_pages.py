"""Pages of messages reshaped straight into pyarrow tables, one per table, so that dlt skips its per-row
normalizer (the extract writes them as parquet and the normalize step only moves files).

The child tables (`messages__entities`, `__attachments`, `__reactions`, `__mentions`, `__tags`) are
root-level tables of the `messages` resource, not dlt nested tables: dlt 1.31 cannot take arrow tables
for a nested table (`KeyError('resource')` in `Extract._compute_metrics`, and a nested table may not
carry a `resource`). So each child row carries its links explicitly: `message_id`, and `_dlt_parent_id`/
`_dlt_root_id` pointing at the `_dlt_id` of the message copy it came from.

Merging without dlt's nested-table cascade: a child table is merged `delete-insert` on `message_id`
(every stored child row of a message in the load is replaced), deduplicated on (`message_id`,
`_dlt_list_idx`) keeping the highest `version_id`, as `messages` is. When one load holds several
copies of a message (the original and the copies that edits and deletes carry), the newest copy's rows
win position by position, and the positions past its end are filled with rows flagged `_superseded`
(dlt's `hard_delete`), which drop the older copy's surplus rows and are never stored. A changed copy
always sends at least one such row per child table, so that its `message_id` reaches the merge and the
stored rows are replaced even when none are left.
"""

import logging
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import dlt
import orjson
import pyarrow as pa
from dlt.common.normalizers.naming.snake_case import NamingConvention as SnakeCase
from dlt.common.schema.typing import TTableSchemaColumns
from dlt.extract.resource import DltResource

from .columns import MESSAGE_COLUMNS, MESSAGE_NESTED_HINTS
from .shaping import TRow, shape_message

CHILD_KINDS = ("entities", "attachments", "reactions", "mentions", "tags")
SUPERSEDED = "_superseded"

# Fields of a message and of its `data` that the named columns and child tables already hold; any
# other field becomes a column of its own (a field the API adds later lands as a new column).
_KNOWN_FIELDS = {
    "id", "conversationId", "parentId", "sender", "receiverType", "receiver", "category", "type", "data",
    "sentAt", "updatedAt", "editedAt", "editedBy", "deletedAt", "deletedBy", "tags", "reactions",
}  # fmt: skip
_KNOWN_DATA_FIELDS = {
    "text", "action", "metadata", "customData", "entities", "attachments", "reactions", "mentions",
}  # fmt: skip
_NAMING = SnakeCase()

_ARROW_TYPES = {
    "bigint": pa.int64(),
    "text": pa.string(),
    "json": pa.string(),  # serialized JSON; the column's `json` hint makes the destination type
    "timestamp": pa.timestamp("us", tz="UTC"),
    "bool": pa.bool_(),
}


def _column(name: str, data_type: str, **hints: Any) -> TTableSchemaColumns:
    return {name: {"name": name, "data_type": data_type, "nullable": True, **hints}}  # type: ignore[misc, dict-item]


_LINKS: TTableSchemaColumns = {
    **_column("message_id", "bigint"),
    **_column("_dlt_root_id", "text"),
    **_column("_dlt_parent_id", "text"),
    **_column("_dlt_list_idx", "bigint"),
    **_column("_dlt_id", "text", unique=True),
    **_column("version_id", "bigint", dedup_sort="desc"),
    **_column(SUPERSEDED, "bool", hard_delete=True),
}

ROOT_COLUMNS: TTableSchemaColumns = {**MESSAGE_COLUMNS, **_column("_dlt_id", "text", unique=True)}

CHILD_COLUMNS: dict[str, TTableSchemaColumns] = {
    kind: {**_LINKS, **MESSAGE_NESTED_HINTS[kind]["columns"]}  # type: ignore[dict-item]
    for kind in CHILD_KINDS
    if kind != "tags"
}
CHILD_COLUMNS["tags"] = {**_LINKS, **_column("value", "text")}


def child_table(kind: str) -> str:
    return f"messages__{kind}"


class _JsonAsTextNotice(logging.Filter):
    """dlt warns on every page that the JSON columns arrive as text; the `json` hint is meant to win."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "In resource: messages, when merging arrow schema" not in record.getMessage()


def with_child_tables(resource: DltResource) -> DltResource:
    """Declares the child tables on the `messages` resource: each a table variant with its own keys."""
    dlt_logger = logging.getLogger("dlt")
    if not any(isinstance(f, _JsonAsTextNotice) for f in dlt_logger.filters):
        dlt_logger.addFilter(_JsonAsTextNotice())
    for kind in CHILD_KINDS:
        # A new variant starts as a copy of the resource's hints: the empty `columns` drops messages' columns.
        resource.apply_hints(
            table_name=child_table(kind),
            write_disposition={"disposition": "merge", "strategy": "delete-insert"},
            primary_key=("message_id", "_dlt_list_idx"),
            merge_key="message_id",
            columns={},
            create_table_variant=True,
        )
        resource.apply_hints(
            table_name=child_table(kind), columns=CHILD_COLUMNS[kind], create_table_variant=True
        )
    return resource


class MessagePages:
    """Turns pages of message copies into one arrow table per table. One instance per run: it remembers
    the longest child list of each kind seen so far, which bounds the surplus rows a newer copy drops."""

    def __init__(self) -> None:
        self.longest = dict.fromkeys(CHILD_KINDS, 0)

    def tables(self, copies: Iterable[tuple[int, TRow]]) -> Iterator[Any]:
        """(version_id, raw message) pairs -> the `messages` table, then each non-empty child table."""
        roots: list[TRow] = []
        children: dict[str, list[TRow]] = {kind: [] for kind in CHILD_KINDS}
        extras: dict[str, list[Any]] = {}
        for version, message in copies:
            row = shape_message(message)
            message_id = row["id"]
            copy_id = f"{message_id}:{version}"
            row["version_id"], row["_dlt_id"] = version, copy_id
            for kind in CHILD_KINDS:
                items = row.pop(kind, [])
                if kind == "tags":
                    items = [{"message_id": message_id, "value": value} for value in items]
                rows = children[kind]
                for index, item in enumerate(items):
                    rows.append(_linked(item, copy_id, index, version))
                if version != message_id:
                    # A changed copy replaces the stored rows and those of earlier copies in this load; at
                    # least one flagged row, so that a copy with no rows left still clears the stored ones.
                    for index in range(len(items), max(self.longest[kind], len(items) + 1)):
                        rows.append(_superseding(message_id, copy_id, index, version))
                self.longest[kind] = max(self.longest[kind], len(items))
            _collect_extras(message, extras, len(roots))
            roots.append(row)
        if not roots:
            return
        messages = _table(roots, ROOT_COLUMNS)
        for name, values in extras.items():
            values.extend([None] * (len(roots) - len(values)))
            messages = messages.append_column(name, _extra_array(values))
        yield messages
        for kind in CHILD_KINDS:
            if children[kind]:
                yield dlt.mark.with_table_name(_table(children[kind], CHILD_COLUMNS[kind]), child_table(kind))


def _linked(item: TRow, copy_id: str, index: int, version: int) -> TRow:
    return item | {
        "_dlt_root_id": copy_id,
        "_dlt_parent_id": copy_id,
        "_dlt_list_idx": index,
        "_dlt_id": f"{copy_id}:{index}",
        "version_id": version,
    }


def _superseding(message_id: int, copy_id: str, index: int, version: int) -> TRow:
    return {
        "message_id": message_id,
        "_dlt_list_idx": index,
        "_dlt_id": f"{copy_id}:{index}",
        "version_id": version,
        SUPERSEDED: True,
    }


def _table(rows: list[TRow], columns: TTableSchemaColumns) -> pa.Table:
    arrays, fields = [], []
    for name, column in columns.items():
        values = [row.get(name) for row in rows]
        data_type = column["data_type"]
        if data_type == "json":
            values = [None if v is None else orjson.dumps(v).decode() for v in values]
        arrays.append(pa.array(values, type=_ARROW_TYPES[data_type]))
        fields.append(pa.field(name, _ARROW_TYPES[data_type], nullable=column.get("nullable", True)))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _collect_extras(message: TRow, extras: dict[str, list[Any]], position: int) -> None:
    """Fields no column holds yet, each under a snake_case name (`data__` for fields inside `data`)."""
    found = [(key, value) for key, value in message.items() if key not in _KNOWN_FIELDS]
    data = message.get("data")
    if isinstance(data, dict):
        found += [(f"data__{key}", value) for key, value in data.items() if key not in _KNOWN_DATA_FIELDS]
    for key, value in found:
        if value is None:
            continue
        values = extras.setdefault(_NAMING.normalize_path(key), [])
        values.extend([None] * (position - len(values)))
        values.append(value)


def _extra_array(values: list[Any]) -> pa.Array:
    """Scalars keep their type; objects, lists and mixed types become JSON text."""
    kinds = {type(v) for v in values if v is not None}
    if len(kinds) == 1 and kinds <= {str, int, float, bool, datetime}:
        try:
            return pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            pass
    return pa.array([None if v is None else orjson.dumps(v).decode() for v in values], type=pa.string())
