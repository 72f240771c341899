"""Payload shaping: the documented quirks become clean, typed rows (messages: through the columnar path)."""

from datetime import UTC, datetime

from sources.cometchat.arrow_pages import MessagePages
from sources.cometchat.shaping import changed_message, shape_conversation

ACTION = {
    "id": "50",
    "conversationId": "group_project-group",
    "sender": "superhero4",
    "receiverType": "group",
    "receiver": "project-group",
    "category": "action",
    "type": "groupMember",
    "data": {
        "action": "unbanned",
        "entities": {
            "by": {
                "entity": {"uid": "superhero4", "name": "Wolverine", "role": "default"},
                "entityType": "user",
            },
            "on": {"entity": {"uid": "superhero3", "name": "Captain America"}, "entityType": "user"},
            "for": {
                "entity": {"guid": "project-group", "name": "Project Group1", "type": "private"},
                "entityType": "group",
            },
        },
    },
    "sentAt": 1630305562,
    "updatedAt": 1630305562,
    "receipts": {"data": [[]]},
}


GROUP_CONVERSATION = {
    "conversationId": "group_project-group",
    "conversationType": "group",
    "unreadMessageCount": "7",
    "createdAt": 1630071782,
    "updatedAt": 1630481413,
    "lastMessage": ACTION,
    "conversationWith": {"guid": "project-group", "name": "Project Group1"},
    "tags": ["vip"],
}


def test_conversation_unread_count_string_and_last_message_reference():
    row = shape_conversation("cometchat-uid-4", GROUP_CONVERSATION)
    assert row["unread_message_count"] == 7
    assert row["last_message_id"] == 50
    assert row["with_guid"] == "project-group"
    assert row["created_at"] == datetime(2021, 8, 27, 13, 43, 2, tzinfo=UTC)
    assert not any(key.startswith("last_message_") and key != "last_message_id" for key in row)


def test_conversation_without_last_message():
    row = shape_conversation(
        "a", {"conversationId": "a_user_b", "conversationType": "user", "conversationWith": {"uid": "b"}}
    )
    assert row.get("last_message_id") is None and row["with_uid"] == "b" and not row.get("tags")


def shaped(message: dict) -> dict[str, list[dict]]:
    """The rows of each table that one message becomes on the columnar path."""
    pages = MessagePages()
    messages, *children = [*pages.add([(1, message)]), *pages.flush()]
    return {"messages": messages.to_pylist()} | {t.meta.table_name: t.data.to_pylist() for t in children}


def test_action_message_entities_become_rows_with_role_and_type():
    tables = shaped(ACTION)
    row, entities = tables["messages"][0], tables["messages__entities"]
    assert row["id"] == 50 and row["action"] == "unbanned"
    assert [(e["role"], e["entity_type"], e["entity_id"]) for e in entities] == [
        ("by", "user", "superhero4"),
        ("on", "user", "superhero3"),
        ("for", "group", "project-group"),
    ]
    assert entities[0]["user_role"] == "default"
    assert all(e["message_id"] == 50 for e in entities)


def test_reactions_are_read_from_data_or_top_level_and_mentions_from_a_map():
    base = {
        "id": "3",
        "sentAt": 1,
        "data": {"text": "hi <@uid:b>", "mentions": {"b": {"uid": "b", "name": "Bé"}}},
    }
    in_data = shaped({**base, "data": {**base["data"], "reactions": [{"reaction": "😅", "count": 2}]}})
    top_level = shaped({**base, "reactions": [{"reaction": "😅", "count": "2"}]})

    def reactions(tables: dict) -> list[tuple]:
        return [(r["message_id"], r["reaction"], r["count"]) for r in tables["messages__reactions"]]

    assert reactions(in_data) == reactions(top_level) == [(3, "😅", 2)]
    assert [(m["message_id"], m["uid"], m["name"]) for m in in_data["messages__mentions"]] == [(3, "b", "Bé")]


def test_edit_action_carries_the_changed_message():
    edited = {"id": "9", "sentAt": 5, "editedAt": 8, "data": {"text": "new"}}
    action = {
        "id": "10",
        "category": "action",
        "type": "message",
        "data": {"action": "edited", "entities": {"on": {"entity": edited, "entityType": "message"}}},
    }
    assert changed_message(action) == edited
    assert changed_message(ACTION) is None
    entity_row = shaped(action)["messages__entities"][0]
    assert (entity_row["entity_type"], entity_row["entity_id"], entity_row["name"]) == ("message", "9", None)
