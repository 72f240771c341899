"""Reverse ETL for conversation tags: push per-viewer tags decided in pandas, SQL or a spreadsheet back to CometChat.

    from sources.cometchat.reverse_etl import apply_tag_changes, read_changes_csv

    results = apply_tag_changes(read_changes_csv("changes.csv"), client, dry_run=True)

Validate, plan, send, one plain function each: every row is validated on its own, planned against the
tags the API holds now (never a loaded copy); only real changes are sent, each as one PUT of the viewer's
full final list; every input row gets a result. Re-running the same changes sends nothing. Recording the
results (the `tag_changes` audit table) and refreshing the loaded tables is the caller's part:
`pipelines/tag_sync.py`. See README.md in this folder for the format.
"""

import logging
import time
import uuid
from dataclasses import dataclass, field

import pandas as pd

from ..client import CometChatClient
from .changes import DEFAULT_MODE, MODES, ChangeRow, UnusableChangesFile, changes_from_frame, read_changes_csv
from .journal import Journal
from .plan import CurrentState, make_plan, managed_removals, read_all, read_current, read_each
from .results import (
    RESULT_COLUMNS,
    RowResult,
    all_succeeded,
    plan_entries,
    results_frame,
    row_results,
    status_counts,
    update_entries,
    write_report,
)
from .send import SendReport, send_updates
from .status import Action, Status, now

__all__ = [
    "MODES",
    "RESULT_COLUMNS",
    "Action",
    "Status",
    "TagRun",
    "UnusableChangesFile",
    "all_succeeded",
    "apply_tag_changes",
    "read_changes_csv",
    "run_tag_changes",
    "status_counts",
    "write_report",
]

logger = logging.getLogger(__name__)


@dataclass
class TagRun:
    """One run: every row's result in input order, and what it cost."""

    run_id: str
    dry_run: bool
    results: list[RowResult]
    sent: SendReport = field(default_factory=SendReport)
    phases: dict[str, float] = field(default_factory=dict)  # seconds per phase: validate, read, plan, send

    def frame(self) -> pd.DataFrame:
        """The results as a DataFrame; `attrs` holds run_id, dry_run, puts_sent, put_retries and seconds."""
        frame = results_frame(self.results)
        frame.attrs.update(
            run_id=self.run_id,
            dry_run=self.dry_run,
            puts_sent=self.sent.puts_sent,
            put_retries=self.sent.retries,
            seconds=sum(self.phases.values()),
        )
        return frame


def apply_tag_changes(
    changes: pd.DataFrame,
    client: CometChatClient,
    *,
    dry_run: bool = False,
    default_mode: str = DEFAULT_MODE,
    managed_prefix: str | None = None,
    max_workers: int | None = None,
) -> pd.DataFrame:
    """Validates, plans and (unless `dry_run`) sends conversation tag changes; one result row per input row.

    Nothing is journaled or recorded: `pipelines.tag_sync.sync_tags` does that around `run_tag_changes`.
    See `run_tag_changes` for the arguments; the result is `TagRun.frame()`.
    """
    run = run_tag_changes(
        changes,
        client,
        dry_run=dry_run,
        default_mode=default_mode,
        managed_prefix=managed_prefix,
        max_workers=max_workers,
    )
    return run.frame()


def run_tag_changes(
    changes: pd.DataFrame,
    client: CometChatClient,
    *,
    dry_run: bool = False,
    default_mode: str = DEFAULT_MODE,
    managed_prefix: str | None = None,
    max_workers: int | None = None,
    journal: Journal | None = None,
) -> TagRun:
    """Validate → read the current tags → plan → send (unless `dry_run`).

    Args:
        changes: columns `on_behalf_of`, `conversation_id`, `tags` (`a;b`, a JSON array, or a list) and
            optionally `mode` (set, add, remove) and `row` (the number to report; else the 1-based position).
        client: the client whose request budget and retries every GET and PUT share.
        dry_run: plan only: read the current tags, send nothing.
        default_mode: the mode of rows whose `mode` is empty.
        managed_prefix: mirror mode: the changes are the complete set of tags with this prefix, for every
            conversation; conversations they do not name lose theirs; tags without the prefix are kept.
        max_workers: concurrent requests (default: the client's `max_workers`).
        journal: the write-ahead journal of the run (its run id becomes the run's); None journals nothing.

    Raises:
        UnusableChangesFile: a required column is missing or there are no rows (nothing is sent).
        CometChatAuthError, CometChatApiError: the credentials fail, or the current tags cannot be read.
        OSError: the journal cannot be written (nothing more is sent).
    """
    run_id = journal.run_id if journal is not None else str(uuid.uuid4())
    workers = max_workers or client.max_workers
    phases: dict[str, float] = {}
    clock = time.monotonic()
    rows = changes_from_frame(changes, default_mode, managed_prefix)
    if journal is not None:
        journal.start(([r.row, r.on_behalf_of, r.conversation_id, r.mode] for r in rows), now().isoformat())
    phases["validate"], clock = time.monotonic() - clock, time.monotonic()
    rows, states = _read(client, rows, managed_prefix, workers)
    phases["read"], clock = time.monotonic() - clock, time.monotonic()
    plan = make_plan(rows, states, managed_prefix)
    del states  # the plan holds what it needs; a 100,000-row run need not keep the lookup too
    phases["plan"], clock = time.monotonic() - clock, time.monotonic()
    if dry_run:
        return TagRun(run_id, True, row_results(plan, None, now()), phases=phases)
    planned_at = now()
    if journal is not None:
        journal.planned(plan_entries(plan), update_entries(plan), planned_at.isoformat())
    phases["journal_plan"], clock = time.monotonic() - clock, time.monotonic()
    if plan.updates:
        logger.info("Sending %d PUT(s) for %d row(s)", len(plan.updates), len(rows))
    sent = send_updates(client, plan.updates, workers, journal)
    phases["send"], clock = time.monotonic() - clock, time.monotonic()
    results = row_results(plan, sent.outcomes, planned_at)
    sent.outcomes.clear()  # the results hold them now; a 100,000-row run need not keep both
    phases["results"] = time.monotonic() - clock
    return TagRun(run_id, False, results, sent, phases)


def _read(
    client: CometChatClient, rows: list[ChangeRow], managed_prefix: str | None, workers: int
) -> tuple[list[ChangeRow], dict[tuple[str, str], CurrentState]]:
    """The rows to plan and the current state of each (viewer, conversation) they address."""
    if managed_prefix is None:
        return rows, read_current(client, rows, workers)
    # Mirror mode needs every conversation's tags: the removals are the conversations no row names.
    holders = read_all(client, workers)
    rows = rows + managed_removals(rows, holders, managed_prefix)
    states: dict[tuple[str, str], CurrentState] = {**holders}
    missing = [
        (r.on_behalf_of, r.ref) for r in rows if r.ref is not None and r.error is None and r.key not in states
    ]
    states.update(read_each(client, missing, workers))
    return rows, states
