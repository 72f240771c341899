"""dlt source for the CometChat REST API v3: users, groups, members, conversations and messages.

Credentials live in `[sources.cometchat.credentials]` (app_id, region, api_key, base_url) of
.dlt/secrets.toml, or in the matching `SOURCES__COMETCHAT__CREDENTIALS__*` environment variables; the
request budget in `[sources.cometchat]`. Building the source makes no API calls.
"""

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain
from typing import Any

import dlt
from dlt.common.typing import TDataItem
from dlt.sources import DltResource

from .arrow_pages import MessagePages, refuse_nested_child_tables, use_child_table_merges, with_child_tables
from .changes import only_changed
from .client import CometChatClient, group_path
from .columns import (
    CONVERSATION_COLUMNS,
    GROUP_COLUMNS,
    MEMBER_COLUMNS,
    MESSAGE_COLUMNS,
    USER_COLUMNS,
)
from .credentials import CometChatCredentials
from .destination_hints import primary_key_merges_only, use_destination_hints, use_group_replacement
from .errors import CometChatNotFoundError
from .ids import id_problem, safe_repr
from .read_ahead import read_ahead
from .settings import DEFAULT_REQUESTS_PER_MINUTE, GONE_ERROR_CODES, MAX_WORKERS, REQUEST_DEADLINE_SECONDS
from .shaping import (
    changed_message,
    changed_message_id,
    shape_conversation,
    shape_group,
    shape_member,
    shape_user,
)

__all__ = [
    "CometChatClient",
    "CometChatCredentials",
    "cometchat_source",
    "more_messages",
]

logger = logging.getLogger(__name__)


@dlt.source(name="cometchat", max_table_nesting=1)
def cometchat_source(
    credentials: CometChatCredentials = dlt.secrets.value,
    requests_per_minute: float = DEFAULT_REQUESTS_PER_MINUTE,
    max_workers: int = MAX_WORKERS,
    request_deadline_seconds: float = REQUEST_DEADLINE_SECONDS,
    messages_per_load: int | None = None,
    client: CometChatClient | None = None,
) -> Sequence[DltResource]:
    """Every user, group, membership, per-viewer conversation and message of one CometChat app.

    Args:
        credentials: the app's id, region and REST API key, from `[sources.cometchat.credentials]`.
        requests_per_minute: the request budget shared by every call of the run (free plan: 500).
        max_workers: open connections to the API.
        request_deadline_seconds: the longest a whole response (connect and every read) may take
            before it is retried like a timeout.
        messages_per_load: None (the default) loads every new message in this run. A number stops the
            messages at about that many; `more_messages(pipeline)` then says whether to run again. For
            destinations whose merge must stay small (a memory-capped DuckDB), as `run_load` does.
        client: a ready client for these credentials, for callers that want its request statistics.
    """
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
        messages(client, messages_per_load),
    )


def users(client: CometChatClient) -> DltResource:
    @dlt.resource(name="users", primary_key="uid", write_disposition="merge", columns=USER_COLUMNS)
    def users_resource() -> Iterator[list[TDataItem]]:
        use_destination_hints()
        digests = dlt.current.resource_state().setdefault("digests", {})
        for page in client.pages("users", {"withTags": "true", "withDeactivated": "true"}):
            yield only_changed(map(shape_user, page), _by("uid"), digests)

    return users_resource


def groups(client: CometChatClient) -> DltResource:
    @dlt.resource(name="groups", primary_key="guid", write_disposition="merge", columns=GROUP_COLUMNS)
    def groups_resource() -> Iterator[list[TDataItem]]:
        use_destination_hints()
        digests = dlt.current.resource_state().setdefault("digests", {})
        for page in client.pages("groups", {"withTags": "true"}):
            yield only_changed(map(shape_group, page), _by("guid"), digests)

    return groups_resource


def group_members(client: CometChatClient) -> DltResource:
    """Memberships of the groups whose member count or update time changed since the last run.

    A changed group's rows are replaced whole (merge key `guid`), so members who left disappear.
    """

    @dlt.resource(
        name="group_members",
        primary_key=("guid", "uid"),
        merge_key="guid",
        write_disposition={"disposition": "merge", "strategy": "delete-insert"},
        columns=MEMBER_COLUMNS,
    )
    def group_members_resource() -> Iterator[Any]:
        use_destination_hints()
        fingerprints = dlt.current.resource_state().setdefault("group_fingerprints", {})
        changed = {}
        for page in client.pages("groups"):
            for group in page:
                fingerprint = f"{group.get('membersCount')}:{group.get('updatedAt')}"
                if _unusable_id(group["guid"], "guid", "its members are not loaded"):
                    continue
                if fingerprints.get(group["guid"]) != fingerprint:
                    changed[group["guid"]] = fingerprint
        use_group_replacement(changed)
        for guid, fingerprint in changed.items():
            yield _members_of(client, guid, fingerprints, fingerprint)

    return group_members_resource


@dlt.defer
def _members_of(
    client: CometChatClient, guid: str, fingerprints: dict[str, str], fingerprint: str
) -> list[TDataItem]:
    try:
        rows = [
            shape_member(guid, member)
            for page in client.pages(group_path(guid, "members"))
            for member in page
        ]
    except CometChatNotFoundError as error:
        _warn_gone(error)
        return []
    fingerprints[guid] = fingerprint
    return rows


def conversations(client: CometChatClient, conversation_type: str) -> DltResource:
    """Every (viewer, conversation) of one type, with that viewer's unread count and tags.

    The app-wide list names each row's viewer in `uid`. Where it does not, each user's own list is
    read instead, one request per viewer, concurrently.
    """

    @dlt.resource(
        name=f"{conversation_type}_conversations",
        primary_key=("viewer_uid", "conversation_id"),
        write_disposition="merge",
        columns=CONVERSATION_COLUMNS,
    )
    def conversations_resource() -> Iterator[Any]:
        use_destination_hints()
        digests = dlt.current.resource_state().setdefault("digests", {})
        params = {"conversationType": conversation_type, "withTags": "true"}
        pages = client.pages("conversations", params)
        first_page = next(pages, [])
        if all("uid" in row for row in first_page):
            for page in chain([first_page], pages):
                yield only_changed(
                    (shape_conversation(row["uid"], row) for row in page), _conversation_key, digests
                )
            return
        logger.info("The app-wide conversation list does not name viewers: reading each user's list")
        for users_page in client.pages("users"):
            for user in users_page:
                if not _unusable_id(user["uid"], "uid", "its conversations are not loaded", in_header=True):
                    yield _conversations_of(client, user["uid"], params, digests)

    return conversations_resource


@dlt.defer
def _conversations_of(
    client: CometChatClient, viewer_uid: str, params: dict[str, str], digests: dict[str, str]
) -> list[TDataItem]:
    try:
        rows = [
            shape_conversation(viewer_uid, row)
            for page in client.pages("conversations", params, on_behalf_of=viewer_uid)
            for row in page
        ]
    except CometChatNotFoundError as error:
        _warn_gone(error)
        return []
    return only_changed(rows, _conversation_key, digests)


def messages(client: CometChatClient, messages_per_load: int | None = None) -> DltResource:
    """Every message, reply and action message, read forward from the last run's (sentAt, id) cursor.

    Edits and deletes arrive as action messages that carry the changed message, which is merged
    over the stored copy. The cursor is kept in resource state by hand rather than with
    `dlt.sources.incremental`, which would drop those changed copies for their old `sentAt`.
    Pages are streamed, so one run loads the whole history at flat memory until the destination's merge;
    `messages_per_load` stops the run at a slice's end instead (see `more_messages`).
    """

    @dlt.resource(
        name="messages",
        primary_key="id",
        write_disposition="merge",
        columns=MESSAGE_COLUMNS,
    )
    def messages_resource() -> Iterator[Any]:
        use_destination_hints()
        state = dlt.current.resource_state()
        after = tuple(state["cursor"]) if "cursor" in state else None
        state["more"] = False
        loaded = 0
        one_row_per_id = primary_key_merges_only()
        refuse_nested_child_tables()
        use_child_table_merges(one_row_per_id)
        held: dict[int, tuple[int, TDataItem]] = {}
        tables = MessagePages()
        for page in read_ahead(client.messages("messages", {"withTags": "true"}, after=after)):
            yield from tables.add((int(message["id"]), message) for message in page)
            changed: Iterable[tuple[int, TDataItem]] = _changed_messages(client, page)
            if one_row_per_id:
                _hold_newest_copies(changed, after, held)
                changed = ()
            yield from tables.add(changed, changed=True)
            state["cursor"] = [int(page[-1]["sentAt"]), int(page[-1]["id"])]
            loaded += len(page)
            if messages_per_load and loaded >= messages_per_load:
                state["more"] = True  # the caller runs the pipeline again for the next slice
                break
        yield from tables.add(held.values(), changed=True)
        yield from tables.flush()

    return with_child_tables(messages_resource)


def more_messages(pipeline: dlt.Pipeline) -> bool:
    """Whether the pipeline's last run stopped at the end of a `messages_per_load` slice, with more to load."""
    resources = pipeline.state.get("sources", {}).get("cometchat", {}).get("resources", {})
    return bool(resources.get("messages", {}).get("more"))


def _changed_messages(client: CometChatClient, page: list[TDataItem]) -> Iterator[tuple[int, TDataItem]]:
    """(action id, current copy) of the messages edited or deleted by the action messages of a page."""
    for action in page:
        target = changed_message(action)
        if target is None and (target_id := changed_message_id(action)) is not None:
            try:
                target = client.get(f"messages/{target_id}", {"withTags": "true"})
            except CometChatNotFoundError as error:
                logger.warning("Message %s was changed and then removed for good: %s", target_id, error)
        if target is not None:
            yield int(action["id"]), target


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
