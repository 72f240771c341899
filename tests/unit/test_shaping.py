"""Payload shaping: the documented quirks become clean, typed rows."""

from datetime import UTC, datetime

from sources.cometchat.shaping import changed_message, shape_conversation, shape_message

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


def test_conversation_unread_count_string_and_last_message_reference():
    row = shape_conversation(
        "cometchat-uid-4",
        {
            "conversationId": "group_project-group",
            "conversationType": "group",
            "unreadMessageCount": "7",
            "createdAt": 1630071782,
            "updatedAt": 1630481413,
            "lastMessage": ACTION,
            "conversationWith": {"guid": "project-group", "name": "Project Group1"},
            "tags": ["vip"],
        },
    )
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


def test_action_message_entities_become_rows_with_role_and_type():
    row = shape_message(ACTION)
    assert row["id"] == 50 and row["action"] == "unbanned"
    assert [(e["role"], e["entity_type"], e["entity_id"]) for e in row["entities"]] == [
        ("by", "user", "superhero4"),
        ("on", "user", "superhero3"),
        ("for", "group", "project-group"),
    ]
    assert row["entities"][0]["user_role"] == "default"
    assert all(e["message_id"] == 50 for e in row["entities"])


def test_reactions_are_read_from_data_or_top_level_and_mentions_from_a_map():
    base = {
        "id": "3",
        "sentAt": 1,
        "data": {"text": "hi <@uid:b>", "mentions": {"b": {"uid": "b", "name": "Bé"}}},
    }
    in_data = shape_message({**base, "data": {**base["data"], "reactions": [{"reaction": "😅", "count": 2}]}})
    top_level = shape_message({**base, "reactions": [{"reaction": "😅", "count": "2"}]})
    assert in_data["reactions"] == top_level["reactions"] == [{"message_id": 3, "reaction": "😅", "count": 2}]
    assert in_data["mentions"] == [{"message_id": 3, "uid": "b", "name": "Bé"}]


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
    entity_row = shape_message(action)["entities"][0]
    assert (
        entity_row["entity_type"] == "message" and entity_row["entity_id"] == "9" and "name" not in entity_row
    )
