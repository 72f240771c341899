"""The /v3 endpoints: routing by path template, auth, and one handler per endpoint returning a JSON payload."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.message import Message
from typing import Any

import orjson

from . import errors
from .config import EmulatorConfig
from .model import Conversation, Group, User
from .profiles import SHIFTING_TOUCHES
from .render import Renderer
from .selection import CATEGORIES, TYPES, MessageQuery
from .store import Store
from .validation import Params, validate_tags

MAX_PAGE_SIZE = 1000
CURSOR_PARAMS = ("limit", "id", "affix", "sentAt")


@dataclass
class Request:
    method: str
    path: str
    segments: list[str]  # percent-decoded path segments after /v3
    params: Params
    headers: Message  # case-insensitive lookups
    body: bytes

    @property
    def on_behalf_of(self) -> str | None:
        value = self.headers.get("onBehalfOf")
        return value.strip().lower() or None if value is not None else None

    def json_body(self) -> Any:
        try:
            return orjson.loads(self.body or b"null")
        except orjson.JSONDecodeError:
            raise errors.bad_request({"body": ["The request body must be valid JSON."]}) from None


Handler = Callable[[Request, list[str]], dict[str, Any]]


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    handler: Handler

    @property
    def parts(self) -> list[str]:
        return self.template.strip("/").split("/")

    def match(self, segments: list[str]) -> list[str] | None:
        parts = self.parts
        if len(parts) != len(segments):
            return None
        values = []
        for part, segment in zip(parts, segments, strict=True):
            if part.startswith("{"):
                if not segment:
                    return None
                values.append(segment)
            elif part != segment:
                return None
        return values


def pagination(count: int, per_page: int, page: int, has_more: bool) -> dict[str, int]:
    """`total` is never computed (as in the docs); `total_pages` only says whether another page exists."""
    return {
        "total": 0,
        "count": count,
        "per_page": per_page,
        "current_page": page,
        "total_pages": page + 1 if has_more else page,
    }


class Api:
    def __init__(self, config: EmulatorConfig, store: Store, renderer: Renderer) -> None:
        self.config = config
        self.store = store
        self.render = renderer
        self.api_key = config.effective_api_key
        self.behaviour = store.behaviour
        self._shifts_left = SHIFTING_TOUCHES
        self.routes = [
            Route("GET", "/users", self.list_users),
            Route("GET", "/users/{uid}", self.get_user),
            Route("GET", "/users/{uid}/conversation", self.get_user_conversation),
            Route("PUT", "/users/{uid}/conversation", self.put_user_conversation),
            Route("GET", "/users/{uid}/messages", self.user_messages),
            Route("GET", "/groups", self.list_groups),
            Route("GET", "/groups/{guid}", self.get_group),
            Route("GET", "/groups/{guid}/members", self.list_members),
            Route("GET", "/groups/{guid}/conversation", self.get_group_conversation),
            Route("PUT", "/groups/{guid}/conversation", self.put_group_conversation),
            Route("GET", "/groups/{guid}/messages", self.group_messages),
            Route("GET", "/conversations", self.list_conversations),
            Route("GET", "/messages", self.list_messages),
            Route("GET", "/messages/{id}", self.get_message),
            Route("GET", "/messages/{id}/thread", self.thread_messages),
        ]

    # -- routing and auth ---------------------------------------------------------------------------------

    def route(self, method: str, segments: list[str]) -> tuple[str, Handler | None, list[str]]:
        """(route template for stats, handler or None for a wrong method/unknown path, path values)."""
        template = "unknown"
        for route in self.routes:
            values = route.match(segments)
            if values is None:
                continue
            template = route.template
            if route.method == method:
                return template, route.handler, values
        return template, None, []

    def authenticate(self, headers: Message) -> None:
        key = (headers.get("apikey") or "").strip()
        if not key:
            raise errors.empty_api_key()
        if not hmac.compare_digest(key.encode(), self.api_key.encode()):
            raise errors.api_key_not_found()
        app_id = self.config.app_id.lower()
        sent_app_id = headers.get("appId")
        if sent_app_id is not None and sent_app_id.strip().lower() != app_id:
            raise errors.invalid_app_id(sent_app_id.strip())
        label = _host_label(headers.get("Host") or "")
        if label is not None and label != app_id:
            raise errors.invalid_app_id(label)

    # -- helpers ------------------------------------------------------------------------------------------

    def _viewer(self, request: Request) -> User | None:
        uid = request.on_behalf_of
        if uid is None:
            return None
        user = self.store.user(uid)
        if user is None:
            raise errors.uid_not_found(uid)
        return user

    def _required_viewer(self, request: Request) -> User:
        viewer = self._viewer(request)
        if viewer is None:
            raise errors.bad_request({"onBehalfOf": ["The onBehalfOf header is required."]})
        return viewer

    def _path_user(self, uid: str) -> User:
        user = self.store.user(uid)
        if user is None:
            raise errors.uid_not_found(uid)
        return user

    def _path_group(self, guid: str) -> Group:
        group = self.store.group(guid)
        if group is None:
            raise errors.guid_not_found(guid)
        return group

    def _page_params(self, params: Params) -> tuple[int, int]:
        per_page = self.behaviour.page_size(params.integer("perPage", 100, 1, MAX_PAGE_SIZE))
        page = params.integer("page", 1, 1)
        return per_page, page

    @staticmethod
    def _page(items: Sequence, per_page: int, page: int) -> tuple[Sequence, bool]:
        start = (page - 1) * per_page
        return items[start : start + per_page], len(items) > start + per_page

    # -- users, groups, members ---------------------------------------------------------------------------

    def list_users(self, request: Request, _: list[str]) -> dict[str, Any]:
        per_page, page = self._page_params(request.params)
        with_tags = request.params.boolean("withTags")
        users, has_more = self._page(self.store.users(), per_page, page)
        body: dict[str, Any] = {
            "data": [self.render.user(u.index, with_tags) for u in users],
            "meta": {"pagination": pagination(len(users), per_page, page, has_more)},
        }
        if users:
            last = users[-1]
            body["cursor"] = {"updatedAt": last.updated_at or last.created_at, "affix": "prepend"}
        return body

    def get_user(self, request: Request, values: list[str]) -> dict[str, Any]:
        user = self._path_user(values[0])
        return {"data": self.render.user(user.index, with_tags=True)}

    def list_groups(self, request: Request, _: list[str]) -> dict[str, Any]:
        viewer = self._viewer(request)
        per_page, page = self._page_params(request.params)
        with_tags = request.params.boolean("withTags")
        groups, has_more = self._page(self.store.groups(), per_page, page)
        viewer_index = viewer.index if viewer else None
        meta: dict[str, Any] = {"pagination": pagination(len(groups), per_page, page, has_more)}
        if groups:
            last = groups[-1]
            meta["cursor"] = {"updatedAt": last.updated_at or last.created_at, "affix": "prepend"}
        data: Any = [self.render.group(g.index, with_tags, viewer_index) for g in groups]
        if "keyed_group_data" in self.behaviour:
            data = {str(n): group for n, group in enumerate(data)}
        return {"data": data, "meta": meta}

    def get_group(self, request: Request, values: list[str]) -> dict[str, Any]:
        viewer = self._viewer(request)
        group = self._path_group(values[0])
        return {"data": self.render.group(group.index, True, viewer.index if viewer else None)}

    def list_members(self, request: Request, values: list[str]) -> dict[str, Any]:
        group = self._path_group(values[0])
        per_page, page = self._page_params(request.params)
        members, has_more = self._page(self.store.members(group), per_page, page)
        body: dict[str, Any] = {
            "data": [self.render.member(group.index, u, joined) for u, joined in members],
            "meta": {"pagination": pagination(len(members), per_page, page, has_more)},
        }
        if members:
            body["cursor"] = {"updatedAt": members[-1][1], "affix": "prepend"}
        return body

    # -- conversations ------------------------------------------------------------------------------------

    def list_conversations(self, request: Request, _: list[str]) -> dict[str, Any]:
        viewer = self._viewer(request)
        params = request.params
        per_page, page = self._page_params(params)
        conversation_type = params.optional_choice("conversationType", ("user", "group"))
        with_tags = params.boolean("withTags")
        entity_tags = params.boolean("withUserAndGroupTags")
        unread_only = params.boolean("unread")
        convs = self.store.data.conversations

        def listed() -> list[tuple[int, int]]:
            app_wide = viewer is None and "conversations_shifting" not in self.behaviour
            if app_wide and conversation_type is not None:
                rows = self.store.app_rows_of_type(conversation_type == "group")
            else:
                rows = self.store.conversation_rows(viewer.index if viewer else None, listed=True)
                if conversation_type is not None:
                    want_group = conversation_type == "group"
                    rows = [row for row in rows if convs[row[1]].is_group == want_group]
            if unread_only:
                rows = [row for row in rows if self.store.viewer_state(row[0], convs[row[1]]).unread]
            return rows

        rows = listed()
        shifting = viewer is None and page > 1 and "conversations_shifting" in self.behaviour
        if shifting and self._shifts_left > 0:
            self._shifts_left -= 1
            self.store.shift_oldest_conversation(rows)
            rows = listed()
        page_rows, has_more = self._page(rows, per_page, page)
        data = [
            self.render.conversation(
                v,
                convs[c],
                with_tags=with_tags,
                receipts=True,
                include_uid=viewer is None and "conversations_without_uid" not in self.behaviour,
                entity_tags=entity_tags,
            )
            for v, c in page_rows
        ]
        if "numeric_ids" in self.behaviour:
            data = [_numeric_conversation(row) for row in data]
        return {"data": data, "meta": {"pagination": pagination(len(data), per_page, page, has_more)}}

    def _user_conversation(self, request: Request, uid: str) -> tuple[User, Conversation]:
        viewer = self._required_viewer(request)
        other = self._path_user(uid)
        conv = self.store.pair_conversation(viewer, other)
        if conv is None or not self.store.is_participant(viewer.index, conv):
            low, high = sorted((viewer.uid, other.uid))
            raise errors.conversation_not_accessible(f"{low}_user_{high}", viewer.uid)
        return viewer, conv

    def _group_conversation(self, request: Request, guid: str) -> tuple[User, Conversation]:
        viewer = self._required_viewer(request)
        group = self._path_group(guid)
        conv = self.store.conversations_by_id[group.conversation_id]
        if not self.store.is_participant(viewer.index, conv):
            raise errors.conversation_not_accessible(group.conversation_id, viewer.uid)
        return viewer, conv

    def _conversation_body(self, viewer: User, conv: Conversation, receipts: bool) -> dict[str, Any]:
        row = self.render.conversation(viewer.index, conv, with_tags=True, receipts=receipts)
        if "conversation_without_tags" in self.behaviour:
            row = {key: value for key, value in row.items() if key != "tags"}
        if "numeric_ids" in self.behaviour:
            row = _numeric_conversation(row)
        return {"data": [row] if "conversation_as_array" in self.behaviour else row}

    def _replace_tags(self, request: Request, viewer: User, conv: Conversation) -> dict[str, Any]:
        body = request.json_body()
        if not isinstance(body, dict):
            raise errors.bad_request({"tags": ["The tags field is required."]})
        problems = validate_tags(body.get("tags"))
        if problems:
            raise errors.bad_request(problems)
        tags = body["tags"]
        if "tags_put_merges" in self.behaviour:
            current = self.store.viewer_state(viewer.index, conv).tags
            tags = [*current, *(tag for tag in tags if tag not in current)]
        self.store.replace_tags(viewer.index, conv, tags)
        return self._conversation_body(viewer, conv, receipts=True)

    def get_user_conversation(self, request: Request, values: list[str]) -> dict[str, Any]:
        viewer, conv = self._user_conversation(request, values[0])
        return self._conversation_body(viewer, conv, receipts=False)

    def put_user_conversation(self, request: Request, values: list[str]) -> dict[str, Any]:
        viewer, conv = self._user_conversation(request, values[0])
        return self._replace_tags(request, viewer, conv)

    def get_group_conversation(self, request: Request, values: list[str]) -> dict[str, Any]:
        viewer, conv = self._group_conversation(request, values[0])
        return self._conversation_body(viewer, conv, receipts=False)

    def put_group_conversation(self, request: Request, values: list[str]) -> dict[str, Any]:
        viewer, conv = self._group_conversation(request, values[0])
        return self._replace_tags(request, viewer, conv)

    # -- messages -----------------------------------------------------------------------------------------

    def _message_query(self, params: Params, limit_default: int = 10) -> MessageQuery:
        behaviour = self.behaviour
        limit = behaviour.page_size(params.integer("limit", limit_default, 1, MAX_PAGE_SIZE))
        affix = params.choice("affix", ("append", "prepend"), "append")
        anchor_id = params.optional_integer("id", 0)
        anchor_sent = params.optional_integer("sentAt", 0)
        from_ts = params.optional_integer("fromTimestamp", 0)
        to_ts = params.optional_integer("toTimestamp", 0)
        updated_after = params.optional_integer("updatedAt", 0)
        only_updates = params.boolean("onlyUpdates")
        if only_updates and updated_after is None:
            raise errors.bad_request({"onlyUpdates": ["The onlyUpdates field requires updatedAt."]})
        if "anchor_ignores_id" in behaviour:
            anchor_id = None
        if "updates_ignored" in behaviour:
            updated_after, only_updates = None, False
        if "to_timestamp_ignored" in behaviour:
            to_ts = None
        elif "to_timestamp_exclusive" in behaviour and to_ts is not None:
            to_ts -= (
                1  # the bound is inclusive below: ending one second earlier excludes `toTimestamp` itself
            )
        if "unanchored_newest" in behaviour:
            from_ts = from_ts or None
            if anchor_id is None and anchor_sent is None and from_ts is None and updated_after is None:
                affix = "prepend"  # no usable anchor: the newest page, as a prepend request would get
        hide_deleted, only_deleted = params.boolean("hideDeleted"), params.boolean("onlyDeleted")
        if hide_deleted and only_deleted:
            raise errors.bad_request(
                {"onlyDeleted": ["The onlyDeleted field cannot be used with hideDeleted."]}
            )
        categories = params.choices("categories", CATEGORIES)
        category = params.optional_choice("category", CATEGORIES)
        types = params.choices("types", TYPES)
        message_type = params.optional_choice("type", TYPES)
        sender = params.raw("sender")
        sender_index = None
        if sender:
            sender_index = self._path_user(sender).index
        return MessageQuery(
            limit=limit,
            affix=affix,
            anchor_id=anchor_id,
            anchor_sent=anchor_sent,
            from_ts=from_ts,
            to_ts=to_ts if from_ts is not None else None,
            hide_replies=params.boolean("hideReplies"),
            hide_deleted=hide_deleted,
            only_deleted=only_deleted,
            categories=categories | frozenset([category] if category else []),
            types=types | frozenset([message_type] if message_type else []),
            sender=sender_index,
            receiver_type=params.optional_choice("receiverType", ("user", "group")),
            updated_after=updated_after,
            only_updates=only_updates,
            anchor_inclusive="anchor_inclusive" in behaviour,
            hide_message_actions="edits_without_actions" in behaviour,
        )

    def _cursor_meta(self, query: MessageQuery, rows: list[int]) -> dict[str, Any]:
        sent = self.store.messages.sent
        meta: dict[str, Any] = {"current": {"limit": query.limit, "count": len(rows)}}
        if rows:
            first, last = rows[0], rows[-1]
            following: dict[str, Any] = {"affix": "append", "sentAt": sent[last]}
            if query.from_ts is not None:
                following["fromTimestamp"] = str(query.from_ts)
            numeric = "numeric_ids" in self.behaviour
            following["id"] = last + 1 if numeric else str(last + 1)
            meta["next"] = following
            meta["previous"] = {
                "affix": "prepend",
                "sentAt": sent[first],
                "id": first + 1 if numeric else str(first + 1),
            }
        return meta

    def _messages(self, rows: list[int], with_tags: bool) -> list[dict[str, Any]]:
        messages = self.render.messages(rows, with_tags)
        if "numeric_ids" in self.behaviour:
            return [_numeric_message(message) for message in messages]
        return messages

    def _message_list(self, request: Request, sources: list[Sequence[int]] | None) -> dict[str, Any]:
        query = self._message_query(request.params)
        with_tags = request.params.boolean("withTags")
        rows = self.store.select_messages(sources, query)
        return {"data": self._messages(rows, with_tags), "meta": self._cursor_meta(query, rows)}

    def list_messages(self, request: Request, _: list[str]) -> dict[str, Any]:
        viewer = self._viewer(request)
        conversation_id = request.params.raw("conversationId")
        if conversation_id:
            conv = self.store.conversations_by_id.get(conversation_id.lower())
            if conv is not None and viewer is not None and not self.store.is_participant(viewer.index, conv):
                raise errors.conversation_not_accessible(conv.conversation_id, viewer.uid)
            return self._message_list(request, [conv.messages] if conv is not None else [])
        sources = self.store.viewer_sources(viewer.index) if viewer is not None else None
        return self._message_list(request, sources)

    def group_messages(self, request: Request, values: list[str]) -> dict[str, Any]:
        viewer = self._viewer(request)
        group = self._path_group(values[0])
        conv = self.store.conversations_by_id[group.conversation_id]
        if viewer is not None and not self.store.is_participant(viewer.index, conv):
            raise errors.conversation_not_accessible(conv.conversation_id, viewer.uid)
        return self._message_list(request, [conv.messages])

    def user_messages(self, request: Request, values: list[str]) -> dict[str, Any]:
        """Hybrid endpoint: page numbers (perPage/page) or cursor params (limit/id/affix), one meta shape."""
        viewer = self._required_viewer(request)
        other = self._path_user(values[0])
        params = request.params
        conv = self.store.pair_conversation(viewer, other)
        sources: list[Sequence[int]] = [conv.messages] if conv is not None else []
        query = self._message_query(params)
        if any(params.has(name) for name in CURSOR_PARAMS):
            page, per_page = 1, query.limit
        else:
            per_page, page = self._page_params(params)
            query.limit, query.offset = per_page, (page - 1) * per_page
        rows = self.store.select_messages(sources, query, extra=1)
        has_more = len(rows) > per_page
        rows = rows[-per_page:] if query.prepend else rows[:per_page]
        meta: dict[str, Any] = {"pagination": pagination(len(rows), per_page, page, has_more)}
        if rows:
            edge = rows[0] if query.prepend else rows[-1]
            meta["cursor"] = {"id": edge + 1, "affix": query.affix}
        return {"data": self._messages(rows, params.boolean("withTags")), "meta": meta}

    def _visible_message(self, request: Request, message_id: str) -> int:
        viewer = self._viewer(request)
        index = self.store.message_index(message_id)
        if index is None or not self.store.visible_message(index):
            raise errors.message_not_found(message_id)
        conv = self.store.data.conversations[self.store.messages.conv[index]]
        if viewer is not None and not self.store.is_participant(viewer.index, conv):
            raise errors.message_not_accessible(message_id, viewer.uid)
        return index

    def get_message(self, request: Request, values: list[str]) -> dict[str, Any]:
        index = self._visible_message(request, values[0])
        return {"data": self._messages([index], request.params.boolean("withTags"))[0]}

    def thread_messages(self, request: Request, values: list[str]) -> dict[str, Any]:
        parent = self._visible_message(request, values[0])
        params = request.params
        query = self._message_query(params)
        if not params.has("limit") and params.has("perPage"):
            per_page, page = self._page_params(params)
            query.limit, query.offset = per_page, (page - 1) * per_page
        replies = self.store.data.replies.get(parent)
        rows = self.store.select_messages([replies] if replies is not None else [], query)
        return {
            "data": self._messages(rows, params.boolean("withTags")),
            "meta": self._cursor_meta(query, rows),
        }


def _host_label(host: str) -> str | None:
    """The app-id label of a `{appId}.api-{region}...` Host, or None for IPs and localhost."""
    hostname = host.strip().lower()
    if hostname.startswith("["):
        return None  # bracketed IPv6 literal
    hostname = hostname.rsplit(":", 1)[0] if ":" in hostname else hostname
    if not hostname or hostname == "localhost":
        return None
    try:
        ipaddress.ip_address(hostname)
        return None
    except ValueError:
        return hostname.split(".")[0]


def _numeric_message(message: dict[str, Any]) -> dict[str, Any]:
    """Profile numeric_ids: the message's id and parentId (and a carried message's) as integers."""
    message = {**message, "id": int(message["id"])}
    if "parentId" in message:
        message["parentId"] = int(message["parentId"])
    on = message["data"].get("entities", {}).get("on")
    if on and on.get("entityType") == "message":
        entities = {**message["data"]["entities"], "on": {**on, "entity": _numeric_message(on["entity"])}}
        message["data"] = {**message["data"], "entities": entities}
    return message


def _numeric_conversation(row: dict[str, Any]) -> dict[str, Any]:
    row = {**row, "unreadMessageCount": int(row["unreadMessageCount"])}
    if "lastMessage" in row:
        row["lastMessage"] = _numeric_message(row["lastMessage"])
    return row
