"""Turns API payloads into the rows of the connector's tables.

Epoch seconds become UTC datetimes, ids become integers where the API sends numbers as strings,
and nested lists are lifted to the top level so that dlt's normalizer gives each its own child table
(`messages__entities`, `messages__attachments`, ...).
"""

from datetime import UTC, datetime
from typing import Any, TypedDict

from dlt.common.typing import TDataItem

from .lean_json import only_fields

# Scalar fields of user and group entities worth keeping on `messages__entities` rows.


def utc(epoch_seconds: Any) -> datetime | None:
    if epoch_seconds in (None, ""):
        return None
    return datetime.fromtimestamp(int(epoch_seconds), tz=UTC)


def as_int(value: Any) -> int | None:
    if value in (None, ""):
        return None
    return int(str(value))


def as_rows(data: Any) -> list[TDataItem]:
    """The rows of a list answer's `data`: a list, or an object keyed "0", "1", ... (as one spec example has it)."""
    if data is None:
        return []
    if isinstance(data, list):
        return data
    if isinstance(data, dict) and data and all(str(key).isdigit() for key in data):
        return [data[key] for key in sorted(data, key=int)]
    return [data]


def shape_user(user: TDataItem) -> TDataItem:
    return _present(
        {
            "uid": user["uid"],
            "name": user.get("name"),
            "avatar": user.get("avatar"),
            "link": user.get("link"),
            "role": user.get("role"),
            "status": user.get("status"),
            "status_message": user.get("statusMessage"),
            "metadata": user.get("metadata"),
            "created_at": utc(user.get("createdAt")),
            "updated_at": utc(user.get("updatedAt")),
            "last_active_at": utc(user.get("lastActiveAt")),
            "deactivated_at": utc(user.get("deactivatedAt")),
            "tags": list(user.get("tags") or []),
        }
    )


def shape_group(group: TDataItem) -> TDataItem:
    return _present(
        {
            "guid": group["guid"],
            "name": group.get("name"),
            "description": group.get("description"),
            "icon": group.get("icon"),
            "type": group.get("type"),
            "owner": group.get("owner"),
            "members_count": as_int(group.get("membersCount")),
            "metadata": group.get("metadata"),
            "created_at": utc(group.get("createdAt")),
            "updated_at": utc(group.get("updatedAt")),
            "updated_by": group.get("updatedBy"),
            "tags": list(group.get("tags") or []),
        }
    )


def shape_member(guid: str, member: TDataItem) -> TDataItem:
    return {
        "guid": guid,
        "uid": member["uid"],
        "scope": member.get("scope"),
        "joined_at": utc(member.get("joinedAt")),
    }


class _Partner(TypedDict, total=False):
    uid: Any
    guid: Any
    name: Any


class _MessageId(TypedDict, total=False):
    id: Any


class _Conversation(TypedDict, total=False):
    """The fields of a conversation that `shape_conversation` reads, and the viewer's `uid`."""

    uid: Any
    conversationId: Any
    conversationType: Any
    unreadMessageCount: Any
    createdAt: Any
    updatedAt: Any
    lastMessage: _MessageId | None
    tags: Any
    conversationWith: _Partner | None


# Decodes a page of conversations into rows holding only the fields above (lean_json.py).
CONVERSATION_FIELDS = only_fields(_Conversation)


def shape_conversation(viewer_uid: str, conversation: TDataItem) -> TDataItem:
    """One conversation as one viewer sees it; `lastMessage` shrinks to a reference."""
    partner = conversation.get("conversationWith") or {}
    last_message = conversation.get("lastMessage") or {}
    row: TDataItem = {
        "viewer_uid": viewer_uid,
        "conversation_id": conversation["conversationId"],
        "conversation_type": conversation.get("conversationType"),
        "unread_message_count": as_int(conversation.get("unreadMessageCount")) or 0,
        "created_at": utc(conversation.get("createdAt")),
        "updated_at": utc(conversation.get("updatedAt")),
        "last_message_id": as_int(last_message.get("id")),
        "tags": list(conversation.get("tags") or []),
    }
    if conversation.get("conversationType") == "group":
        row["with_guid"] = partner.get("guid")
    else:
        row["with_uid"] = partner.get("uid")
    row["with_name"] = partner.get("name")
    return _present(row)


def changed_message(action: TDataItem) -> TDataItem | None:
    """The edited or deleted message that an `edited`/`deleted` action message carries, if complete."""
    if action.get("category") != "action" or action.get("type") != "message":
        return None
    target = (((action.get("data") or {}).get("entities") or {}).get("on") or {}).get("entity") or {}
    if {"id", "sentAt", "data"} <= target.keys():
        return target
    return None


def changed_message_id(action: TDataItem) -> int | None:
    """The id of the message an edit/delete action refers to, even when its copy is incomplete."""
    if action.get("category") != "action" or action.get("type") != "message":
        return None
    target = (((action.get("data") or {}).get("entities") or {}).get("on") or {}).get("entity") or {}
    return as_int(target.get("id"))


def _present(row: TDataItem) -> TDataItem:
    """Drops null fields and empty lists: declared columns load as null anyway, and the normalizer does less."""
    return {key: value for key, value in row.items() if value is not None and value != []}
