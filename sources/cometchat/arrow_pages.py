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
stored rows are replaced even when none are left. This position-wise dedup is exact when a load receives
each message's copies oldest `version_id` first. `one_copy.py` makes most packages hold one copy per message
(then dlt skips the dedup) and, where one keeps two, hands the listed copy over before the newer one.
"""

import json
import logging
from array import array
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from functools import lru_cache
from itertools import chain
from operator import attrgetter
from typing import Any

import dlt
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from dlt.common.normalizers.naming.snake_case import NamingConvention as SnakeCase
from dlt.common.schema import Schema
from dlt.common.schema.typing import MERGE_DISPOSITION_HINTS, TTableSchemaColumns
from dlt.common.typing import TDataItem
from dlt.extract.resource import DltResource

from .columns import MESSAGE_COLUMNS, MESSAGE_NESTED_HINTS
from .destination_hints import (
    destination_capabilities,
    drop_stored_merge_keys,
    fast_file_format,
    lake_table_format,
)
from .errors import CometChatConfigError
from .message_structs import (
    EXTRA_DATA_FIELDS,
    EXTRA_FIELDS,
    ROLES,
    Entities,
    Entity,
    EntityRef,
    Message,
    MessageData,
    as_message,
)
from .versions import listed_versions

MESSAGES = "messages"
CHILD_KINDS = ("entities", "attachments", "reactions", "mentions", "tags")
SUPERSEDED = "_superseded"
# Message copies per arrow table: 5 pages of 1,000. Larger batches save little time and cost memory.
BATCH_SIZE = 5_000
# Rows per arrow table handed to dlt: a table's batches are held until they have as many. dlt's work per arrow
# table is fixed (it computes and validates the table's schema each time, about 6 ms), and the rows are small in
# arrow: 20,000 messages take about 5 MB, as do 20,000 entity rows.
TABLE_ROWS = 20_000

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


# The stored rows a load replaces: every row of each message it brings. Said as a destination scope because
# dlt would otherwise delete on `primary key OR merge key`, which DuckDB cannot run as a hash join: it
# collects every stored (message_id, _dlt_list_idx) first, work that grows with the history.
CHILD_MERGE = {
    "disposition": "merge",
    "strategy": "delete-insert",
    "destination_scope": "{table}.message_id IN (SELECT message_id FROM {staging_table})",
}


def child_table(kind: str) -> str:
    return f"messages__{kind}"


MESSAGE_TABLES = (MESSAGES, *map(child_table, CHILD_KINDS))
# Rows per message that a slice's files are sized for: an entity row per role. A message has two or three (sender
# and receiver, or by, on and for); the rest is headroom, for the pages a slice reads ahead and the longer lists of
# attachments, reactions, mentions or tags some messages carry.
MOST_ROWS_PER_MESSAGE = len(ROLES)
# The table hints of each message table's declared merge, as dlt writes them into the schema.
_MERGE_HINTS: dict[str, dict[str, Any]] = {
    MESSAGES: {"write_disposition": "merge"},
    **{
        name: {
            "write_disposition": "merge",
            **{hint: CHILD_MERGE[key] for key, hint in MERGE_DISPOSITION_HINTS.items() if key in CHILD_MERGE},
        }
        for name in MESSAGE_TABLES[1:]
    },
}


def table_item(name: str, table: pa.Table) -> Any:
    """An arrow table of one of MESSAGE_TABLES as the messages resource yields it: a child table marked with its
    name, `messages` as it is."""
    return table if name == MESSAGES else dlt.mark.with_table_name(table, name)


class _ArrowNotices(logging.Filter):
    """Drops notices dlt logs as warnings on every batch or load of message tables: that the JSON columns arrive
    as text (their `json` hint is meant to win), and, where rows are written as parquet, that their JSON values
    become text; where the destination takes no parquet (Postgres without ADBC), that the arrow tables are
    converted to its insert format (what the row-wise path did anyway); that
    `version_id`'s dedup_sort is not used when a package declares its staged rows deduplicated; and that the
    merge's column hints are not used where a package is appended."""

    NOTICES = (
        "In resource: messages, when merging arrow schema",
        "yielded as arrow and job file format insert_values",
        # A package that holds each message once skips the dedup by `version_id` (one_copy.py).
        "Staging data is declared as already deduplicated",
        # A package of new messages only is appended (`append_new_messages`): the merge's hints have no use there.
        'with write disposition "append" in schema "cometchat" will be ignored',
        # Where rows with JSON columns are written as parquet (Postgres with an ADBC driver): JSON text is meant.
        "Default conversion to `string` for `data_type=json` failed",
        "Arrow nested values require serialization to STRING",
    )

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(notice in message for notice in self.NOTICES)


def with_child_tables(resource: DltResource) -> DltResource:
    """Declares the child tables on the `messages` resource: each a table variant with its own keys."""
    dlt_logger = logging.getLogger("dlt")
    if not any(isinstance(f, _ArrowNotices) for f in dlt_logger.filters):
        dlt_logger.addFilter(_ArrowNotices())
    for kind in CHILD_KINDS:
        # A new variant starts as a copy of the resource's hints: the empty `columns` drops messages' columns.
        resource.apply_hints(
            table_name=child_table(kind),
            write_disposition=CHILD_MERGE,
            primary_key=("message_id", "_dlt_list_idx"),
            merge_key="",
            columns={},
            create_table_variant=True,
        )
        resource.apply_hints(
            table_name=child_table(kind), columns=CHILD_COLUMNS[kind], create_table_variant=True
        )
    return resource


def use_child_table_merges(primary_key_only: bool) -> None:
    """The child tables' file and table format for the running destination (as `use_destination_hints` sets
    them on `messages`); where it merges on the primary key only (delta tables), `upsert` on
    (`message_id`, `_dlt_list_idx`) instead of `delete-insert`: a stored row past the end of a changed copy's
    list is then removed only up to the longest list this run has seen."""
    drop_stored_merge_keys(map(child_table, CHILD_KINDS), "message_id")
    capabilities = destination_capabilities()
    if capabilities is None:
        return
    table_format = lake_table_format(capabilities)
    resource = dlt.current.resource()
    for kind in CHILD_KINDS:
        # No table to `fast_file_format`: the child tables have no JSON columns (CHILD_COLUMNS).
        resource.apply_hints(
            table_name=child_table(kind),
            file_format=fast_file_format(capabilities),
            table_format=table_format or None,
            create_table_variant=True,
        )
        if primary_key_only:
            resource.apply_hints(
                table_name=child_table(kind),
                write_disposition={"disposition": "merge", "strategy": "upsert"},
                merge_key="",
                create_table_variant=True,
            )


def append_new_messages() -> None:
    """Appends the running package's rows of `messages` and its child tables instead of merging them, from the
    next item on: for a package whose every message is new to the destination. The next package's resource
    starts from the merge again."""
    resource = dlt.current.resource()
    resource.apply_hints(write_disposition="append")
    for kind in CHILD_KINDS:
        resource.apply_hints(
            table_name=child_table(kind), write_disposition="append", create_table_variant=True
        )


def restore_message_merges(schema: Schema) -> bool:
    """Sets `messages` and its child tables back to the merge they declare in `schema` where a package appended
    them (see `cometchat_source(append_last_slice=True)`), hints of the merge included; says whether any was.
    For the caller, once the run's last slice of messages is normalized: a later package carries the schema on."""
    appended = appended_message_tables(schema)
    for name in appended:
        schema.update_table({"name": name, "columns": {}, **_MERGE_HINTS[name]})  # type: ignore[typeddict-item]
    return bool(appended)


def appended_message_tables(schema: Schema) -> list[str]:
    """The message tables that `schema` says a package appended (see `append_new_messages`)."""
    tables = schema.tables
    return [name for name in MESSAGE_TABLES if (tables.get(name) or {}).get("write_disposition") == "append"]


def refuse_nested_child_tables() -> None:
    """Stops with a clear message where the pipeline's schema still has the child tables as dlt nested
    tables (loaded by an earlier version of this source): dlt cannot turn them into root-level tables."""
    tables = dlt.current.source_schema().tables
    nested = sorted(name for name in map(child_table, CHILD_KINDS) if tables.get(name, {}).get("parent"))
    if nested:
        raise CometChatConfigError(
            f"the tables {', '.join(nested)} were loaded by an earlier version of this source as nested "
            "tables and now load column-wise as tables of their own; reload the messages once with "
            "`--full-refresh --resources messages` (pipelines/run.py) or refresh='drop_resources'"
        )


class MessagePages:
    """Turns pages of message copies into one arrow table per table, a batch of `batch_size` message copies
    at a time. dlt's per-table work on each arrow table is fixed, so fewer and larger tables are cheaper: each
    table's batches are held until they have `table_rows` rows or `flush` is called (a batch's Python objects
    are what costs memory, not its arrow table). Most copies have no attachments, reactions, mentions or tags,
    so those tables would otherwise come in small pieces.

    The shapes are those of `shaping.py`. Messages come as `Message` structs (message_structs.py; a dict is
    adapted first). Python puts each copy's values into a row tuple and each child row into one, and they become
    columns once per batch. pyarrow does the rest a column at a time: it parses the integers the API sends as
    text, and builds each copy's `_dlt_id` and the links of the child rows, which are fields of the copy they
    came from (a child row holds only that copy's position in the batch).
    One instance per run: it remembers the longest child list of each kind seen so far, which bounds the
    surplus rows a newer copy drops.
    """

    def __init__(
        self, batch_size: int = BATCH_SIZE, keep_keys: bool = False, table_rows: int = TABLE_ROWS
    ) -> None:
        self.batch_size = batch_size
        self.table_rows = table_rows
        self.longest = dict.fromkeys(CHILD_KINDS, 0)
        # With `keep_keys`: the ids and versions of every copy handed out, for `one_copy.py`. Two growing arrays
        # outside pyarrow's pool: small arrow arrays kept for the whole read would pin its freed pages.
        self.keep_keys = keep_keys
        self.key_ids, self.key_versions = array("q"), array("q")
        self._held: dict[str, list[pa.Table]] = {name: [] for name in MESSAGE_TABLES}
        self._new_batch()

    def add_listed(self, messages: Iterable[TDataItem]) -> Iterator[Any]:
        """Takes messages as a list returned them (as they are now), whose versions pyarrow computes from
        their stamps; yields the tables of a batch once it is full."""
        return self.add((None, message) for message in messages)

    def add(self, copies: Iterable[tuple[int | None, TDataItem]], changed: bool = False) -> Iterator[Any]:
        """Takes (version_id, raw message) pairs, version None for a copy as listed now; yields the tables of a
        batch once it is full. `changed`: the copies may replace copies stored before or added earlier in this
        load (edits, deletes). A message is a `Message` as `decode_message_page` makes it, or a dict."""
        for version, message in copies:
            self._add(version, message if type(message) is Message else as_message(message), changed)
        if len(self._roots) >= self.batch_size:
            yield from self._batch()

    def flush(self) -> Iterator[Any]:
        """The held `messages` table with what was added since the last batch, then each non-empty child table."""
        yield from self._batch()
        for name in MESSAGE_TABLES:
            if self._held[name]:
                yield self._release(name)

    def _batch(self) -> Iterator[Any]:
        """The batch's tables join the held ones; yields those that reach `table_rows`."""
        if not self._roots:
            return
        roots, children, extras = self._roots, self._children, self._extras
        self._new_batch()
        columns = dict(zip(_ROOT_FIELDS, map(list, zip(*roots, strict=True)), strict=True))
        del roots
        ids, versions = _int_array(columns["id"], int), _int_array(columns["version_id"])
        stamps = {name: _int_array(columns[name]) for name in _STAMPS}
        if versions.null_count:
            versions = pc.if_else(pc.is_null(versions), listed_versions(*stamps.values()), versions)
        if self.keep_keys:
            self.key_ids.extend(ids.to_pylist())
            self.key_versions.extend(versions.to_pylist())
        copy_ids = pc.binary_join_element_wise(ids.cast(pa.string()), versions.cast(pa.string()), ":")
        arrays = {"id": ids, "version_id": versions, "_dlt_id": copy_ids}
        arrays.update((name, _timestamps(values)) for name, values in stamps.items())
        messages = _table(columns, ROOT_COLUMNS, arrays)
        for name, values in extras.items():
            values.extend([None] * (len(ids) - len(values)))
            messages = messages.append_column(name, _extra_array(values))
        yield from self._hold(MESSAGES, messages)
        for kind in CHILD_KINDS:
            if children[kind]:
                table = _child_table(children[kind], kind, ids, versions, copy_ids)
                yield from self._hold(child_table(kind), table)

    def _hold(self, name: str, table: pa.Table) -> Iterator[Any]:
        self._held[name].append(table)
        if sum(map(len, self._held[name])) >= self.table_rows:
            yield self._release(name)

    def _release(self, name: str) -> Any:
        # Permissive: a field the API adds later is a column of the batches that have it only.
        table, self._held[name] = pa.concat_tables(self._held[name], promote_options="permissive"), []
        return table_item(name, table)

    def _new_batch(self) -> None:
        # Rows are tuples in the order of _ROOT_FIELDS / (position, index, superseded, *_CHILD_VALUES).
        self._roots: list[tuple] = []
        self._children: dict[str, list[tuple]] = {kind: [] for kind in CHILD_KINDS}
        self._extras: dict[str, list[Any]] = {}

    def _add(self, version: int | None, message: Message, changed: bool) -> None:
        data = message.data or _NO_DATA
        position = len(self._roots)
        self._roots.append(
            (
                message.id,
                message.conversationId,
                message.parentId,
                message.sender,
                message.receiverType,
                message.receiver,
                message.category,
                message.type,
                data.text,
                data.action,
                data.metadata,
                data.customData,
                message.sentAt,
                message.updatedAt,
                message.editedAt,
                message.editedBy,
                message.deletedAt,
                message.deletedBy,
                version,
            )
        )
        # Most copies have no attachments, reactions, mentions or tags: nothing to do for those unless changed.
        if (entities := data.entities) or changed:
            self._children_of("entities", changed, _entity_rows(entities, position))
        if (attachments := data.attachments) or changed:
            self._children_of("attachments", changed, _attachment_rows(attachments, position))
        # The docs put reactions inside `data` in examples and at the top level in the schema.
        if (reactions := data.reactions or message.reactions) or changed:
            self._children_of("reactions", changed, _reaction_rows(reactions, position))
        if (mentions := data.mentions) or changed:
            self._children_of("mentions", changed, _mention_rows(mentions, position))
        if (tags := message.tags) or changed:
            self._children_of(
                "tags", changed, [(position, index, None, value) for index, value in enumerate(tags or ())]
            )
        extras = _extras_of(message)
        if extras.count(None) != len(extras):
            for name, value in zip(EXTRA_FIELDS, extras, strict=True):
                if value is not None:
                    self._extra(name, value, position)
        for name in EXTRA_DATA_FIELDS:
            if (value := getattr(data, name)) is not None:
                self._extra(f"data__{name}", value, position)
        if message.unknown:
            for name, value in message.unknown.items():
                if value is not None:
                    self._extra(name, value, position)

    def _extra(self, field: str, value: Any, position: int) -> None:
        """A field no column holds yet, under its snake_case name (`data__` for fields inside `data`)."""
        values = self._extras.setdefault(_column_name(field), [])
        values.extend([None] * (position - len(values)))
        values.append(value)

    def _children_of(self, kind: str, changed: bool, rows: list[tuple]) -> None:
        target = self._children[kind]
        target += rows
        count, longest = len(rows), self.longest[kind]
        if changed:
            # A changed copy replaces the stored rows and those of earlier copies in this load; at least
            # one flagged row, so that a copy with no rows left still clears the stored ones.
            position = len(self._roots) - 1
            blank = _BLANK[kind]
            target += [(position, index, True, *blank) for index in range(count, max(longest, count + 1))]
        if count > longest:
            self.longest[kind] = count


# Scalar fields of user and group entities kept on `messages__entities` rows.
_ENTITY_FIELDS = ("name", "avatar", "icon", "link", "status", "type", "owner", "scope", "role")
_CHILD_FIELDS = {
    "entities": (
        "role", "entity_type", "entity_id",
        "name", "avatar", "icon", "link", "status", "type", "owner", "scope", "user_role",
    ),
    "attachments": ("url", "name", "mime_type", "extension", "size"),
    "reactions": ("reaction", "count"),
    "mentions": ("uid", "name"),
    "tags": ("value",),
}  # fmt: skip
_NESTED_COLUMNS = {kind: MESSAGE_NESTED_HINTS[kind]["columns"] for kind in CHILD_KINDS if kind != "tags"}
_NESTED_COLUMNS["tags"] = _column("value", "text")
CHILD_COLUMNS: dict[str, TTableSchemaColumns] = {
    kind: {**_LINKS, **{name: _NESTED_COLUMNS[kind][name] for name in fields}}  # type: ignore[dict-item]
    for kind, fields in _CHILD_FIELDS.items()
}
# The values a child row holds: its fields, but for entities the entity itself in place of its scalar fields
# (None unless a user or group), which pyarrow reads a column at a time.
_CHILD_VALUES = {**_CHILD_FIELDS, "entities": (*_CHILD_FIELDS["entities"][:3], "entity")}
_BLANK = {kind: (None,) * len(fields) for kind, fields in _CHILD_VALUES.items()}
_ENTITY_STRUCT = pa.struct([(name, pa.string()) for name in _ENTITY_FIELDS])
# The root row's fields: those of ROOT_COLUMNS but `_dlt_id`.
_ROOT_FIELDS = tuple(name for name in ROOT_COLUMNS if name != "_dlt_id")
_NO_DATA = MessageData()
_NO_ENTITY = Entity()
_entity_scalars = attrgetter(*_ENTITY_FIELDS)
_ROLES = tuple(ROLES)
_roles_of = attrgetter(*ROLES.values())
_extras_of = attrgetter(*EXTRA_FIELDS)
# Not `pa.scalar`, which imports pandas (49 MB) with this module: the loader keeps pandas out of its process
# (pipelines/pandas_hidden.py).
_NO_STRING = pa.nulls(1, pa.string())[0]
# The stamps a listed copy's version comes from, in the order `listed_versions` takes them.
_STAMPS = ("updated_at", "edited_at", "deleted_at", "sent_at")


def _int(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)


def _entity_rows(entities: Entities | None, position: int) -> list[tuple]:
    rows: list[tuple] = []
    if entities is None:
        return rows
    roles = zip(_ROLES, _roles_of(entities), strict=True)
    for role, wrapper in chain(roles, entities.others.items()) if entities.others else roles:
        if wrapper is None:
            continue
        if type(wrapper) is EntityRef:
            entity = wrapper.entity or _NO_ENTITY
            entity_type = wrapper.entityType
            entity_id = entity.uid or entity.guid or entity.id
            scalars = _entity_scalars(entity) if entity_type in ("user", "group") else None
        elif isinstance(wrapper, dict):  # `on`, kept whole, and an adapted message's roles not declared
            entity = wrapper.get("entity") or {}
            entity_type = wrapper.get("entityType")
            entity_id = entity.get("uid") or entity.get("guid") or entity.get("id")
            scalars = tuple(map(entity.get, _ENTITY_FIELDS)) if entity_type in ("user", "group") else None
        else:
            continue
        rows.append((position, len(rows), None, role, entity_type, str(entity_id or ""), scalars))
    return rows


def _attachment_rows(attachments: Any, position: int) -> list[tuple]:
    return [
        (
            position,
            index,
            None,
            a.get("url"),
            a.get("name"),
            a.get("mimeType"),
            a.get("extension"),
            a.get("size"),
        )
        for index, a in enumerate(attachments or ())
    ]


def _reaction_rows(reactions: Any, position: int) -> list[tuple]:
    return [
        (position, index, None, r.get("reaction"), r.get("count")) for index, r in enumerate(reactions or ())
    ]


def _mention_rows(mentions: Any, position: int) -> list[tuple]:
    # A map uid -> user in webhook payloads; tolerate a list of users too.
    users = mentions.values() if isinstance(mentions, dict) else mentions or ()
    return [(position, index, None, u.get("uid"), u.get("name")) for index, u in enumerate(users)]


def _table(
    columns: dict[str, list[Any]], schema: TTableSchemaColumns, arrays: dict[str, pa.Array]
) -> pa.Table:
    """An arrow table of `schema`'s columns: those in `arrays` as they are, the others from `columns`' values."""
    fields = []
    for name, column in schema.items():
        data_type = column["data_type"]
        if name not in arrays:
            arrays[name] = _array(columns[name], data_type)
        fields.append(pa.field(name, _ARROW_TYPES[data_type], nullable=column.get("nullable", True)))
    return pa.Table.from_arrays([arrays[name] for name in schema], schema=pa.schema(fields))


def empty_table(schema: TTableSchemaColumns) -> pa.Table:
    return _table({name: [] for name in schema}, schema, {})


def _array(values: list[Any], data_type: str) -> pa.Array:
    if data_type == "json":
        return _json_texts(values)
    if data_type == "timestamp":
        return _timestamps(_int_array(values))
    if data_type == "bigint":
        return _int_array(values)
    return pa.array(values, _ARROW_TYPES[data_type])


def _timestamps(seconds: pa.Array) -> pa.Array:
    return seconds.cast(pa.timestamp("s", tz="UTC")).cast(_ARROW_TYPES["timestamp"])


def _int_array(values: list[Any], convert: Callable[[Any], int | None] = _int) -> pa.Array:
    """Integers the API sends as numbers or as text (ids), converted a column at a time where pyarrow can;
    otherwise value by value with `convert` (`_int` reads an empty string as null, `int` refuses it)."""
    try:
        array = pa.array(values)
        if pa.types.is_integer(array.type) or pa.types.is_null(array.type) or pa.types.is_string(array.type):
            return array.cast(pa.int64())
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        pass
    return pa.array([convert(value) for value in values], pa.int64())


def _child_table(
    rows: list[tuple], kind: str, ids: pa.Array, versions: pa.Array, copy_ids: pa.Array
) -> pa.Table:
    """A child table: the links come from the copy at each row's position in the batch; a flagged row
    (`_superseded`) has no parent."""
    positions, indexes, superseded, *values = map(list, zip(*rows, strict=True))
    at = pa.array(positions, pa.int64())
    index = pa.array(indexes, pa.int64())
    flagged = pa.array(superseded, pa.bool_())
    parents = copy_ids.take(at)
    links = pc.if_else(pc.is_null(flagged), parents, _NO_STRING)
    arrays = {
        "message_id": ids.take(at),
        "_dlt_root_id": links,
        "_dlt_parent_id": links,
        "_dlt_list_idx": index,
        "_dlt_id": pc.binary_join_element_wise(parents, index.cast(pa.string()), ":"),
        "version_id": versions.take(at),
        SUPERSEDED: flagged,
    }
    columns = dict(zip(_CHILD_VALUES[kind], values, strict=True))
    if kind == "entities":
        scalars = pa.array(columns.pop("entity"), _ENTITY_STRUCT).flatten()
        arrays.update(zip(_CHILD_FIELDS[kind][3:], scalars, strict=True))
    return _table(columns, CHILD_COLUMNS[kind], arrays)


@lru_cache(maxsize=1024)
def _column_name(field: str) -> str:
    # The same few unknown fields come on many messages: normalize each name once.
    return _NAMING.normalize_path(field)


def _extra_array(values: list[Any]) -> pa.Array:
    """Scalars keep their type; objects, lists and mixed types become JSON text."""
    kinds = {type(v) for v in values if v is not None}
    if len(kinds) == 1 and kinds <= {str, int, float, bool, datetime}:
        try:
            return pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            pass
    return _json_texts(values)


def _json_texts(values: list[Any]) -> pa.Array:
    """Each value as JSON text (None stays null)."""
    try:
        return pa.array([None if v is None else orjson.dumps(v).decode() for v in values], pa.string())
    except TypeError:
        # An integer past 64 bits, which msgspec keeps exact and orjson refuses: written as it is.
        texts = [
            None if v is None else json.dumps(v, separators=(",", ":"), ensure_ascii=False) for v in values
        ]
        return pa.array(texts, pa.string())
