"""The plan: each row's current tags, read live from the API, its final tag list and its action.

`read_current` reads the app-wide `GET /conversations?withTags=true` (every viewer's rows, ordered by
viewer) when many viewers are affected, and for the viewers it did not cover one paged listing per
viewer, concurrently (never one GET per row); a single `GET …/conversation` only for a conversation
no listing shows. `make_plan` is pure: it merges identical rows, composes add/remove rows in order,
rejects contradictions and over-long lists, and drops no-ops. In mirror mode (`managed_prefix`), a
`set` row replaces only the prefixed tags, and `managed_removals` adds a row for every conversation
that holds prefixed tags the input no longer names.
"""

import logging
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from dlt.common.typing import TDataItem

from ..client import CometChatClient
from ..errors import CometChatApiError, CometChatAuthError
from ..settings import MAX_LIST_PASSES, MAX_WORKERS
from ..snapshots import stable_read
from .changes import GROUP_PREFIX, MAX_TAGS, USER_SEPARATOR, ChangeRow, ConversationRef, id_problem
from .status import Action

logger = logging.getLogger(__name__)

UPDATE = Action.UPDATE
UNCHANGED = Action.UNCHANGED
REJECTED = Action.REJECTED

# From this many affected viewers on, the app-wide list (1,000 rows of any viewer per page) is tried first.
APP_WIDE_MIN_VIEWERS = 10

# Error codes that say a row addresses something the viewer cannot tag: the row is rejected.
# Anything else (5xx after retries, a network failure) stops the run before a single PUT.
_ROW_ERROR_CODES = frozenset(
    {"ERR_CONVERSATION_NOT_ACCESSIBLE", "ERR_UID_NOT_FOUND", "ERR_GUID_NOT_FOUND", "ERR_NOT_A_MEMBER"}
)


@dataclass(frozen=True, slots=True)
class Current:
    """The viewer's tags on the conversation now, and the conversation as the API names it."""

    tags: list[str]
    ref: ConversationRef


@dataclass(frozen=True, slots=True)
class Unavailable:
    """Why the viewer's tags on the conversation cannot be read (and so cannot be changed)."""

    reason: str


CurrentState = Current | Unavailable


@dataclass(slots=True)
class Update:
    """One PUT: the viewer's full final tag list for one conversation, and the rows it serves."""

    viewer: str
    ref: ConversationRef
    old_tags: list[str]
    tags: list[str]
    rows: list[int] = field(default_factory=list)  # positions in Plan.rows


@dataclass(slots=True)
class RowPlan:
    change: ChangeRow
    current: list[str]
    desired: list[str]
    action: str
    reason: str = ""
    update: int | None = None  # position in Plan.updates
    ref: ConversationRef | None = None  # as the API resolved it, else as parsed

    def __post_init__(self) -> None:
        self.ref = self.ref or self.change.ref


@dataclass
class Plan:
    rows: list[RowPlan]
    updates: list[Update]


def read_current(
    client: CometChatClient, changes: Sequence[ChangeRow], max_workers: int = MAX_WORKERS
) -> dict[tuple[str, str], CurrentState]:
    """The live state of every (viewer, conversation) that a usable row addresses."""
    usable = [change for change in changes if change.error is None]
    states: dict[tuple[str, str], CurrentState] = {}
    shared = SharedLists()
    if len({change.on_behalf_of for change in usable}) >= APP_WIDE_MIN_VIEWERS:
        states = _from_app_wide_list(client, usable, shared)
        usable = [change for change in usable if change.key not in states]
    viewers = sorted({change.on_behalf_of for change in usable})
    listings = dict(
        zip(viewers, _concurrently(lambda v: _listing(client, v), viewers, max_workers), strict=True)
    )
    unlisted: dict[tuple[str, str], ChangeRow] = {}
    for change in usable:
        listing = listings[change.on_behalf_of]
        if isinstance(listing, Unavailable):
            states[change.key] = listing
            continue
        assert change.ref is not None
        found = listing.get(change.ref.conversation_id) or listing.get(change.conversation_id)
        if found is not None:
            states[change.key] = Current(shared(_tags_of(found)), _resolved_ref(found, change.ref))
        else:
            unlisted.setdefault(change.key, change)
    if unlisted:
        logger.info("Reading %d conversation(s) that the viewers' lists do not show", len(unlisted))
        fetched = _concurrently(lambda c: _single(client, c), list(unlisted.values()), max_workers)
        states.update(zip(unlisted, fetched, strict=True))
    return states


def _from_app_wide_list(
    client: CometChatClient, changes: Sequence[ChangeRow], shared: "SharedLists"
) -> dict[tuple[str, str], Current]:
    """The changes' states found in the app-wide list, read until all are found or it costs more pages
    than the per-viewer listings it replaces would (the list holds every viewer's rows, not just ours)."""
    wanted = {change.key: change for change in changes}
    budget = len({change.on_behalf_of for change in changes})
    found: dict[tuple[str, str], Current] = {}
    for pages, page in enumerate(client.pages("conversations", {"withTags": "true"}), start=1):
        for row in page:
            key = (str(row.get("uid") or "").lower(), str(row.get("conversationId") or "").lower())
            change = wanted.get(key)
            if change is not None:
                assert change.ref is not None
                # Keyed by the row's own strings: the API's copies of them are dropped with the page.
                found[change.key] = Current(shared(_tags_of(row)), _resolved_ref(row, change.ref))
        if len(found) == len(wanted) or pages >= budget:
            break
    logger.info("The app-wide conversation list held %d of %d conversation(s)", len(found), len(wanted))
    return found


def _listing(client: CometChatClient, viewer: str) -> dict[str, TDataItem] | Unavailable:
    try:
        return {
            str(row["conversationId"]).lower(): row
            for page in _every_row(client, "conversations", viewer, f"{viewer}'s conversation list")
            for row in page
        }
    except CometChatAuthError:
        raise
    except CometChatApiError as error:
        if error.code not in _ROW_ERROR_CODES:
            raise
        return Unavailable(f"viewer {viewer} cannot be read: {error.code}: {error.api_message}")


def _single(client: CometChatClient, change: ChangeRow) -> CurrentState:
    assert change.ref is not None
    return read_one(client, change.on_behalf_of, change.ref)


def read_one(client: CometChatClient, viewer: str, ref: ConversationRef) -> CurrentState:
    """One viewer's tags on one conversation, with `GET /users|groups/{id}/conversation`.

    An answer without `tags` says nothing about them (the API may leave out an empty list, or the field
    altogether): the viewer's own list is read instead.
    """
    try:
        data = client.get(ref.path, {"withTags": "true"}, on_behalf_of=viewer)
    except CometChatAuthError:
        raise
    except CometChatApiError as error:
        if error.code not in _ROW_ERROR_CODES:
            raise
        if error.code == "ERR_CONVERSATION_NOT_ACCESSIBLE":
            return Unavailable(f"{viewer} is not a participant of {ref.conversation_id} ({error.code})")
        return Unavailable(f"{ref.conversation_id} for {viewer}: {error.code}: {error.api_message}")
    conversation = single_conversation(data)
    if conversation is None:
        return Unavailable(f"the API returned no conversation {ref.conversation_id} for {viewer}")
    if not isinstance(conversation.get("tags"), list):
        return _from_listing(client, viewer, ref)
    return Current(_tags_of(conversation), _resolved_ref(conversation, ref))


def _from_listing(client: CometChatClient, viewer: str, ref: ConversationRef) -> CurrentState:
    listing = _listing(client, viewer)
    if isinstance(listing, Unavailable):
        return listing
    found = listing.get(ref.conversation_id)
    if found is None or not isinstance(found.get("tags", []), list):
        return Unavailable(
            f"the API shows neither {viewer}'s tags on {ref.conversation_id} nor the conversation in {viewer}'s list"
        )
    return Current(_tags_of(found), _resolved_ref(found, ref))


def read_each(
    client: CometChatClient, wanted: Sequence[tuple[str, ConversationRef]], max_workers: int = MAX_WORKERS
) -> dict[tuple[str, str], CurrentState]:
    """`read_one` for each (viewer, conversation), concurrently."""
    unique = list(dict.fromkeys(wanted))
    states = _concurrently(lambda item: read_one(client, *item), unique, max_workers)
    return {(viewer, ref.conversation_id): state for (viewer, ref), state in zip(unique, states, strict=True)}


def _every_row(
    client: CometChatClient, path: str, viewer: str | None, what: str
) -> Iterator[list[TDataItem]]:
    """The pages of a conversation list, every row once, though the list moves while it is read.

    Conversation lists are ordered by their last message: one that arrives mid-read moves a row to the
    front, which repeats a row and may skip another. A read that meets a repeat is read again; one that
    keeps moving stops the run (CometChatError) before anything is sent, as a skipped row could be a
    conversation whose tags mirror mode must remove.
    """
    return stable_read(
        lambda: client.pages(path, {"withTags": "true"}, on_behalf_of=viewer),
        _as_is,
        _conversation_key,
        what,
        max_passes=MAX_LIST_PASSES,
    )


def _as_is(row: TDataItem) -> TDataItem:
    return row


def _conversation_key(row: TDataItem) -> str:
    return f"{row.get('uid')}\x00{row.get('conversationId')}"


def single_conversation(data: Any) -> TDataItem | None:
    """`data` of a get/update-conversation answer: an object, or a one-element array (both are seen)."""
    if isinstance(data, list):
        data = data[0] if data else None
    return data if isinstance(data, dict) else None


def _tags_of(conversation: Mapping[str, Any]) -> list[str]:
    return [sys.intern(str(tag)) for tag in conversation.get("tags") or []]


class SharedLists:
    """One list object per distinct tag list: 100,000 conversations hold only a few hundred distinct lists.

    The lists are shared, so nothing may change them in place (compose works on a copy).
    """

    def __init__(self) -> None:
        self._lists: dict[tuple[str, ...], list[str]] = {}

    def __call__(self, tags: list[str]) -> list[str]:
        return self._lists.setdefault(tuple(tags), tags)


def _resolved_ref(conversation: Mapping[str, Any], parsed: ConversationRef) -> ConversationRef:
    """The parsed reference, unless the API says the id belongs to a group (a guid holding `_user_`)."""
    if conversation.get("conversationType") == "group" and parsed.conversation_type == "user":
        conversation_id = str(conversation.get("conversationId") or "").lower()
        partner = conversation.get("conversationWith") or {}
        guid = partner.get("guid") or conversation_id.removeprefix(GROUP_PREFIX)
        return ConversationRef("group", conversation_id, str(guid))
    return parsed


def make_plan(
    changes: Sequence[ChangeRow],
    states: Mapping[tuple[str, str], CurrentState],
    managed_prefix: str | None = None,
) -> Plan:
    """One RowPlan per change, in order, and the PUTs that carry out the rows to update.

    With `managed_prefix`, a `set` row replaces only the tags with that prefix and keeps the others.
    """
    rows: list[RowPlan | None] = [None] * len(changes)
    # The first row of each (viewer, conversation), and all of them only where there are several: a list
    # per key would cost 100,000 lists on a 100,000-row run.
    first: dict[tuple[str, str], int] = {}
    several: dict[tuple[str, str], list[int]] = {}
    shared = SharedLists()
    for position, change in enumerate(changes):
        if change.error is None:
            key = change.key
            if key in first:
                several.setdefault(key, [first[key]]).append(position)
            else:
                first[key] = position
            continue
        state = states.get(change.key) if change.ref is not None else None
        current = state.tags if isinstance(state, Current) else []
        desired = compose(current, [change], managed_prefix) if change.ref is not None else []
        rows[position] = RowPlan(change, current, desired, REJECTED, change.error)
    updates: list[Update] = []
    for key, head in first.items():
        positions = several.get(key) or [head]
        group = [changes[position] for position in positions]
        state = states[key]
        if isinstance(state, Unavailable):
            for position, change in zip(positions, group, strict=True):
                rows[position] = RowPlan(
                    change, [], compose([], [change], managed_prefix), REJECTED, state.reason
                )
            continue
        current = state.tags
        reason = contradiction(group)
        final = shared(compose(current, group, managed_prefix)) if not reason else []
        if not reason and len(final) > MAX_TAGS:
            reason = f"the final list would hold {len(final)} tags; a conversation holds at most {MAX_TAGS}"
        if reason:
            for position, change in zip(positions, group, strict=True):
                rows[position] = RowPlan(
                    change,
                    current,
                    compose(current, [change], managed_prefix),
                    REJECTED,
                    reason,
                    ref=state.ref,
                )
            continue
        action = UPDATE if final != current else UNCHANGED
        update_index = None
        if action == UPDATE:
            update_index = len(updates)
            updates.append(Update(key[0], state.ref, current, final, positions))
        for position, change in zip(positions, group, strict=True):
            rows[position] = RowPlan(change, current, final, action, update=update_index, ref=state.ref)
    assert all(row is not None for row in rows)
    return Plan([row for row in rows if row is not None], updates)


def compose(current: list[str], changes: Iterable[ChangeRow], managed_prefix: str | None = None) -> list[str]:
    """The tag list after the rows in order: set replaces, add appends what is new, remove drops.

    With `managed_prefix`, set replaces the prefixed tags only: the others keep their place in front.
    """
    tags = list(current)
    for mode, requested in _distinct(changes):
        if mode == "set" and managed_prefix is not None:
            tags = [tag for tag in tags if not tag.startswith(managed_prefix)] + list(requested)
        elif mode == "set":
            tags = list(requested)
        elif mode == "add":
            tags += [tag for tag in requested if tag not in tags]
        else:
            tags = [tag for tag in tags if tag not in requested]
    return tags


def contradiction(group: Sequence[ChangeRow]) -> str:
    """Why rows for one viewer and conversation cannot all hold, or "" when they can.

    Identical rows merge. add and remove rows compose in order unless one adds a tag another
    removes. A set row stands only alone (or with identical copies).
    """
    requests = _distinct(group)
    if len(requests) <= 1:
        return ""
    numbers = ", ".join(str(change.row) for change in group)
    if any(mode == "set" for mode, _ in requests):
        return (
            f"rows {numbers} change the same viewer's tags on one conversation differently, "
            "and a set row must be the only change"
        )
    added = {tag for mode, tags in requests if mode == "add" for tag in tags}
    removed = {tag for mode, tags in requests if mode == "remove" for tag in tags}
    both = sorted(added & removed)
    if both:
        return f"rows {numbers} both add and remove {', '.join(repr(tag) for tag in both)}"
    return ""


def _distinct(changes: Iterable[ChangeRow]) -> list[tuple[str, tuple[str, ...]]]:
    seen: list[tuple[str, tuple[str, ...]]] = []
    for change in changes:
        request = (change.mode, tuple(change.tags))
        if request not in seen:
            seen.append(request)
    return seen


T = TypeVar("T")
R = TypeVar("R")


def _concurrently(work: Callable[[T], R], items: Sequence[T], max_workers: int) -> list[R]:
    if len(items) <= 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(items)))) as pool:
        return list(pool.map(work, items))


def read_all(client: CometChatClient, max_workers: int = MAX_WORKERS) -> dict[tuple[str, str], Current]:
    """Every viewer's tags on every conversation: the app-wide list, or each user's own list when the
    app-wide rows do not name their viewer."""
    found: dict[tuple[str, str], Current] = {}
    for page in _every_row(client, "conversations", None, "The app-wide conversation list"):
        for row in page:
            viewer = str(row.get("uid") or "").lower()
            if not viewer:
                logger.info("The app-wide conversation list does not name viewers; reading each user's list")
                return _read_every_users_list(client, max_workers)
            found[(viewer, str(row.get("conversationId") or "").lower())] = _current_of(viewer, row)
    return found


def _read_every_users_list(client: CometChatClient, max_workers: int) -> dict[tuple[str, str], Current]:
    viewers = [str(user["uid"]).lower() for page in client.pages("users") for user in page]
    found: dict[tuple[str, str], Current] = {}
    for viewer, listing in zip(
        viewers, _concurrently(lambda v: _listing(client, v), viewers, max_workers), strict=True
    ):
        if isinstance(listing, Unavailable):
            continue  # a user deleted meanwhile holds no tags any more
        for conversation_id, row in listing.items():
            found[(viewer, conversation_id)] = _current_of(viewer, row)
    return found


def _current_of(viewer: str, row: TDataItem) -> Current:
    conversation_id = str(row.get("conversationId") or "").lower()
    partner = row.get("conversationWith") or {}
    if row.get("conversationType") == "group":
        guid = partner.get("guid") or conversation_id.removeprefix(GROUP_PREFIX)
        return Current(_tags_of(row), ConversationRef("group", conversation_id, str(guid).lower()))
    other = partner.get("uid")
    if not other:
        low, _, high = conversation_id.partition(USER_SEPARATOR)
        other = high if low == viewer else low
    return Current(_tags_of(row), ConversationRef("user", conversation_id, str(other).lower()))


def managed_removals(
    changes: Sequence[ChangeRow], holders: Mapping[tuple[str, str], Current], prefix: str
) -> list[ChangeRow]:
    """A `remove` row for each conversation whose prefixed tags the input no longer names.

    When an input row could not be read (no conversation), the set of managed conversations is not
    known for sure, so the removals are rejected instead of planned.
    """
    addressed = {change.key for change in changes if change.ref is not None}
    unreadable = [change.row for change in changes if change.ref is None]
    removals = []
    number = max((change.row for change in changes), default=0)
    for key in sorted(holders):
        if key in addressed:
            continue
        managed = [tag for tag in holders[key].tags if tag.startswith(prefix)]
        if not managed:
            continue
        number += 1
        removal = ChangeRow(number, key[0], key[1], "remove", managed, ref=holders[key].ref)
        removal.error = id_problem(key[0], "on_behalf_of", in_header=True) or id_problem(
            holders[key].ref.target, "the conversation's id"
        )
        if unreadable and removal.error is None:
            removal.error = (
                f"not removed: row(s) {', '.join(map(str, unreadable[:5]))} name no readable conversation, "
                f"so the complete set of {prefix!r} tags is not known"
            )
        removals.append(removal)
    return removals
