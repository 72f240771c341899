"""dlt source for the CometChat REST API v3: users, groups, members, conversations and messages.

Credentials live in `[sources.cometchat.credentials]` (app_id, region, api_key, base_url) of
.dlt/secrets.toml, or in the matching `SOURCES__COMETCHAT__CREDENTIALS__*` environment variables; the
request budget in `[sources.cometchat]`. Building the source makes no API calls.
"""

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import chain
from typing import Any

import dlt
import pyarrow as pa
from dlt.common.typing import TDataItem
from dlt.sources import DltResource

from .arrow_pages import (
    MessagePages,
    refuse_nested_child_tables,
    restore_message_merges,
    use_child_table_merges,
    with_child_tables,
)
from .client import CometChatClient, group_path
from .columns import (
    CONVERSATION_COLUMNS,
    GROUP_COLUMNS,
    MEMBER_COLUMNS,
    MESSAGE_COLUMNS,
    USER_COLUMNS,
)
from .credentials import CometChatCredentials
from .destination_hints import (
    MEMBERS_MERGE,
    drop_stored_merge_keys,
    primary_key_merges_only,
    use_destination_hints,
    use_group_replacement,
)
from .errors import CometChatConfigError, CometChatError, CometChatNotFoundError
from .gc_pauses import fewer_collections
from .ids import id_problem, safe_repr
from .memory import release_freed_memory, serve_large_allocations_apart, share_malloc_arenas
from .message_structs import plain, stamps
from .one_copy import OneCopyPerMessage, declare_deduplicated
from .read_ahead import read_ahead
from .redaction import redact
from .settings import (
    DEFAULT_BACKFILL_WINDOWS,
    DEFAULT_LATE_CHANGES,
    DEFAULT_LOOKBACK_SECONDS,
    DEFAULT_REQUESTS_PER_MINUTE,
    FIRST_TIMESTAMP,
    GONE_ERROR_CODES,
    LAST_ID,
    LATE_CHANGES_MODES,
    MAX_WORKERS,
    REQUEST_DEADLINE_SECONDS,
)
from .shaping import (
    CONVERSATION_FIELDS,
    changed_message,
    changed_message_id,
    shape_conversation,
    shape_group,
    shape_member,
    shape_user,
)
from .snapshots import if_changed, row_digest, snapshot_hints, stable_read, unique_pages
from .versions import copy_version
from .windows import ForwardRead, changed_before, check_message_range, run_start

__all__ = [
    "CometChatClient",
    "CometChatCredentials",
    "cometchat_source",
    "more_messages",
    "restore_message_merges",
]

logger = logging.getLogger(__name__)


@dlt.source(name="cometchat", max_table_nesting=1)
def cometchat_source(
    credentials: CometChatCredentials = dlt.secrets.value,
    requests_per_minute: float = DEFAULT_REQUESTS_PER_MINUTE,
    max_workers: int = MAX_WORKERS,
    request_deadline_seconds: float = REQUEST_DEADLINE_SECONDS,
    messages_per_load: int | None = None,
    late_changes: str = DEFAULT_LATE_CHANGES,
    message_lookback_seconds: int = DEFAULT_LOOKBACK_SECONDS,
    messages_from: int | None = None,
    messages_until: int | None = None,
    backfill_windows: int = DEFAULT_BACKFILL_WINDOWS,
    client: CometChatClient | None = None,
    append_last_slice: bool = False,
) -> Sequence[DltResource]:
    """Every user, group, membership, per-viewer conversation and message of one CometChat app.

    Args:
        credentials: the app's id, region and REST API key, from `[sources.cometchat.credentials]`.
        requests_per_minute: the request budget shared by every call of the run (free plan: 500).
        max_workers: concurrent requests to the API (at most `max_workers + 2` open connections).
        request_deadline_seconds: the longest a whole response (connect and every read) may take
            before it is retried like a timeout.
        messages_per_load: None (the default) loads every new message in this run. A number stops the
            messages once that many are read, with the pages already read ahead; `more_messages(pipeline)` then
            says whether to run again. For
            destinations whose merge must stay small (a memory-capped DuckDB), as `run_load` does.
        late_changes: how later edits, deletes, reactions and reply counts of loaded messages land:
            "updates" (default; one request per run when nothing changed), "lookback" (re-reads the last
            `message_lookback_seconds` of messages each run) or "none" (action messages only).
        messages_from, messages_until: Unix seconds; a range of `sentAt` (`messages_from` inclusive,
            `messages_until` exclusive) for backfill shards. With `messages_until`, the messages and their
            child tables are exactly those sent in `[messages_from, messages_until)`: a shard with its own
            page cursor in state (a killed shard resumes) and no late-change pass. With `messages_from`
            alone, a new pipeline starts reading there, and its late-change pass starts there too: it is the
            ongoing pipeline that follows a backfill ending at `messages_from`, and picks up the changes made
            to backfilled messages from then on. See `sources/cometchat/windows.py` to cut a range.
        backfill_windows: when the message cursor is far behind (the first run, or a backlog whose first page
            is full), the range up to the newest message is cut into this many time windows, read
            concurrently within the one request budget (on four connections, up to `max_workers` where the
            API answers slowly), each with its own cursor in state. 1 reads with the one sequential cursor.
        client: a ready client for these credentials, for callers that want its request statistics.
        append_last_slice: with `messages_per_load`, the slices of a first load (every message new to the
            destination) are appended, not merged, but for the last one, which leaves the merge in the
            pipeline's schema for the runs after it. True appends that one too: for a caller that restores the
            merge itself once the slice's package is normalized (`restore_message_merges`), as `run_load` does.
    """
    if isinstance(backfill_windows, bool) or not isinstance(backfill_windows, int) or backfill_windows < 1:
        raise CometChatConfigError(f"backfill_windows must be a whole number >= 1, not {backfill_windows!r}")
    check_message_range(messages_from, messages_until)
    if client is None:
        client = CometChatClient(
            credentials,
            requests_per_minute=requests_per_minute,
            max_workers=max_workers,
            request_deadline_seconds=request_deadline_seconds,
        )
    return (
        users(client),
        groups(client),
        group_members(client),
        conversations(client, "user"),
        conversations(client, "group"),
        messages(
            client,
            messages_per_load,
            late_changes,
            message_lookback_seconds,
            messages_from=messages_from,
            messages_until=messages_until,
            backfill_windows=backfill_windows,
            append_last_slice=append_last_slice,
        ),
    )


def users(client: CometChatClient) -> DltResource:
    """Every user, deactivated ones included. A snapshot: a user deleted in CometChat leaves the table."""

    @dlt.resource(name="users", primary_key="uid", columns=USER_COLUMNS, **snapshot_hints("users"))
    def users_resource() -> Iterator[Any]:
        use_destination_hints()
        pages = client.pages("users", {"withTags": "true", "withDeactivated": "true"}, ahead=True)
        rows = unique_pages((map(shape_user, page) for page in pages), _by("uid"))
        yield from if_changed(rows, "users", dlt.current.resource_state())

    return users_resource


def groups(client: CometChatClient) -> DltResource:
    """Every group. A snapshot: a group deleted in CometChat leaves the table."""

    @dlt.resource(name="groups", primary_key="guid", columns=GROUP_COLUMNS, **snapshot_hints("groups"))
    def groups_resource() -> Iterator[Any]:
        use_destination_hints()
        pages = client.pages("groups", {"withTags": "true"}, ahead=True)
        rows = unique_pages((map(shape_group, page) for page in pages), _by("guid"))
        yield from if_changed(rows, "groups", dlt.current.resource_state())

    return groups_resource


def group_members(client: CometChatClient) -> DltResource:
    """Memberships of the groups whose member count or update time changed since their rows were loaded.

    Each member row carries that group's `group_version` (`membersCount:updatedAt`), so the versions loaded
    are read back from the destination instead of being kept per group in dlt state. A changed group's
    rows are replaced whole (every stored row of its `guid`), so members who left disappear; a group that is
    gone from the API gets one row flagged `removed` (dlt's hard_delete hint), which deletes its rows and is not
    stored. Where the stored versions cannot be read (a first run, or a destination query that fails), every
    group is read and its members replace every stored row.
    """

    @dlt.resource(
        name="group_members",
        primary_key=("guid", "uid"),
        write_disposition=MEMBERS_MERGE,
        columns=MEMBER_COLUMNS,
    )
    def group_members_resource() -> Iterator[Any]:
        use_destination_hints()
        drop_stored_merge_keys(["group_members"], "guid")
        state = dlt.current.resource_state()
        # After a first run or a refresh (state reset) the destination's rows are not trusted: read every group.
        loaded = _loaded_group_versions() if state.get("loaded") else None
        current: set[str] = set()
        changed: dict[str, str] = {}
        for page in client.pages("groups", ahead=True):
            for group in page:
                guid = group["guid"]
                if guid in current or _unusable_id(guid, "guid", "its members are not loaded"):
                    continue
                current.add(guid)
                version = f"{group.get('membersCount')}:{group.get('updatedAt')}"
                if loaded is None or loaded.get(guid) != version:
                    changed[guid] = version
        gone = sorted(set(loaded or ()) - current)
        # Unknown stored versions: every group was read, and its members replace every stored row.
        use_group_replacement(None if loaded is None else [*changed, *gone])
        # Where the destination merges only on the primary key (delta), its cdc replacement of exactly these
        # groups deletes their stored members; elsewhere a row flagged `removed` does (scope: its `guid`).
        markers = not primary_key_merges_only()
        for guid, version in changed.items():
            yield _members_of(client, guid, version, markers)
        if gone and markers:
            yield [{"guid": guid, "uid": "", "removed": True} for guid in gone]
        elif loaded is None and not changed:
            yield _no_members(markers)  # no group left: the merge still runs, and replaces every stored row
        state["loaded"] = True

    return group_members_resource


def _no_messages_stored() -> bool:
    """Whether the destination holds no message yet: this pipeline's schema never loaded one, and `messages` has
    no row, or cannot be queried (no such table or dataset before a first load)."""
    if (dlt.current.source_schema().tables.get("messages") or {}).get("x-normalizer", {}).get("seen-data"):
        return False
    try:
        return not dlt.current.pipeline().dataset()("SELECT 1 FROM messages LIMIT 1").fetchall()
    except Exception:  # no such table (or dataset) yet: the first load
        return True


def _loaded_group_versions() -> dict[str, str] | None:
    """guid -> group_version of the member rows in the destination; None when it cannot be read."""
    try:
        query = "SELECT DISTINCT guid, group_version FROM group_members"
        rows = dlt.current.pipeline().dataset()(query).fetchall()
    except Exception as error:  # any destination problem means: read every group
        logger.warning(
            "Reading every group's members: their stored versions could not be read (%s: %s)",
            type(error).__name__,
            redact(str(error)),
        )
        return None
    versions: dict[str, str] = {}
    for guid, version in rows:
        # Two versions of one group can only come from an interrupted load: then it is read again.
        versions[guid] = "" if guid in versions else version
    return versions


def _no_members(markers: bool) -> list[TDataItem] | pa.Table:
    """A load of group members with none in it, so that the merge runs: one flagged row that is not stored, or
    where flags delete nothing (delta's cdc), an empty table, which dlt still loads."""
    if markers:
        return [{"guid": "", "uid": "", "removed": True}]
    return pa.table({"guid": pa.array([], pa.string()), "uid": pa.array([], pa.string())})


@dlt.defer
def _members_of(client: CometChatClient, guid: str, version: str, markers: bool = True) -> list[TDataItem]:
    try:
        pages = client.pages(group_path(guid, "members"))
        shaped = (
            (shape_member(guid, member) | {"group_version": version} for member in page) for page in pages
        )
        rows = [row for page in unique_pages(shaped, _by("uid")) for row in page]
    except CometChatNotFoundError as error:
        _warn_gone(error)
        rows = []
    # No member left (or the group is gone): one flagged row clears the group's stored rows.
    return rows or ([{"guid": guid, "uid": "", "removed": True}] if markers else [])


def conversations(client: CometChatClient, conversation_type: str) -> DltResource:
    """Every (viewer, conversation) of one type, with that viewer's unread count and tags.

    A snapshot: a conversation a viewer deleted, or left with a group, leaves the table. The app-wide list
    names each row's viewer in `uid`; where it does not, each user's own list is read instead, one request
    per viewer, concurrently.
    """

    table = f"{conversation_type}_conversations"

    @dlt.resource(
        name=table,
        primary_key=("viewer_uid", "conversation_id"),
        columns=CONVERSATION_COLUMNS,
        **snapshot_hints(table),
    )
    def conversations_resource() -> Iterator[Any]:
        use_destination_hints()
        params = {"conversationType": conversation_type, "withTags": "true"}
        pages = client.pages("conversations", params, ahead=True, decode=CONVERSATION_FIELDS)
        first_page = next(pages, [])
        if all("uid" in row for row in first_page):
            first_pass = iter([chain([first_page], pages)])
            rows = stable_read(
                lambda: (
                    next(first_pass, None)
                    or client.pages("conversations", params, ahead=True, decode=CONVERSATION_FIELDS)
                ),
                lambda row: shape_conversation(row["uid"], row),
                _conversation_key,
                "GET /conversations",
            )
        else:
            logger.info("The app-wide conversation list does not name viewers: reading each user's list")
            rows = _conversations_per_viewer(client, params)
        yield from if_changed(rows, table, dlt.current.resource_state())

    return conversations_resource


def _conversations_per_viewer(client: CometChatClient, params: dict[str, str]) -> Iterator[list[TDataItem]]:
    """Each user's own conversation list, read concurrently (max_workers), in the order of the users.

    A thread pool rather than dlt.defer: the whole list must pass through one generator to be digested.
    """
    with ThreadPoolExecutor(max_workers=client.max_workers, thread_name_prefix="cometchat-viewers") as pool:
        viewers = unique_pages(client.pages("users", ahead=True), _by("uid"))
        for users_page in viewers:
            usable = [
                user
                for user in users_page
                if not _unusable_id(user["uid"], "uid", "its conversations are not loaded", in_header=True)
            ]
            yield from pool.map(lambda user: _conversations_of(client, user["uid"], params), usable)


def _conversations_of(client: CometChatClient, viewer_uid: str, params: dict[str, str]) -> list[TDataItem]:
    try:
        pages = stable_read(
            lambda: client.pages(
                "conversations", params, on_behalf_of=viewer_uid, decode=CONVERSATION_FIELDS
            ),
            lambda row: shape_conversation(viewer_uid, row),
            _conversation_key,
            f"GET /conversations for {viewer_uid}",
        )
        return [row for page in pages for row in page]
    except CometChatNotFoundError as error:
        _warn_gone(error)
        return []


def messages(
    client: CometChatClient,
    messages_per_load: int | None = None,
    late_changes: str = DEFAULT_LATE_CHANGES,
    lookback_seconds: int = DEFAULT_LOOKBACK_SECONDS,
    messages_from: int | None = None,
    messages_until: int | None = None,
    backfill_windows: int = 1,
    append_last_slice: bool = False,
) -> DltResource:
    """Every message, reply and action message, read forward from the last run's (sentAt, id) cursor.

    While the cursor is far behind, the forward read runs in `backfill_windows` concurrent time windows, each
    with its own cursor in state (`ForwardRead`). With `messages_until`, only the messages sent in
    `[messages_from, messages_until)` (a backfill shard, see `cometchat_source`); with `messages_from` alone,
    a new pipeline's first read and updates pass start there.

    Edits and deletes that arrive as action messages carry the changed message, which is merged over the
    stored copy. Changes that come without one (an edit where the API lists no action, a later reaction
    or reply) are picked up by `late_changes`: "updates" asks for the messages changed since the last run
    (`updatedAt` + `onlyUpdates`, as the SDK syncs), "lookback" re-reads the last `lookback_seconds`.
    The cursor is kept in resource state by hand rather than with `dlt.sources.incremental`, which would
    drop those changed copies for their old `sentAt`.
    """
    if late_changes not in LATE_CHANGES_MODES:
        raise CometChatConfigError(
            f"late_changes must be one of {', '.join(LATE_CHANGES_MODES)}, not {late_changes!r}"
        )

    @dlt.resource(
        name="messages",
        primary_key="id",
        write_disposition="merge",
        columns=MESSAGE_COLUMNS,
    )
    def messages_resource() -> Iterator[Any]:
        serve_large_allocations_apart()
        share_malloc_arenas()
        with fewer_collections():
            use_destination_hints()
            state = dlt.current.resource_state()
            # Where the destination merges only on the primary key (delta), a load holds one row per id: copies
            # of messages read before this run's cursor wait in `held` (newest wins) and are loaded at the end.
            one_row_per_id = primary_key_merges_only()
            refuse_nested_child_tables()
            use_child_table_merges(one_row_per_id)
            if not one_row_per_id:
                declare_deduplicated(True)  # one_copy.py sets it back for a package that keeps two copies
            if messages_until is not None:
                start = FIRST_TIMESTAMP if messages_from is None else messages_from
                yield from _range_shard(
                    client, state, start, messages_until, messages_per_load, one_row_per_id
                )
                return
            after = tuple(state["cursor"]) if "cursor" in state else None
            # A pipeline that takes over after a backfill keeps the backfill's end until it has a cursor of its
            # own: a first run that found no newer message must not leave the next run to read the history again.
            taking_over = messages_from
            if after is None and taking_over is None:
                taking_over = state.get("messages_from")
            elif after is None:
                state["messages_from"] = taking_over
            # The next slice of a run that stopped at `messages_per_load` continues it: no late-change pass, and
            # the window of the updates pass stays where that run left it.
            continuing = bool(state.get("more"))
            # Changed messages at the updates window's first second that this run loaded: id -> digest.
            boundary: dict[str, int] = {}
            window_known = "updates_since" in state  # the first run reads every message as it is now
            known: tuple[TDataItem | None] | None = None  # (the newest message,) once asked for
            if late_changes == "updates" and not window_known:
                if taking_over is not None:
                    # After a backfill that ended at `messages_from`: every change made since it began, from the
                    # second before (a change in the backfill's last second is stamped with that second).
                    state["updates_since"] = max(FIRST_TIMESTAMP, taking_over - 1)
                    window_known = True
                else:
                    newest = client.newest_message("messages")
                    known = (newest,)
                    stamp = (newest.get("updatedAt") or newest["sentAt"]) if newest else FIRST_TIMESTAMP
                    state["updates_since"] = int(stamp)
            held: dict[int, tuple[int, TDataItem]] = {}
            tables = _message_tables(one_row_per_id)
            state["more"] = False
            loaded = 0
            first = FIRST_TIMESTAMP if taking_over is None else taking_over
            if messages_per_load and "run" not in state:
                # A run that may go on in slices: where it begins (without a cursor, after each message sent
                # before `first`) and the newest message then (see ForwardRead.drops); and whether the
                # destination holds no message yet, so that each message the run lists is new to it.
                known = known or (client.newest_message("messages"),)
                state["run"] = run_start(list(after or (first - 1, LAST_ID)), known[0]) | {
                    "fresh": _no_messages_stored()
                }
            # Whether the destination held no message when this run began (read before the last slice ends the
            # run in state).
            fresh = bool(state.get("run", {}).get("fresh"))
            forward = ForwardRead(client, state, {"withTags": "true"}, first, backfill_windows, known)
            for page, window in forward.pages():
                if messages_per_load and loaded >= messages_per_load and not state["more"]:
                    # The slice is full and a page is left: no further page is read, those read ahead are loaded
                    # with this slice, and the caller runs the pipeline again for the next one.
                    forward.finish()
                    state["more"] = True
                yield from tables.add_listed(page)
                changed: Iterable[tuple[int, TDataItem]] = (
                    (version, message)
                    for action, version, message in _changed_messages(client, page)
                    if not forward.drops(window, message, version, action)
                )
                if one_row_per_id:
                    _hold_newest_copies(changed, after, held)
                    changed = ()
                yield from tables.add(changed, changed=True)
                if late_changes == "updates":
                    _note_boundary(page, state["updates_since"], boundary)
                forward.advance(window, page)
                loaded += len(page)
            # Late changes after the forward read, so that a load receives each message's copies oldest first
            # (the current copy last), as MessagePages needs.
            current: Iterable[list[TDataItem]] = ()
            if late_changes == "updates" and not continuing:
                if window_known:
                    current = _updates_since(client, state, boundary)
            elif late_changes == "lookback" and not continuing and (after or taking_over) is not None:
                # A new pipeline after a backfill ending at `messages_from` looks back from there.
                read_from = after or (int(taking_over or 0) - 1, LAST_ID)
                start = max(FIRST_TIMESTAMP, read_from[0] - lookback_seconds)
                pages = client.messages("messages", {"withTags": "true"}, start=start)
                current = ([m for m in page if _before(m, read_from)] for page in pages)
            for page in current:
                copies = [(copy_version(message), message) for message in page]
                if one_row_per_id:
                    # Messages sent after this run's cursor were read by its own pages (or a later slice's).
                    _hold_newest_copies(copies, after, held)
                elif late_changes == "lookback" and isinstance(tables, OneCopyPerMessage):
                    # Messages before this run's cursor, which its own pages never list: streamed, not held.
                    yield from tables.add_current(copies)
                else:
                    yield from tables.add(copies, changed=True)
            yield from tables.add(held.values(), changed=True)
            if isinstance(tables, OneCopyPerMessage):
                # Not the last slice, whose package leaves the tables merged in the pipeline's schema, unless the
                # caller restores the merge after it.
                tables.may_append = fresh and (state["more"] or append_last_slice)
            yield from tables.flush()
            if late_changes == "updates":
                _store_boundary(state, boundary, add=continuing)
        release_freed_memory()  # before the load step, which runs in this process

    return with_child_tables(messages_resource)


def _range_shard(
    client: CometChatClient,
    state: dict[str, Any],
    start: int,
    until: int,
    messages_per_load: int | None,
    one_row_per_id: bool,
) -> Iterator[Any]:
    """The messages sent in `[start, until)`, read forward from this range's own cursor in `state["ranges"]`
    (removed when the range is read to its end, so state holds only unfinished ranges).

    Changed copies that action messages carry of messages sent before `start` are left out: another shard
    loads those messages as they are when it reads them, which is after every action sent in the backfill.
    So are those of messages this range listed after the change, when it is read in slices (see
    `ForwardRead.drops`): `state["range_runs"]` holds where its read began and the newest message then.
    """
    ranges = state.setdefault("ranges", {})
    key = f"{start}:{until}"
    after = tuple(ranges[key]) if key in ranges else None
    runs = state.get("range_runs", {})
    if messages_per_load and key not in runs:
        runs = state.setdefault("range_runs", {})
        runs[key] = run_start(list(after or (start - 1, LAST_ID)), client.newest_message("messages"))
    span = runs.get(key)
    held: dict[int, tuple[int, TDataItem]] = {}
    tables = _message_tables(one_row_per_id)
    state["more"] = False
    loaded = 0
    pages = client.messages("messages", {"withTags": "true"}, after=after, start=start, until=until)
    finishing = threading.Event()
    for page in read_ahead(pages, finishing=finishing):
        if messages_per_load and loaded >= messages_per_load and not state["more"]:
            finishing.set()  # a page is left: the pages read ahead end this slice, the next one goes on
            state["more"] = True
        yield from tables.add_listed(page)
        changed: Iterable[tuple[int, TDataItem]] = (
            (version, message)
            for action, version, message in _changed_messages(client, page)
            if int(message["sentAt"]) >= start
            and not (span and changed_before(span, message, version, action))
        )
        if one_row_per_id:
            _hold_newest_copies(changed, after, held)
            changed = ()
        yield from tables.add(changed, changed=True)
        ranges[key] = [int(page[-1]["sentAt"]), int(page[-1]["id"])]
        loaded += len(page)
    if not state["more"]:
        ranges.pop(key, None)
        runs.pop(key, None)
    yield from tables.add(held.values(), changed=True)
    yield from tables.flush()
    release_freed_memory()


def _message_tables(one_row_per_id: bool) -> MessagePages | OneCopyPerMessage:
    """Where the destination deduplicates a merge's staged rows, a package holding each message once spares it
    that work; a delta table (merges on the primary key only) gets its one row per id from the held copies."""
    return MessagePages() if one_row_per_id else OneCopyPerMessage()


def _before(message: TDataItem, cursor: tuple[int, int]) -> bool:
    return (int(message["sentAt"]), int(message["id"])) <= cursor


def _updates_since(
    client: CometChatClient, state: dict[str, Any], boundary: dict[str, int]
) -> Iterator[list[TDataItem]]:
    """Pages of the messages changed since the last run: `updatedAt` at or after the newest change it saw.

    A change is stamped when it happens, so whatever changes after a run read the changes has an `updatedAt`
    no earlier than the newest one it read (the first run starts from the newest message's). That second is
    read again, inclusively; its changed messages come again, and are loaded only if they differ from those
    loaded before (one digest of them in state, `updates_boundary`), so a run without changes loads nothing.
    """
    since = int(state["updates_since"])
    known = state.get("updates_boundary")
    params = {"withTags": "true", "updatedAt": since, "onlyUpdates": "true"}
    newest = since
    at_since: list[TDataItem] = []
    for page in client.messages("messages", params):
        stale = [m for m in page if int(m.get("updatedAt") or 0) < since]
        if stale:
            raise CometChatError(
                f"GET /messages?updatedAt={since}&onlyUpdates=true answered messages last updated before "
                f"{since} (id {stale[0]['id']}): the API ignores updatedAt; set late_changes to 'lookback'"
            )
        later = []
        for message in page:
            updated = int(message["updatedAt"])
            if updated > newest:
                newest = updated
                boundary.clear()
            (at_since if updated == since else later).append(message)
            if updated == newest:
                boundary[str(message["id"])] = row_digest(plain(message))
        if later:
            yield later
    if at_since and _digest_sum(row_digest(plain(m)) for m in at_since) != known:
        yield at_since
    state["updates_since"] = newest


def _note_boundary(page: list[TDataItem], second: int, boundary: dict[str, int]) -> None:
    """Remembers the messages of a page changed at the updates window's first second (as the pass sees them)."""
    for message in page:
        updated, _, _, sent = stamps(message)
        if not updated or updated == sent:
            continue  # most messages: never changed after they were sent
        updated = int(updated)
        if updated == second and updated > int(message["sentAt"]):
            boundary[str(message["id"])] = row_digest(plain(message))


def _store_boundary(state: dict[str, Any], boundary: dict[str, int], add: bool) -> None:
    """Stores the digest of the boundary messages; the next slice of a run adds its own to it."""
    count, total = (state.get("updates_boundary") or [0, 0]) if add else [0, 0]
    state["updates_boundary"] = _digest_sum(boundary.values(), count, total)


def _digest_sum(digests: Iterable[int], count: int = 0, total: int = 0) -> list[int]:
    """[count, sum mod 2**64] of row digests: order-independent, and a slice's part adds to the run's."""
    for value in digests:
        count, total = count + 1, (total + value) % 2**64
    return [count, total]


def more_messages(pipeline: dlt.Pipeline) -> bool:
    """Whether the pipeline's last run stopped at the end of a `messages_per_load` slice, with more to load."""
    resources = pipeline.state.get("sources", {}).get("cometchat", {}).get("resources", {})
    return bool(resources.get("messages", {}).get("more"))


def _changed_messages(
    client: CometChatClient, page: list[TDataItem]
) -> Iterator[tuple[TDataItem, int, TDataItem]]:
    """(action, version, copy) of the messages edited or deleted by the action messages of a page."""
    for action in page:
        if action.get("category") != "action":
            continue  # most messages: only action messages carry or name a changed message
        target = changed_message(action)
        if target is not None:
            yield action, copy_version(target, int(action["id"])), target
        elif (target_id := changed_message_id(action)) is not None:
            try:
                current = client.get(f"messages/{target_id}", {"withTags": "true"})
            except CometChatNotFoundError as error:
                logger.warning("Message %s was changed and then removed for good: %s", target_id, error)
                continue
            yield action, copy_version(current), current


def _hold_newest_copies(
    changed: Iterable[tuple[int, TDataItem]],
    after: tuple[int, int] | None,
    held: dict[int, tuple[int, TDataItem]],
) -> None:
    """For destinations that merge on the primary key only (delta tables), which need one row per id in a load:
    drops the changed copies of messages this run read itself (sent after its starting cursor, so read as they
    are now) and keeps the newest copy of each older message, to be loaded at the end of the run."""
    for version, message in changed:
        if after is not None and (int(message["sentAt"]), int(message["id"])) <= after:
            _hold(version, message, held)


def _hold(version: int, message: TDataItem, held: dict[int, tuple[int, TDataItem]]) -> None:
    message_id = int(message["id"])
    if message_id not in held or held[message_id][0] < version:
        held[message_id] = (version, message)


def _by(field: str) -> Callable[[TDataItem], Any]:
    return lambda row: row[field]


def _conversation_key(row: TDataItem) -> str:
    return f"{row['viewer_uid']}|{row['conversation_id']}"


def _unusable_id(value: Any, kind: str, consequence: str, in_header: bool = False) -> bool:
    """Warns about, and says whether, an id cannot be sent to the API (a dot segment, a slash...)."""
    problem = id_problem(value, in_header=in_header)
    if problem is not None:
        logger.warning("Skipped %s %s: it %s; %s", kind, safe_repr(value), problem, consequence)
    return problem is not None


def _warn_gone(error: CometChatNotFoundError) -> None:
    if error.code not in GONE_ERROR_CODES:
        raise error
    logger.warning("Skipped: %s (deleted while the run was going on)", error)
