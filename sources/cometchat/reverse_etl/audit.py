"""After the PUTs: the `tag_changes` audit rows, loaded by dlt, and a refresh of the conversation tables."""

import logging
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import dlt
from dlt.common.schema.typing import TTableSchemaColumns

from .. import cometchat_source
from ..client import CometChatClient
from .apply import APPLIED, FAILED
from .changes import ConversationRef
from .journal import JournalEntry
from .plan import Current, CurrentState
from .results import RowResult

logger = logging.getLogger(__name__)

AUDIT_TABLE = "tag_changes"
# The schema (and source) name of the loader: the audit table sits next to the conversation tables.
SOURCE_SCHEMA = "cometchat"
CONVERSATION_RESOURCES = ("user_conversations", "group_conversations")

AUDIT_COLUMNS: TTableSchemaColumns = {
    "run_id": {"data_type": "text", "nullable": False},
    "row": {"data_type": "bigint", "nullable": True},
    "viewer_uid": {"data_type": "text", "nullable": False},
    "conversation_id": {"data_type": "text", "nullable": False},
    "mode": {"data_type": "text", "nullable": True},
    # json: one value per row, not a child table per list
    "old_tags": {"data_type": "json", "nullable": True},
    "new_tags": {"data_type": "json", "nullable": True},
    "status": {"data_type": "text", "nullable": False},
    "error": {"data_type": "text", "nullable": True},
    "changed_at": {"data_type": "timestamp", "nullable": False},
}


def audit_records(results: list[RowResult], run_id: str) -> list[dict[str, Any]]:
    """One audit row per input row of this run."""
    return [
        {
            "run_id": run_id,
            "row": result.row,
            "viewer_uid": result.on_behalf_of,
            "conversation_id": result.canonical_id,
            "mode": result.mode,
            "old_tags": result.current_tags,
            "new_tags": result.desired_tags,
            "status": result.status,
            "error": result.error or None,
            "changed_at": result.changed_at,
        }
        for result in results
    ]


def journal_records(
    leftovers: dict[Path, list[JournalEntry]], live: Mapping[tuple[str, str], CurrentState]
) -> list[dict[str, Any]]:
    """Audit rows for the PUTs of runs that ended before their own audit load (see journal.py).

    A PUT that was never answered is settled by `live`, the tags read before this run sent anything.
    """
    records = []
    for entries in leftovers.values():
        for entry in entries:
            status, error, changed_at = entry.status, entry.error, entry.changed_at or entry.sent_at
            if status is None:
                state = live.get((entry.viewer_uid, entry.conversation_id))
                if isinstance(state, Current) and state.tags == entry.new_tags:
                    status, error = APPLIED, ""
                else:
                    status, error = (
                        FAILED,
                        "the run was interrupted before the API answered; the tags did not change",
                    )
            for source in entry.rows or [{}]:
                records.append(
                    {
                        "run_id": entry.run_id,
                        "row": source.get("row"),
                        "viewer_uid": entry.viewer_uid,
                        "conversation_id": entry.conversation_id,
                        "mode": source.get("mode"),
                        "old_tags": entry.old_tags,
                        "new_tags": entry.new_tags,
                        "status": status,
                        "error": error or None,
                        "changed_at": datetime.fromisoformat(changed_at),
                    }
                )
    if records:
        logger.warning("Recording %d row(s) of an interrupted run in %s", len(records), AUDIT_TABLE)
    return records


def unanswered(leftovers: dict[Path, list[JournalEntry]]) -> list[tuple[str, ConversationRef]]:
    """(viewer, conversation) of every leftover PUT that was sent and never answered."""
    return [
        (entry.viewer_uid, ConversationRef(entry.conversation_type, entry.conversation_id, entry.target))
        for entries in leftovers.values()
        for entry in entries
        if entry.status is None
    ]


def load_audit(pipeline: dlt.Pipeline, records: list[dict[str, Any]]) -> None:
    """Appends the rows to `tag_changes` in the loader's dataset with a normal dlt load."""
    if not records:
        return
    _finish_interrupted_load(pipeline)
    pipeline.activate()

    @dlt.resource(name=AUDIT_TABLE, write_disposition="append", columns=AUDIT_COLUMNS, max_table_nesting=0)
    def tag_changes() -> Iterator[list[dict[str, Any]]]:
        yield records

    schema = (
        pipeline.schemas[SOURCE_SCHEMA] if SOURCE_SCHEMA in pipeline.schemas else dlt.Schema(SOURCE_SCHEMA)
    )
    pipeline.run(tag_changes(), schema=schema)


def refresh_conversations(pipeline: dlt.Pipeline, client: CometChatClient) -> None:
    """Reloads the conversation tables; the source's change detection writes only rows that differ."""
    _finish_interrupted_load(pipeline)
    # The source's schema takes the active pipeline's destination capabilities when it is created.
    pipeline.activate()
    pipeline.run(
        cometchat_source(credentials=client.credentials, client=client).with_resources(
            *CONVERSATION_RESOURCES
        )
    )


def _finish_interrupted_load(pipeline: dlt.Pipeline) -> None:
    if pipeline.has_pending_data:
        # dlt finishes a package left by an interrupted run and would ignore new data in the same call.
        logger.warning("Finishing the load package of an interrupted run of %s first", pipeline.pipeline_name)
        pipeline.run()
