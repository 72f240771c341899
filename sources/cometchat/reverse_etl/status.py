"""The reverse ETL's vocabulary: the action a plan gives a row, the status a row ends with, and the clock."""

from datetime import UTC, datetime
from enum import StrEnum


class Action(StrEnum):
    """What the plan does for a row."""

    UPDATE = "update"  # the final list differs from the current one: one PUT of the full list
    UNCHANGED = "unchanged"  # it does not: nothing is sent
    REJECTED = "rejected"  # the row cannot be used (the reason goes with it)


class Status(StrEnum):
    """How a row ended. A StrEnum, so that results and audit rows compare equal to the plain strings."""

    APPLIED = "applied"
    UNCHANGED = "unchanged"
    REJECTED = "rejected"
    FAILED = "failed"
    PLANNED = "planned"  # an update in a dry run


PROBLEM_STATUSES = (Status.REJECTED, Status.FAILED)


def now() -> datetime:
    """The UTC time that results, journal entries and audit rows carry."""
    return datetime.now(UTC)
