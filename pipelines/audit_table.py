"""Whether an existing `tag_changes` table can take this version's audit rows, checked before any PUT.

The first version of the reverse ETL loaded `tag_changes` from Python rows: without the key column `position`,
with dlt's NOT NULL `_dlt_load_id` and `_dlt_id`, and the tag lists as `json` columns. dlt cannot add a NOT
NULL key column to a table that holds rows (DuckDB: "Adding columns with constraints not yet supported"), and
the arrow tables loaded now carry no `_dlt_*` columns, so the audit load would fail after the PUTs were sent.
Such a table is refused up front, with what to do. `json` tag columns (the next version's, keyed and loaded
from arrow) are accepted: they take the JSON text the audit writes now and read back as the same text.
"""

import logging

import dlt
from dlt.common.schema.typing import TTableSchemaColumns
from dlt.destinations.job_client_impl import SqlJobClientBase

from sources.cometchat.errors import CometChatConfigError

logger = logging.getLogger(__name__)

# The types an older version gave a column, which the current rows still load into.
ACCEPTED_TYPES = {"old_tags": {"json"}, "new_tags": {"json"}}


class IncompatibleAuditTable(CometChatConfigError):
    """The destination holds an audit table that this version cannot load into."""


def check_audit_table(pipeline: dlt.Pipeline, table: str, columns: TTableSchemaColumns) -> None:
    """Raises IncompatibleAuditTable when `table` exists in `pipeline`'s dataset and cannot take `columns`.

    Only SQL destinations are checked (their information schema tells what the table holds).
    """
    with pipeline.destination_client() as client:
        if not isinstance(client, SqlJobClientBase):
            return
        [(_, stored)] = list(client.get_storage_tables([table]))
        dataset = client.sql_client.dataset_name
    if not stored:  # no such table (yet, or any more)
        _forget_stale_table(pipeline, table, columns)
        return
    problems = audit_table_problems(stored, columns)
    if problems:
        raise IncompatibleAuditTable(
            f"the table {dataset}.{table} was made by an older version of the connector and cannot take this "
            f"version's audit rows ({'; '.join(problems)}). Nothing was sent. Keep its rows under another name "
            f"(DuckDB or PostgreSQL: ALTER TABLE {dataset}.{table} RENAME TO {table}_v1) or drop it, then run again"
        )


def audit_table_problems(stored: TTableSchemaColumns, columns: TTableSchemaColumns) -> list[str]:
    """What keeps a table with the `stored` columns from taking rows of `columns`."""
    problems = []
    for name, column in columns.items():
        held = stored.get(name)
        if held is None:
            if not column.get("nullable", True):
                problems.append(f"it lacks the column {name}, which cannot be added to a table with rows")
            continue
        held_type, wanted = held.get("data_type"), column.get("data_type")
        if held_type and wanted and held_type != wanted and held_type not in ACCEPTED_TYPES.get(name, ()):
            problems.append(f"its column {name} is {held_type}, not {wanted}")
    for name, held in stored.items():
        if name not in columns and not held.get("nullable", True):
            problems.append(f"its column {name} must be filled, and this version's rows do not carry it")
    return problems


def _forget_stale_table(pipeline: dlt.Pipeline, table: str, columns: TTableSchemaColumns) -> None:
    """A table the dataset no longer holds (renamed or dropped, as the message above says) leaves the pipeline's
    schema too when the columns it had there could not take the rows: else dlt would create it again with them."""
    for schema in pipeline.schemas.values():
        if table in schema.tables and audit_table_problems(schema.get_table_columns(table), columns):
            logger.info("Dropping the older %s definition from the schema %s", table, schema.name)
            schema.drop_tables([table])
