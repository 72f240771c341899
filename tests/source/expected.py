"""What the tables should hold, derived straight from the emulator's ground truth (not from the connector's code)."""

from datetime import UTC
from typing import Any

import pandas as pd


def epoch(value: Any) -> int | None:
    """Seconds since the epoch of a loaded timestamp (pandas, datetime or None)."""
    if value is None or pd.isna(value):
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp())


def expected_messages(truth: dict) -> dict[int, dict]:
    return {
        int(m["id"]): {
            "conversation_id": m["conversationId"],
            "parent_id": int(m["parentId"]) if m.get("parentId") else None,
            "category": m["category"],
            "type": m["type"],
            "text": (m.get("data") or {}).get("text"),
            "action": (m.get("data") or {}).get("action"),
            "sent_at": m["sentAt"],
            "edited_at": m.get("editedAt"),
            "deleted_at": m.get("deletedAt"),
            "updated_at": m["updatedAt"],
            "reply_count": m.get("replyCount"),
        }
        for m in truth["messages"]
    }


def expected_entities(truth: dict) -> set[tuple]:
    rows = set()
    for m in truth["messages"]:
        for role, wrapper in ((m.get("data") or {}).get("entities") or {}).items():
            entity = wrapper["entity"]
            entity_id = entity.get("uid") or entity.get("guid") or entity.get("id")
            rows.add((int(m["id"]), role, wrapper["entityType"], str(entity_id)))
    return rows


def expected_children(truth: dict, kind: str) -> set[tuple]:
    rows = set()
    for m in truth["messages"]:
        data = m.get("data") or {}
        message_id = int(m["id"])
        if kind == "attachments":
            rows |= {(message_id, a["url"], int(a["size"])) for a in data.get("attachments") or []}
        elif kind == "reactions":
            rows |= {(message_id, r["reaction"], int(r["count"])) for r in data.get("reactions") or []}
        elif kind == "mentions":
            rows |= {(message_id, uid) for uid in (data.get("mentions") or {})}
        elif kind == "tags":
            rows |= {(message_id, tag) for tag in m.get("tags") or []}
    return rows


def expected_conversations(truth: dict, conversation_type: str) -> dict[tuple[str, str], dict]:
    return {
        (c["viewer"], c["conversationId"]): {
            "unread_message_count": int(c["unreadMessageCount"]),
            "tags": list(c["tags"]),
            "last_message_id": int(c["lastMessageId"]) if c.get("lastMessageId") else None,
        }
        for c in truth["conversations"]
        if c["conversationType"] == conversation_type
    }


def changed_since(truth: dict, since: int) -> int:
    """How many messages an updates pass from `since` returns: changed after sending, at or after `since`."""
    return sum(1 for m in truth["messages"] if m["updatedAt"] >= since and m["updatedAt"] > m["sentAt"])
