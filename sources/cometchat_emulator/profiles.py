"""Behaviour profiles: named switches for the points where CometChat's documents leave the behaviour open.

The default (no profile) is the best-documented behaviour. Each profile is one plausible alternative; any
of them can be combined (`--profiles capped_pages,numeric_ids`). The README gives the evidence of each.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

PROFILES: dict[str, str] = {
    "unanchored_newest": "fromTimestamp=0 counts as absent; append without any anchor starts at the newest page",
    "anchor_ignores_id": "the id anchor of message lists is ignored; sentAt alone is strictly after on seconds",
    "anchor_inclusive": "the id/sentAt anchors of message lists include the anchor row itself",
    "to_timestamp_exclusive": "toTimestamp of message lists ends before that second instead of including it",
    "to_timestamp_ignored": "message lists ignore toTimestamp",
    "capped_pages": "perPage and limit above 25 are served as 25, without an error",
    "conversations_without_uid": "app-wide GET /conversations rows carry no uid naming their viewer",
    "conversations_shifting": "app-wide GET /conversations is ordered by updatedAt, newest first, and the "
    "first three requests for a later page first see a new message in the list's oldest conversation",
    "conversation_without_tags": "the single-conversation GET and PUT answers carry no tags",
    "conversation_as_array": "the single-conversation GET and PUT answers put the conversation in a list",
    "tags_put_merges": "PUT .../conversation adds the sent tags to the viewer's list instead of replacing it",
    "edits_without_actions": "edits and deletes append no edited/deleted action message to message lists",
    "updates_ignored": "message lists ignore updatedAt and onlyUpdates",
    "keyed_group_data": 'GET /groups answers data as an object keyed "0", "1", ...',
    "numeric_ids": "message id, parentId, meta ids and unreadMessageCount are integers",
}

CAPPED_PAGE_SIZE = 25  # small enough that the test data sets span several pages
SHIFTING_TOUCHES = 3


def validate_profiles(names: Iterable[str]) -> tuple[str, ...]:
    names = tuple(names)
    unknown = [name for name in names if name not in PROFILES]
    if unknown:
        raise ValueError(f"unknown profile(s) {', '.join(unknown)}; choose from {', '.join(PROFILES)}")
    return names


@dataclass(frozen=True)
class Behaviour:
    """The switches of one emulator process, read by the handlers."""

    profiles: frozenset[str] = frozenset()

    def __contains__(self, name: str) -> bool:
        if name not in PROFILES:
            raise KeyError(name)
        return name in self.profiles

    def page_size(self, asked: int) -> int:
        return min(asked, CAPPED_PAGE_SIZE) if "capped_pages" in self else asked
