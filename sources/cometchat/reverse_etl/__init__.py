"""Reverse ETL for conversation tags: push per-viewer tags decided in pandas or a spreadsheet back to CometChat.

    from sources.cometchat.reverse_etl import apply_tag_changes, read_changes_csv

    results = apply_tag_changes(read_changes_csv("changes.csv"), client, dry_run=True)

Every row is validated, then planned against the tags the API holds now (never a loaded copy); only
real changes are sent, each as one PUT of the viewer's full final list; every input row gets a
result. Re-running the same changes sends nothing. See README.md in this folder for the format.
"""

import logging
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dlt
import pandas as pd

from ..client import CometChatClient
from .apply import APPLIED, APPLY_PIPELINE_NAME, FAILED, TagApplier
from .audit import AUDIT_TABLE, audit_records, journal_records, load_audit, refresh_conversations, unanswered
from .changes import DEFAULT_MODE, MODES, UnusableChangesFile, changes_from_frame, read_changes_csv
from .journal import Journal, JournalEntry
from .plan import REJECTED, UNCHANGED, UPDATE, make_plan, read_current, read_each
from .results import (
    PLANNED,
    RESULT_COLUMNS,
    all_succeeded,
    results_frame,
    row_results,
    status_counts,
    write_report,
)

__all__ = [
    "APPLIED",
    "AUDIT_TABLE",
    "FAILED",
    "MODES",
    "PLANNED",
    "REJECTED",
    "RESULT_COLUMNS",
    "UNCHANGED",
    "UPDATE",
    "UnusableChangesFile",
    "all_succeeded",
    "apply_tag_changes",
    "read_changes_csv",
    "status_counts",
    "write_report",
]

logger = logging.getLogger(__name__)


def apply_tag_changes(
    changes: pd.DataFrame,
    client: CometChatClient,
    *,
    dry_run: bool = False,
    default_mode: str = DEFAULT_MODE,
    pipeline: dlt.Pipeline | None = None,
    max_workers: int | None = None,
    pipelines_dir: str | None = None,
    apply_pipeline_name: str | None = None,
) -> pd.DataFrame:
    """Validates, plans and (unless `dry_run`) applies conversation tag changes; one result row per input row.

    Args:
        changes: columns `on_behalf_of`, `conversation_id`, `tags` (`a;b`, a JSON array, or a list) and
            optionally `mode` (set, add, remove) and `row` (the number to report; else the 1-based position).
        client: the client whose request budget and retries every GET and PUT share.
        dry_run: plan only: read the current tags, send nothing, load nothing.
        default_mode: the mode of rows whose `mode` is empty.
        pipeline: the loader's pipeline (dataset): after the PUTs, the run's rows are appended to its
            `tag_changes` table and its conversation tables are refreshed. None skips both.
        max_workers: concurrent requests (default: the client's `max_workers`).
        pipelines_dir, apply_pipeline_name: where and under which name the dlt pipeline of the PUT step
            keeps its state and journal (default: `<pipeline name>_tag_apply` next to `pipeline`, else
            `cometchat_tag_apply` in dlt's default folder).

    Returns:
        Columns `row, on_behalf_of, conversation_id, mode, current_tags, desired_tags, action, status, error`
        in input order. `attrs` holds `run_id`, `dry_run`, `puts_sent`, `seconds` and `audit_error`.

    Raises:
        UnusableChangesFile: a required column is missing or there are no rows (nothing is sent).
        CometChatAuthError, CometChatApiError: the credentials fail, or the current tags cannot be read.
    """
    started = time.monotonic()
    run_id = str(uuid.uuid4())
    workers = max_workers or client.max_workers
    rows = changes_from_frame(changes, default_mode)
    states = read_current(client, rows, workers)
    plan = make_plan(rows, states)
    if dry_run:
        frame = results_frame(row_results(plan, None, _now()))
        return _with_attrs(frame, run_id, True, 0, started, None)

    applier = TagApplier(
        client,
        max_workers=workers,
        pipelines_dir=pipelines_dir or (pipeline.pipelines_dir if pipeline is not None else None),
        pipeline_name=apply_pipeline_name
        or (f"{pipeline.pipeline_name}_tag_apply" if pipeline is not None else APPLY_PIPELINE_NAME),
    )
    applier.abort_leftovers()
    journal = Journal(applier.journal_dir, run_id) if pipeline is not None else None
    leftovers = journal.leftovers() if journal is not None else {}
    # Settle the earlier runs' unanswered PUTs by the tags as they are now, before this run changes any.
    pending = [
        (viewer, ref) for viewer, ref in unanswered(leftovers) if (viewer, ref.conversation_id) not in states
    ]
    live = {**states, **read_each(client, pending, workers)}
    recovered = journal_records(leftovers, live)
    if plan.updates:
        logger.info("Sending %d PUT(s) for %d row(s)", len(plan.updates), len(rows))
    outcomes = applier.apply(plan.updates, journal)
    results = row_results(plan, outcomes, _now())
    frame = results_frame(results)
    audit_error = None
    if pipeline is not None and journal is not None:
        audit_error = _record(
            pipeline, client, recovered + audit_records(results, run_id), journal, leftovers
        )
    return _with_attrs(frame, run_id, False, applier.puts_sent, started, audit_error)


def _record(
    pipeline: dlt.Pipeline,
    client: CometChatClient,
    records: list[dict[str, Any]],
    journal: Journal,
    leftovers: dict[Path, list[JournalEntry]],
) -> str | None:
    """Refreshes the conversation tables, then appends the audit rows.

    A failure is logged and returned, not raised, so that the caller still gets the per-row results.
    """
    problems = []
    try:
        refresh_conversations(pipeline, client)
    except Exception as error:
        logger.error("Could not refresh the conversation tables: %s", error)
        problems.append(f"refresh failed: {type(error).__name__}: {error}")
    try:
        load_audit(pipeline, records)
    except Exception as error:
        # The journal files stay, so the next run records these outcomes.
        logger.error("Could not append to %s: %s", AUDIT_TABLE, error)
        problems.append(f"audit failed: {type(error).__name__}: {error}")
    else:
        journal.discard(list(leftovers))
    return "; ".join(problems) or None


def _with_attrs(
    frame: pd.DataFrame, run_id: str, dry_run: bool, puts: int, started: float, audit_error: str | None
) -> pd.DataFrame:
    frame.attrs.update(
        run_id=run_id,
        dry_run=dry_run,
        puts_sent=puts,
        seconds=time.monotonic() - started,
        audit_error=audit_error,
    )
    return frame


def _now() -> datetime:
    return datetime.now(UTC)
