"""Turns API payloads into the rows of the connector's tables.

Epoch seconds become UTC datetimes, ids become integers where the API sends numbers as strings,
and nested lists are lifted to the top level so that dlt's normalizer gives each its own child table
(`messages__entities`, `messages__attachments`, ...).
"""

from datetime import UTC, datetime
from typing import Any

from dlt.common.typing import TDataItem

# Scalar fields of user and group entities worth keeping on `messages__entities` rows.
_ENTITY_FIELDS = ("name", "avatar", "icon", "link", "status", "type", "owner", "scope")


def utc(epoch_seconds: Any) -> datetime | None:
    if epoch_seconds in (None, ""):
        return None
    return datetime.fromtimestamp(int(epoch_seconds), tz=UTC)


def as_int(value: Any) -> int | None:
    if value in (None, ""):
        return None
    return int(str(value))


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


def shape_message(message: TDataItem) -> TDataItem:
    data = message.get("data") or {}
    message_id = int(message["id"])
    return _present(
        {
            "id": message_id,
            "conversation_id": message.get("conversationId"),
            "parent_id": as_int(message.get("parentId")),
            "sender": message.get("sender"),
            "receiver_type": message.get("receiverType"),
            "receiver": message.get("receiver"),
            "category": message.get("category"),
            "type": message.get("type"),
            "text": data.get("text"),
            "action": data.get("action"),
            "metadata": data.get("metadata"),
            "custom_data": data.get("customData"),
            "sent_at": utc(message.get("sentAt")),
            "updated_at": utc(message.get("updatedAt")),
            "edited_at": utc(message.get("editedAt")),
            "edited_by": message.get("editedBy"),
            "deleted_at": utc(message.get("deletedAt")),
            "deleted_by": message.get("deletedBy"),
            "entities": _entities(message_id, data.get("entities") or {}),
            "attachments": [_attachment(message_id, a) for a in data.get("attachments") or []],
            # The docs put reactions inside `data` in examples and at the top level in the schema.
            "reactions": [
                _reaction(message_id, r) for r in data.get("reactions") or message.get("reactions") or []
            ],
            "mentions": _mentions(message_id, data.get("mentions")),
            "tags": list(message.get("tags") or []),
        }
    )


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


def _entities(message_id: int, entities: TDataItem) -> list[TDataItem]:
    rows = []
    for role, wrapper in entities.items():
        if not isinstance(wrapper, dict):
            continue
        entity = wrapper.get("entity") or {}
        entity_type = wrapper.get("entityType")
        row: TDataItem = {
            "message_id": message_id,
            "role": role,
            "entity_type": entity_type,
            "entity_id": str(entity.get("uid") or entity.get("guid") or entity.get("id") or ""),
        }
        if entity_type in ("user", "group"):
            row.update({field: entity[field] for field in _ENTITY_FIELDS if entity.get(field) is not None})
            if entity.get("role") is not None:
                row["user_role"] = entity["role"]
        rows.append(row)
    return rows


def _attachment(message_id: int, attachment: TDataItem) -> TDataItem:
    return _present(
        {
            "message_id": message_id,
            "url": attachment.get("url"),
            "name": attachment.get("name"),
            "mime_type": attachment.get("mimeType"),
            "extension": attachment.get("extension"),
            "size": as_int(attachment.get("size")),
        }
    )


def _reaction(message_id: int, reaction: TDataItem) -> TDataItem:
    return {
        "message_id": message_id,
        "reaction": reaction.get("reaction"),
        "count": as_int(reaction.get("count")),
    }


def _mentions(message_id: int, mentions: Any) -> list[TDataItem]:
    # A map uid -> user in webhook payloads; tolerate a list of users too.
    users = mentions.values() if isinstance(mentions, dict) else mentions or []
    return [{"message_id": message_id, "uid": u.get("uid"), "name": u.get("name")} for u in users]


def _present(row: TDataItem) -> TDataItem:
    """Drops null fields and empty lists: declared columns load as null anyway, and the normalizer does less."""
    return {key: value for key, value in row.items() if value is not None and value != []}
