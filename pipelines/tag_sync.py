"""Tag syncs with a record: recover killed runs, run the reverse ETL, load `tag_changes`, refresh the tables.

    results = sync_tags(changes, client, pipeline)               # apply, audit, refresh
    results = sync_tags(changes, client, pipeline, dry_run=True)  # the plan only; nothing sent or loaded
    changes = changes_from_sql(pipeline, "SELECT on_behalf_of, conversation_id, tags FROM ...")

Exactly once: each run writes a journal (sources/cometchat/reverse_etl/journal.py) next to the pipeline's
folder and deletes it only after its audit rows are loaded. Before planning, a run loads the audit rows of
every journal it finds (a run killed before its audit load committed), settling any PUT that was never
answered by the tags the API holds now. The audit table is merged on (run_id, position), so a journal
loaded twice, or a load that committed just before the kill, still gives one row per input row.
"""

import logging
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import dlt
import pandas as pd
import pyarrow as pa
from dlt.common.schema.typing import TTableSchemaColumns

from pipelines.audit_table import check_audit_table
from pipelines.loading import run_load
from sources.cometchat import CometChatClient
from sources.cometchat.reverse_etl import TagRun, run_tag_changes
from sources.cometchat.reverse_etl.changes import DEFAULT_MODE, ConversationRef
from sources.cometchat.reverse_etl.journal import Journal, JournaledRun, leftover_journals
from sources.cometchat.reverse_etl.plan import read_each
from sources.cometchat.reverse_etl.results import (
    audit_columns,
    journal_records,
    records_to_columns,
    unanswered,
)

logger = logging.getLogger(__name__)

AUDIT_TABLE = "tag_changes"
# The loader's schema: the audit table sits next to the conversation tables.
SOURCE_SCHEMA = "cometchat"
CONVERSATION_RESOURCES = ["user_conversations", "group_conversations"]
AUDIT_KEY = ["run_id", "position"]
# Rows per arrow table: dlt's extract buffers grow with the table (10,000-row tables cost 20 MB more).
AUDIT_CHUNK = 2_000
AUDIT_COLUMNS: TTableSchemaColumns = {
    "run_id": {"data_type": "text", "nullable": False, "primary_key": True},
    "position": {"data_type": "bigint", "nullable": False, "primary_key": True},
    "row": {"data_type": "bigint", "nullable": True},
    "viewer_uid": {"data_type": "text", "nullable": False},
    "conversation_id": {"data_type": "text", "nullable": False},
    "mode": {"data_type": "text", "nullable": True},
    # a JSON array as text: one value per row, not a child table per list
    "old_tags": {"data_type": "text", "nullable": True},
    "new_tags": {"data_type": "text", "nullable": True},
    "status": {"data_type": "text", "nullable": False},
    "error": {"data_type": "text", "nullable": True},
    "changed_at": {"data_type": "timestamp", "nullable": False},
}


def journal_dir(pipeline: dlt.Pipeline) -> Path:
    """Next to the pipeline's working folder, which dlt may wipe when it restores state from the destination."""
    return Path(pipeline.pipelines_dir) / f"{pipeline.pipeline_name}_tag_journal"


def sync_tags(
    changes: pd.DataFrame,
    client: CometChatClient,
    pipeline: dlt.Pipeline,
    *,
    dry_run: bool = False,
    default_mode: str = DEFAULT_MODE,
    managed_prefix: str | None = None,
    max_workers: int | None = None,
) -> pd.DataFrame:
    """Runs the reverse ETL and records it in `pipeline`'s dataset; one result row per input row.

    `attrs` of the result: run_id, dry_run, puts_sent, put_retries, seconds, recovered (audit rows of
    earlier killed runs loaded now), phases (seconds per phase) and audit_error (the sends stood, but the
    audit or the refresh failed; the journal stays, so the next run records them).

    Raises:
        IncompatibleAuditTable: the dataset holds a `tag_changes` table of an older version that cannot take
            the audit rows (nothing is sent).
    """
    workers = max_workers or client.max_workers
    started = time.monotonic()
    if not dry_run:
        check_audit_table(pipeline, AUDIT_TABLE, AUDIT_COLUMNS)  # before a PUT that could not be recorded
    recovered = 0 if dry_run else recover_killed_runs(pipeline, client, workers)
    recovery_seconds = time.monotonic() - started
    journal = None if dry_run else Journal(journal_dir(pipeline), str(uuid.uuid4()))
    try:
        run = run_tag_changes(
            changes,
            client,
            dry_run=dry_run,
            default_mode=default_mode,
            managed_prefix=managed_prefix,
            max_workers=workers,
            journal=journal,
        )
    finally:
        if journal is not None:
            journal.close()
    # A killed run's PUTs were never followed by its refresh.
    phases = {"recover": recovery_seconds, **run.phases}
    audit_error = None if dry_run else _record(pipeline, client, run, journal, bool(recovered), phases)
    frame = run.frame()
    frame.attrs.update(
        recovered=recovered, phases=phases, audit_error=audit_error, seconds=sum(phases.values())
    )
    return frame


def recover_killed_runs(pipeline: dlt.Pipeline, client: CometChatClient, max_workers: int) -> int:
    """Loads the audit rows of every run that died before its own audit load; returns how many."""
    runs = leftover_journals(journal_dir(pipeline))
    if not runs:
        return 0
    _finish_interrupted_load(pipeline)
    records = []
    for run in runs:
        records += journal_records(run, _settle_unanswered(client, run, max_workers))
    logger.warning("Recording %d row(s) of %d interrupted run(s) in %s", len(records), len(runs), AUDIT_TABLE)
    load_audit(pipeline, [records_to_columns(records)], merge=True)
    for run in runs:
        run.path.unlink(missing_ok=True)
    return len(records)


def _settle_unanswered(client: CometChatClient, run: JournaledRun, max_workers: int) -> dict[Any, Any]:
    wanted = [
        (viewer, ConversationRef(kind, conversation_id, target))
        for viewer, kind, target, conversation_id in unanswered(run)
    ]
    return read_each(client, wanted, max_workers) if wanted else {}


def _record(
    pipeline: dlt.Pipeline,
    client: CometChatClient,
    run: TagRun,
    journal: Journal | None,
    refresh: bool,
    phases: dict[str, float],
) -> str | None:
    """Loads the audit rows, then refreshes the conversation tables; a failure is returned, not raised.

    Adds the seconds of each to `phases` (audit, refresh).
    """
    problems = []
    started = time.monotonic()
    try:
        load_audit(
            pipeline,
            (
                audit_columns(run.results[start : start + AUDIT_CHUNK], run.run_id)
                for start in range(0, len(run.results), AUDIT_CHUNK)
            ),
        )
    except Exception as error:
        logger.error("Could not load %s: %s", AUDIT_TABLE, error)
        problems.append(f"audit failed (the next run records it): {type(error).__name__}: {error}")
    else:
        if journal is not None:
            journal.discard()
    phases["audit"], started = time.monotonic() - started, time.monotonic()
    if run.sent.puts_sent or refresh:
        try:
            run_load(pipeline, client, resources=CONVERSATION_RESOURCES)
        except Exception as error:
            logger.error("Could not refresh the conversation tables: %s", error)
            problems.append(f"refresh failed: {type(error).__name__}: {error}")
    phases["refresh"] = time.monotonic() - started
    return "; ".join(problems) or None


def load_audit(pipeline: dlt.Pipeline, chunks: Iterable[dict[str, list[Any]]], merge: bool = False) -> None:
    """Writes the rows to `tag_changes` with one dlt load of arrow tables (one per chunk of rows).

    A run's own rows are appended (its run id is new). A killed run's rows are merged on (run_id, position):
    its load may have committed before the kill, and then the same rows replace themselves.
    """
    _finish_interrupted_load(pipeline)

    @dlt.resource(
        name=AUDIT_TABLE,
        write_disposition={"disposition": "merge", "strategy": "delete-insert"} if merge else "append",
        primary_key=AUDIT_KEY,
        columns=AUDIT_COLUMNS,
        max_table_nesting=0,
    )
    def tag_changes() -> Iterator[pa.Table]:
        for columns in chunks:
            if columns["run_id"]:
                yield _audit_table(columns)

    schema = (
        pipeline.schemas[SOURCE_SCHEMA] if SOURCE_SCHEMA in pipeline.schemas else dlt.Schema(SOURCE_SCHEMA)
    )
    pipeline.run(tag_changes(), schema=schema)


def _audit_table(columns: dict[str, list[Any]]) -> pa.Table:
    """An arrow table: dlt loads it without normalizing row by row."""
    types = {
        "run_id": pa.string(), "position": pa.int64(), "row": pa.int64(), "viewer_uid": pa.string(),
        "conversation_id": pa.string(), "mode": pa.string(), "old_tags": pa.string(), "new_tags": pa.string(),
        "status": pa.string(), "error": pa.string(), "changed_at": pa.timestamp("us", tz="UTC"),
    }  # fmt: skip
    schema = pa.schema(
        [pa.field(name, types[name], nullable=AUDIT_COLUMNS[name]["nullable"]) for name in AUDIT_COLUMNS]
    )
    return pa.table(
        {name: pa.array(columns[name], type=types[name]) for name in AUDIT_COLUMNS}, schema=schema
    )


def _finish_interrupted_load(pipeline: dlt.Pipeline) -> None:
    if pipeline.has_pending_data:
        # dlt finishes a package left by an interrupted run and would ignore new data in the same call.
        logger.warning("Finishing the load package of an interrupted run of %s first", pipeline.pipeline_name)
        pipeline.run()


def changes_from_sql(pipeline: dlt.Pipeline, query: str) -> pd.DataFrame:
    """The desired tags from a query on the loaded dataset, read through `pipeline.dataset()`.

    The query names the columns on_behalf_of, conversation_id, tags (a `;`-separated string, a JSON
    array or a list) and optionally mode; table names are the dataset's (qualified by dlt).
    """
    return pipeline.dataset()(query).df()
