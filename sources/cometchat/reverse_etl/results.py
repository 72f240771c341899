"""One result per input row: the plan's action and the final status, as rows, a DataFrame or a CSV report;
and the same results as `tag_changes` audit rows, from this run or from a killed run's journal."""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from os import PathLike
from typing import Any

import orjson
import pandas as pd

from .journal import JournaledRun
from .plan import Current, CurrentState, Plan
from .send import PutOutcome
from .status import PROBLEM_STATUSES, Action, Status

RESULT_COLUMNS = (
    "row",
    "on_behalf_of",
    "conversation_id",
    "mode",
    "current_tags",
    "desired_tags",
    "action",
    "status",
    "error",
)
TAG_COLUMNS = ("current_tags", "desired_tags")
# A spreadsheet reads a cell that starts with one of these as a formula; the report prefixes such cells
# with an apostrophe, the usual neutraliser (OWASP, "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
NOT_SENT = "the run was interrupted before this PUT was sent; the tags did not change"
NOT_PLANNED = "the run was interrupted while planning; nothing was sent"
NOT_ANSWERED = "the run was interrupted before the API answered; the tags did not change"


@dataclass(slots=True)
class RowResult:
    position: int  # 1-based, in input order: with run_id, the audit table's key
    row: int
    on_behalf_of: str
    conversation_id: str
    mode: str
    current_tags: list[str]
    desired_tags: list[str]
    action: Action
    status: Status
    error: str
    changed_at: datetime
    canonical_id: str  # the id the API and the loaded tables use (uids of a 1-on-1 id in ascending order)


def row_results(plan: Plan, outcomes: Mapping[int, PutOutcome] | None, at: datetime) -> list[RowResult]:
    """Results in input order; `outcomes` None means a dry run (updates are `planned`)."""
    results = []
    for position, row in enumerate(plan.rows, start=1):
        change = row.change
        error, changed_at = row.reason, at
        if row.action != Action.UPDATE:
            status = Status(str(row.action))
        else:
            outcome = outcomes.get(row.update) if outcomes is not None and row.update is not None else None
            if outcomes is None:
                status = Status.PLANNED
            elif outcome is None:
                status, error = Status.FAILED, NOT_SENT
            else:
                status, error, changed_at = outcome.status, outcome.error, outcome.at
        results.append(
            RowResult(
                position=position,
                row=change.row,
                on_behalf_of=change.on_behalf_of,
                conversation_id=change.conversation_id,
                mode=change.mode,
                current_tags=row.current,
                desired_tags=row.desired,
                action=row.action,
                status=status,
                error=error,
                changed_at=changed_at,
                canonical_id=row.ref.conversation_id if row.ref else change.conversation_id,
            )
        )
    return results


def plan_entries(plan: Plan) -> Iterator[list[Any]]:
    """The plan as the journal keeps it (one compact list per row)."""
    return (
        [
            row.change.row,
            row.change.on_behalf_of,
            row.ref.conversation_id if row.ref else row.change.conversation_id,
            row.change.mode,
            row.current,
            row.desired,
            row.action,
            row.reason,
        ]
        for row in plan.rows
    )


def update_entries(plan: Plan) -> Iterator[list[Any]]:
    """The updates as the journal keeps them: viewer, conversation type, target, id, tags, row positions."""
    return (
        [
            u.viewer,
            u.ref.conversation_type,
            u.ref.target,
            u.ref.conversation_id,
            u.tags,
            [p + 1 for p in u.rows],
        ]
        for u in plan.updates
    )


def results_frame(results: list[RowResult]) -> pd.DataFrame:
    frame = pd.DataFrame({column: [getattr(r, column) for r in results] for column in RESULT_COLUMNS})
    for column in ("action", "status"):
        frame[column] = [str(value) for value in frame[column]]  # plain strings, not enum members
    return frame


AUDIT_FIELDS = (
    "run_id", "position", "row", "viewer_uid", "conversation_id", "mode",
    "old_tags", "new_tags", "status", "error", "changed_at",
)  # fmt: skip


def audit_columns(results: list[RowResult], run_id: str) -> dict[str, list[Any]]:
    """The `tag_changes` rows of this run, one per input row, column by column (tag lists as JSON text)."""
    return {
        "run_id": [run_id] * len(results),
        "position": [r.position for r in results],
        "row": [r.row for r in results],
        "viewer_uid": [r.on_behalf_of for r in results],
        "conversation_id": [r.canonical_id for r in results],
        "mode": [r.mode for r in results],
        "old_tags": [_json(r.current_tags) for r in results],
        "new_tags": [_json(r.desired_tags) for r in results],
        "status": [str(r.status) for r in results],
        "error": [r.error or None for r in results],
        "changed_at": [r.changed_at for r in results],
    }


def records_to_columns(records: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """`journal_records` column by column, as `audit_columns` gives them."""
    columns = {name: [record[name] for record in records] for name in AUDIT_FIELDS}
    for name in ("old_tags", "new_tags"):
        columns[name] = [_json(tags) for tags in columns[name]]
    return columns


def _json(tags: list[str]) -> str:
    return orjson.dumps(tags).decode()


def unanswered(run: JournaledRun) -> list[tuple[str, str, str, str]]:
    """(viewer, conversation type, target, conversation id) of each PUT sent and never answered."""
    if run.plan is None:
        return []
    updates = run.plan["updates"]
    return [tuple(updates[u][:4]) for u in sorted(run.sent - set(run.answers))]  # type: ignore[misc]


def journal_records(run: JournaledRun, live: Mapping[tuple[str, str], CurrentState]) -> list[dict[str, Any]]:
    """The audit rows of a run that ended before its audit load: one per input row, as it would have written.

    A PUT that was never answered is settled by `live`, the tags read before this run sent anything.
    """
    if run.plan is None:
        return [
            _record(
                run,
                position,
                entry[0],
                entry[1],
                entry[2],
                entry[3],
                [],
                [],
                Status.FAILED,
                NOT_PLANNED,
                run.started_at,
            )
            for position, entry in enumerate(run.inputs, start=1)
        ]
    updates = run.plan["updates"]
    by_row: dict[int, int] = {position: u for u, update in enumerate(updates) for position in update[5]}
    records = []
    for position, (row, viewer, conversation_id, mode, old, new, action, reason) in enumerate(
        run.plan["rows"], start=1
    ):
        status, error, at = Status.FAILED, reason, run.plan["at"]
        if action != Action.UPDATE:
            status = Status(action)
        else:
            update = by_row[position]
            answer = run.answers.get(update)
            if answer is not None:
                status, error, at = Status(answer["status"]), answer["error"], answer["at"]
            elif update in run.sent:
                state = live.get((viewer, conversation_id))
                held = isinstance(state, Current) and state.tags == updates[update][4]
                status, error = (Status.APPLIED, "") if held else (Status.FAILED, NOT_ANSWERED)
            else:
                status, error = Status.FAILED, NOT_SENT
        records.append(
            _record(run, position, row, viewer, conversation_id, mode, old, new, status, error, at)
        )
    return records


def _record(
    run: JournaledRun,
    position: int,
    row: int,
    viewer: str,
    conversation_id: str,
    mode: str,
    old: list[str],
    new: list[str],
    status: Status,
    error: str,
    at: str,
) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "position": position,
        "row": row,
        "viewer_uid": viewer,
        "conversation_id": conversation_id,
        "mode": mode,
        "old_tags": old,
        "new_tags": new,
        "status": str(status),
        "error": error or None,
        "changed_at": datetime.fromisoformat(at),
    }


def write_report(results: pd.DataFrame, path: str | PathLike[str]) -> None:
    """The results as CSV (UTF-8), tag lists as JSON arrays, formula-like cells neutralised."""
    report = results.loc[:, list(RESULT_COLUMNS)].copy()
    for column in TAG_COLUMNS:
        report[column] = [_json(list(tags)) for tags in report[column]]
    for column in report.columns:
        if report[column].dtype == object:
            cells = report[column]
            risky = cells.str.startswith(FORMULA_PREFIXES, na=False)
            if risky.any():
                report[column] = cells.mask(risky, "'" + cells.astype(str))
    report.to_csv(path, index=False, encoding="utf-8")


def neutralise(cell: Any) -> Any:
    """`'` in front of a text cell that a spreadsheet would read as a formula; other cells as they are."""
    if isinstance(cell, str) and cell.startswith(FORMULA_PREFIXES):
        return "'" + cell
    return cell


def status_counts(results: pd.DataFrame) -> dict[str, int]:
    counts = results["status"].value_counts()
    return {str(status): int(counts.get(status, 0)) for status in Status if counts.get(status, 0)}


def all_succeeded(results: pd.DataFrame) -> bool:
    """True when no row is rejected or failed (exit status 0)."""
    return not results["status"].isin([str(status) for status in PROBLEM_STATUSES]).any()
