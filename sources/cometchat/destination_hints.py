"""Table hints that depend on the destination a pipeline actually runs against.

Set where each resource's generator starts, at extract time, when dlt has put the pipeline's destination
capabilities in its context; so a user's own `pipeline.run(cometchat_source())` loads as fast and as exactly as
run.py, with no `.dlt/config.toml` and no `loader_file_format` argument.
"""

import importlib.util
import logging
from collections.abc import Iterable
from typing import Any

import dlt
from dlt.common.configuration.container import Container
from dlt.common.destination.capabilities import DestinationCapabilitiesContext
from dlt.common.schema.typing import TColumnSchema, TFileFormat, TLoaderMergeStrategy, TTableFormat

from .errors import CometChatConfigError
from .redaction import redact

logger = logging.getLogger(__name__)

LAKE_TABLE_FORMAT: TTableFormat = "delta"


def destination_capabilities() -> DestinationCapabilitiesContext | None:
    """The capabilities dlt injects while a pipeline extracts; None outside a pipeline or without a destination."""
    return Container().get(DestinationCapabilitiesContext)


def use_destination_hints() -> None:
    """File format and table format of the running resource's tables, for the current destination."""
    capabilities = destination_capabilities()
    if capabilities is None:
        return
    resource = dlt.current.resource()
    table = resource.table_name if isinstance(resource.table_name, str) else resource.name
    columns = resource.columns if isinstance(resource.columns, dict) else None
    # A table whose columns are not known here may have JSON columns; a table without any needs no check.
    with_json = columns is None or any(column.get("data_type") == "json" for column in columns.values())
    table_format = lake_table_format(capabilities)
    if not merge_strategies(capabilities, table_format):
        raise CometChatConfigError(
            "the destination cannot merge, and every CometChat table is merged (an append would duplicate "
            "edited messages and keep members who left); use a destination that merges"
        )
    file_format = fast_file_format(capabilities, table if with_json else None)
    resource.apply_hints(file_format=file_format, table_format=table_format or None)


def fast_file_format(capabilities: DestinationCapabilitiesContext, table: str | None = None) -> TFileFormat:
    """Parquet where the destination loads it natively (about 7x faster than insert_values into DuckDB), else
    the destination's preferred format. Postgres without an ADBC driver thus gets insert_values, no warning.

    `table`: a table with JSON columns that the format is for. Postgres with an ADBC driver creates JSON columns
    as `json` for a parquet load and as `jsonb` for any other, and its parquet copy cannot write into `jsonb`.
    So there such a table gets parquet only where the destination holds no column of it (nor of its staging
    copy) of the other type: a pipeline that loaded before the driver was installed goes on loading
    insert_values."""
    supported = list(capabilities.supported_loader_file_formats or ())
    if capabilities.loader_file_format_selector is not None:
        _, supported = capabilities.loader_file_format_selector(
            capabilities.preferred_loader_file_format, supported, table_schema={}
        )
    if "parquet" not in supported:
        return "preferred"
    if table is not None:
        json_type = _json_type_outside_parquet(capabilities)
        if json_type is not None and _holds_columns_of_type(table, json_type):
            return "preferred"
    return "parquet"


def _json_type_outside_parquet(capabilities: DestinationCapabilitiesContext) -> str | None:
    """The destination type of a JSON column loaded from any file but parquet, where parquet makes another."""
    if capabilities.type_mapper is None:  # a destination that creates no tables (filesystem)
        return None
    mapper = capabilities.get_type_mapper()
    column: TColumnSchema = {"name": "payload", "data_type": "json", "nullable": True}
    parquet_table: Any = {"name": "table", "file_format": "parquet"}
    other_table: Any = {"name": "table"}
    # As text: sqlalchemy's mapper returns type objects, which do not compare equal.
    in_parquet = str(mapper.to_destination_type(column, parquet_table))
    elsewhere = str(mapper.to_destination_type(column, other_table))
    return None if in_parquet == elsewhere else elsewhere


def _holds_columns_of_type(table: str, data_type: str) -> bool:
    """Whether the running pipeline's dataset or staging dataset has a column of `table` of `data_type`; True
    where that cannot be read (the safe answer)."""
    query = (
        "SELECT count(*) FROM information_schema.columns"
        " WHERE table_schema IN (%s, %s) AND table_name = %s AND data_type = %s"
    )
    try:
        with dlt.current.pipeline().sql_client() as client:
            names = (client.dataset_name, client.staging_dataset_name)
            rows = client.execute_sql(query, *names, table, data_type)
    except Exception as error:  # any destination problem: the other format, which always loads
        logger.warning(
            "Loading %s without parquet: its column types could not be read (%s: %s); a table this load creates "
            "keeps that format",
            table,
            type(error).__name__,
            redact(str(error)),
        )
        return True
    return bool(rows and rows[0][0])


def lake_table_format(capabilities: DestinationCapabilitiesContext) -> TTableFormat | None:
    """`delta` where the destination merges only table formats (filesystem), else None."""
    if merge_strategies(capabilities, None) or LAKE_TABLE_FORMAT not in (
        capabilities.supported_table_formats or ()
    ):
        return None
    if importlib.util.find_spec("deltalake") is None:
        raise CometChatConfigError(
            "the filesystem destination merges only delta tables, and the `deltalake` package is not installed "
            "(pip install 'dlt[deltalake]'); without it every run would append duplicates"
        )
    return LAKE_TABLE_FORMAT


def merge_strategies(
    capabilities: DestinationCapabilitiesContext, table_format: TTableFormat | None
) -> list[TLoaderMergeStrategy]:
    supported = list(capabilities.supported_merge_strategies or ())
    if supported and capabilities.merge_strategies_selector is not None:
        supported = list(
            capabilities.merge_strategies_selector(supported, table_schema={"table_format": table_format})
        )
    return supported


def primary_key_merges_only() -> bool:
    """Whether the destination merges only on the primary key (delta tables: upsert, cdc), with no dedup of a
    load's rows, so that a load must hold one row per key."""
    capabilities = destination_capabilities()
    if capabilities is None:
        return False
    strategies = merge_strategies(capabilities, lake_table_format(capabilities))
    return "delete-insert" not in strategies


# A load of group members replaces the stored rows of the groups it brings (what the merge key `guid` would
# do, said as a scope so that a run can also replace every stored row: see `use_group_replacement`).
MEMBERS_MERGE = {
    "disposition": "merge",
    "strategy": "delete-insert",
    "destination_scope": "{table}.guid IN (SELECT guid FROM {staging_table})",
}
# Every stored row: for a run that cannot tell which groups were stored.
WHOLE_TABLE = "1 = 1"


def use_group_replacement(changed_guids: Iterable[str] | None) -> None:
    """Members of the changed groups replace those groups' stored rows; with None (the stored groups are
    unknown, and every group is read), they replace every stored row, so that members of groups deleted since
    go too.

    `delete-insert` where the destination has it; a delta table has only primary-key merges, so there `cdc`
    deletes the stored members in scope that are not loaded. The scope is set on every run: dlt keeps a table's
    last scope in its schema.
    """
    capabilities = destination_capabilities()
    if capabilities is None:
        return
    table_format = lake_table_format(capabilities)
    if "delete-insert" in merge_strategies(capabilities, table_format):
        scope = MEMBERS_MERGE["destination_scope"] if changed_guids is not None else WHOLE_TABLE
        dlt.current.resource().apply_hints(write_disposition={**MEMBERS_MERGE, "destination_scope": scope})
        return
    if changed_guids is None:
        scope = WHOLE_TABLE
    else:
        guids = sorted(set(changed_guids))
        if not guids:
            return
        listed = ", ".join("'" + guid.replace("'", "''") + "'" for guid in guids)
        scope = f"{{table}}.guid IN ({listed})"
    dlt.current.resource().apply_hints(
        write_disposition={"disposition": "merge", "strategy": "cdc", "destination_scope": scope},
    )


def drop_stored_merge_keys(tables: Iterable[str], column: str) -> None:
    """Drops a merge key that earlier versions stored on `column` of these tables: a destination scope replaces
    it (dlt would warn on every load that it ignores it)."""
    stored = dlt.current.source_schema().tables
    for name in tables:
        hints = stored.get(name, {}).get("columns", {}).get(column)
        if hints and hints.get("merge_key"):
            hints.pop("merge_key")
