"""Choosing the rows of one message page: anchors and time bounds by bisect, then lazy filtered iteration."""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice

from .model import KIND_MEMBER_ACTION, KIND_MESSAGE_ACTION, MESSAGE_TYPES, MessageColumns

CATEGORIES = ("message", "action", "custom", "call", "interactive")
TYPES = (*MESSAGE_TYPES, "groupMember", "message", "custom", "meeting", "poll", "sticker", "location")
ConvIsGroup = Callable[[int], bool]


def category_of(kind: int) -> str:
    return "action" if kind >= KIND_MEMBER_ACTION else "message"


def type_of(kind: int) -> str:
    if kind == KIND_MEMBER_ACTION:
        return "groupMember"
    if kind == KIND_MESSAGE_ACTION:
        return "message"
    return MESSAGE_TYPES[kind]


@dataclass
class MessageQuery:
    limit: int = 10
    affix: str = "append"
    anchor_id: int | None = None
    anchor_sent: int | None = None
    from_ts: int | None = None
    to_ts: int | None = None
    offset: int = 0  # page-number mode of the hybrid endpoint and the thread list
    hide_replies: bool = False
    hide_deleted: bool = False
    only_deleted: bool = False
    categories: frozenset[str] = field(default_factory=frozenset)
    types: frozenset[str] = field(default_factory=frozenset)
    sender: int | None = None
    receiver_type: str | None = None
    updated_after: int | None = None  # `updatedAt`: rows sent or changed at or after this second
    only_updates: bool = False  # `onlyUpdates`: of those, only rows changed after they were sent
    anchor_inclusive: bool = False  # profile anchor_inclusive: the anchor row itself is included
    hide_message_actions: bool = False  # profile edits_without_actions

    @property
    def prepend(self) -> bool:
        return self.affix == "prepend"


def bounds(sent: Sequence[int], query: MessageQuery) -> tuple[int, int]:
    """The half-open range of global indices allowed by the time filters and the anchor."""
    n = len(sent)
    lo, hi = 0, n
    if query.from_ts is not None:
        lo = bisect_left(sent, query.from_ts)
        if query.to_ts is not None:
            hi = bisect_right(sent, query.to_ts)
    if query.anchor_id is None and query.anchor_sent is None:
        return lo, hi
    # Index i holds id i+1 and rows are sorted by (sentAt, id), so an anchor maps to one position:
    # `after` is the first index strictly after the anchor, `before` the first index at or after it.
    inclusive = query.anchor_inclusive
    if query.anchor_sent is not None:
        first = bisect_left(sent, query.anchor_sent)
        past = bisect_right(sent, query.anchor_sent)
        if query.anchor_id is None:
            if not query.prepend:
                return max(lo, first if inclusive else past), hi
            return lo, min(hi, past if inclusive else first)
        if not query.prepend:
            return max(lo, min(max(query.anchor_id - inclusive, first), past)), hi
        return lo, min(hi, min(max(query.anchor_id - 1 + inclusive, first), past))
    anchor = query.anchor_id or 0
    if not query.prepend:
        return max(lo, min(max(anchor - inclusive, 0), n)), hi
    return lo, min(hi, min(max(anchor - 1 + inclusive, 0), n))


def _predicate(
    columns: MessageColumns, deletes: dict[int, int], conv_is_group: ConvIsGroup, query: MessageQuery
) -> Callable[[int], bool] | None:
    checks: list[Callable[[int], bool]] = []
    if query.hide_replies:
        parent = columns.parent
        checks.append(lambda i: parent[i] < 0)
    if query.hide_deleted:
        checks.append(lambda i: i not in deletes)
    if query.only_deleted:
        checks.append(lambda i: i in deletes)
    if query.categories:
        kind, categories = columns.kind, query.categories
        checks.append(lambda i: category_of(kind[i]) in categories)
    if query.types:
        kind, types = columns.kind, query.types
        checks.append(lambda i: type_of(kind[i]) in types)
    if query.sender is not None:
        sender, wanted = columns.sender, query.sender
        checks.append(lambda i: sender[i] == wanted)
    if query.receiver_type is not None:
        conv, want_group = columns.conv, query.receiver_type == "group"
        checks.append(lambda i: conv_is_group(conv[i]) == want_group)
    if query.hide_message_actions:
        kind = columns.kind
        checks.append(lambda i: kind[i] != KIND_MESSAGE_ACTION)
    if not checks:
        return None
    if len(checks) == 1:
        return checks[0]
    return lambda i: all(check(i) for check in checks)


def _span(source: Sequence[int], start: int, stop: int, reverse: bool) -> Iterator[int]:
    positions = range(stop - 1, start - 1, -1) if reverse else range(start, stop)
    return (source[k] for k in positions)


def _candidates(sources: list[Sequence[int]] | None, lo: int, hi: int, reverse: bool) -> Iterator[int]:
    if sources is None:
        return iter(range(hi - 1, lo - 1, -1) if reverse else range(lo, hi))
    streams = []
    for source in sources:
        start, stop = bisect_left(source, lo), bisect_left(source, hi)
        if start < stop:
            streams.append(_span(source, start, stop, reverse))
    if len(streams) == 1:
        return streams[0]
    return heapq.merge(*streams, reverse=reverse)


def _updated_candidates(
    sent: Sequence[int],
    updates: Callable[[int], dict[int, int]],
    sources: list[Sequence[int]] | None,
    lo: int,
    hi: int,
    query: MessageQuery,
) -> Iterator[int]:
    """Rows within [lo, hi) changed at or after `updated_after` (and, unless `only_updates`, sent then)."""
    after = query.updated_after or 0
    changed = sorted(i for i, at in updates(after).items() if at >= after and lo <= i < hi)
    if not query.only_updates:
        fresh = range(max(lo, bisect_left(sent, after)), hi)
        changed = sorted(set(changed).union(fresh))
    if sources is not None:
        allowed = set().union(*(set(source) for source in sources)) if sources else set()
        changed = [i for i in changed if i in allowed]
    return iter(reversed(changed) if query.prepend else changed)


def select(
    columns: MessageColumns,
    deletes: dict[int, int],
    conv_is_group: ConvIsGroup,
    sources: list[Sequence[int]] | None,
    query: MessageQuery,
    extra: int = 0,
    updates: Callable[[int], dict[int, int]] | None = None,
) -> list[int]:
    """Up to `limit + extra` message indices in ascending (sentAt, id) order.

    `sources` are sorted index lists (one conversation, several, or a thread); None means every message.
    With `prepend` the rows nearest before the anchor are taken, then returned oldest first.
    `updates(after)` maps the indices of messages changed after they were sent to their `updatedAt`.
    """
    lo, hi = bounds(columns.sent, query)
    wanted = query.limit + extra
    if lo >= hi or wanted <= 0:
        return []
    predicate = _predicate(columns, deletes, conv_is_group, query)
    if query.updated_after is not None and updates is not None:
        candidates = _updated_candidates(columns.sent, updates, sources, lo, hi, query)
    else:
        candidates = _candidates(sources, lo, hi, query.prepend)
    if predicate is not None:
        candidates = filter(predicate, candidates)
    rows = list(islice(candidates, query.offset, query.offset + wanted))
    if query.prepend:
        rows.reverse()
    return rows
