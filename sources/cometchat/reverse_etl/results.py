"""One result per input row: the plan's action and the final status, as a DataFrame or a CSV report."""

import json
from dataclasses import dataclass
from datetime import datetime
from os import PathLike

import pandas as pd

from .apply import APPLIED, FAILED, PutOutcome
from .plan import REJECTED, UNCHANGED, UPDATE, Plan

PLANNED = "planned"  # an update in a dry run
STATUSES = (APPLIED, UNCHANGED, REJECTED, FAILED, PLANNED)
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


@dataclass
class RowResult:
    row: int
    on_behalf_of: str
    conversation_id: str
    mode: str
    current_tags: list[str]
    desired_tags: list[str]
    action: str
    status: str
    error: str
    changed_at: datetime
    canonical_id: str  # the id the API and the loaded tables use (uids of a 1-on-1 id in ascending order)


def row_results(plan: Plan, outcomes: dict[int, PutOutcome] | None, at: datetime) -> list[RowResult]:
    """Results in input order; `outcomes` None means a dry run (updates are `planned`)."""
    results = []
    for row in plan.rows:
        change = row.change
        status, error, changed_at = row.action, row.reason, at
        if row.action == UPDATE:
            if outcomes is None:
                status = PLANNED
            else:
                outcome = outcomes.get(row.update) if row.update is not None else None
                status, error = (outcome.status, outcome.error) if outcome else (FAILED, "not sent")
                changed_at = outcome.at if outcome else at
        results.append(
            RowResult(
                row=change.row,
                on_behalf_of=change.on_behalf_of,
                conversation_id=change.conversation_id,
                mode=change.mode,
                current_tags=list(row.current),
                desired_tags=list(row.desired),
                action=row.action,
                status=status,
                error=error,
                changed_at=changed_at,
                canonical_id=row.ref.conversation_id if row.ref else change.conversation_id,
            )
        )
    return results


def results_frame(results: list[RowResult]) -> pd.DataFrame:
    return pd.DataFrame(
        [{column: getattr(result, column) for column in RESULT_COLUMNS} for result in results],
        columns=list(RESULT_COLUMNS),
    )


def write_report(results: pd.DataFrame, path: str | PathLike[str]) -> None:
    """The results as CSV (UTF-8), tag lists written as JSON arrays."""
    report = results.loc[:, list(RESULT_COLUMNS)].copy()
    for column in TAG_COLUMNS:
        report[column] = [json.dumps(list(tags), ensure_ascii=False) for tags in report[column]]
    report.to_csv(path, index=False, encoding="utf-8")


def status_counts(results: pd.DataFrame) -> dict[str, int]:
    counts = results["status"].value_counts()
    return {status: int(counts.get(status, 0)) for status in STATUSES if counts.get(status, 0)}


def all_succeeded(results: pd.DataFrame) -> bool:
    """True when no row is rejected or failed (exit status 0)."""
    return not results["status"].isin([REJECTED, FAILED]).any()
