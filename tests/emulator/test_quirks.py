"""The documented quirks of payload shapes, checked on the default data set."""

import re
from collections import Counter

import pytest

USER_ENTITY_KEYS = {"uid", "name", "avatar", "status", "role", "createdAt"}


@pytest.fixture(scope="module")
def rows(api):
    return api.all_pages("/conversations", {"perPage": 1000, "withTags": "true"})


def test_ids_are_strings_and_timestamps_integers(truth):
    for message in truth["messages"]:
        assert isinstance(message["id"], str) and message["id"].isdigit()
        assert isinstance(message["sentAt"], int) and isinstance(message["updatedAt"], int)
        assert isinstance(message.get("parentId", ""), str)


def test_unread_count_is_a_string_and_last_message_has_receipts(rows):
    assert all(isinstance(r["unreadMessageCount"], str) and r["unreadMessageCount"].isdigit() for r in rows)
    assert any(r["unreadMessageCount"] != "0" for r in rows)
    with_last = [r for r in rows if "lastMessage" in r]
    assert with_last
    assert all(r["lastMessage"]["receipts"] == {"data": [[]]} for r in with_last)


def test_one_on_one_ids_sort_their_uids_as_plain_strings(truth):
    pairs = {m["conversationId"] for m in truth["messages"] if m["receiverType"] == "user"}
    assert pairs
    for conversation_id in pairs:
        low, high = conversation_id.split("_user_")
        assert low < high
    # Plain string order, not numeric: "cometchat-uid-10" sorts before "cometchat-uid-2".
    uids = [u["uid"] for u in truth["users"]]
    assert uids == sorted(uids)


def test_uids_have_underscores_and_dashes_and_names_unicode(truth):
    uids = [u["uid"] for u in truth["users"]]
    assert all(re.fullmatch(r"[a-z0-9_-]+", uid) for uid in uids)
    assert any("_" in uid for uid in uids) and any("-" in uid for uid in uids)
    assert any("_" in g["guid"] for g in truth["groups"]) and any("-" in g["guid"] for g in truth["groups"])
    names = [u["name"] for u in truth["users"]] + [g["name"] for g in truth["groups"]]
    assert any(not name.isascii() for name in names)
    texts = [m["data"].get("text", "") for m in truth["messages"]]
    assert any(any(ord(ch) > 0xFFFF for ch in text) for text in texts), "emoji in texts"
    tags = [t for m in truth["messages"] for t in m.get("tags", [])]
    assert any(not tag.isascii() for tag in tags)


def test_missing_last_message(rows, truth):
    silent_groups = [r for r in rows if r["conversationType"] == "group" and "lastMessage" not in r]
    assert silent_groups, "a group without messages exists for every member"
    guid = silent_groups[0]["conversationWith"]["guid"]
    assert not any(m["conversationId"] == f"group_{guid}" for m in truth["messages"])
    assert {r["uid"] for r in silent_groups if r["conversationWith"]["guid"] == guid} == {
        m["uid"] for m in truth["members"] if m["guid"] == guid
    }
    deleted_last = [r for r in rows if r["conversationType"] == "user" and "lastMessage" not in r]
    assert deleted_last, "a conversation whose last message was deleted"
    messages = [m for m in truth["messages"] if m["conversationId"] == deleted_last[0]["conversationId"]]
    top_level = [m for m in messages if "parentId" not in m and m["category"] == "message"]
    assert "deletedAt" in top_level[-1]


def test_sender_and_receiver_entities(truth):
    users = {u["uid"]: u for u in truth["users"]}
    for message in truth["messages"]:
        if message["category"] != "message":
            continue
        entities = message["data"]["entities"]
        assert set(entities) == {"sender", "receiver"}
        sender = entities["sender"]
        assert sender["entityType"] == "user" and sender["entity"]["uid"] == message["sender"]
        assert set(sender["entity"]) >= USER_ENTITY_KEYS and "tags" not in sender["entity"]
        assert sender["entity"]["name"] == users[message["sender"]]["name"]
        receiver = entities["receiver"]
        assert receiver["entityType"] == message["receiverType"]
        if message["receiverType"] == "user":
            assert receiver["entity"]["uid"] == message["receiver"]
            assert receiver["entity"]["conversationId"] == message["conversationId"]
        else:
            assert receiver["entity"]["guid"] == message["receiver"]
            assert receiver["entity"]["conversationId"] == f"group_{message['receiver']}"


def test_group_member_actions_have_by_on_for(truth):
    actions = [m for m in truth["messages"] if m["type"] == "groupMember"]
    assert {m["data"]["action"] for m in actions} >= {"joined", "added"}
    members = {(m["guid"], m["uid"]) for m in truth["members"]}
    for action in actions:
        assert action["category"] == "action" and action["receiverType"] == "group"
        entities = action["data"]["entities"]
        assert [entities[k]["entityType"] for k in ("by", "on", "for")] == ["user", "user", "group"]
        assert entities["by"]["entity"]["uid"] == action["sender"]
        assert entities["for"]["entity"]["guid"] == action["receiver"]
        if action["data"]["action"] == "joined":
            assert entities["by"]["entity"]["uid"] == entities["on"]["entity"]["uid"]
        if action["data"]["action"] in ("left", "kicked"):
            assert (action["receiver"], entities["on"]["entity"]["uid"]) not in members
        if action["data"]["action"] == "scopeChanged":
            assert set(action["data"]["extras"]["scope"]) == {"new", "old"}
    assert any(m["sender"] == "app_system" for m in actions)


def test_edited_and_deleted_history(truth):
    messages = {m["id"]: m for m in truth["messages"]}
    edits = [m for m in truth["messages"] if m["category"] == "action" and m["type"] == "message"]
    assert {m["data"]["action"] for m in edits} == {"edited", "deleted"}
    for action in edits:
        entities = action["data"]["entities"]
        assert set(entities) == {"by", "on", "for"}
        target = entities["on"]["entity"]
        assert entities["on"]["entityType"] == "message"
        assert int(target["id"]) < int(action["id"])
        stamp = "editedAt" if action["data"]["action"] == "edited" else "deletedAt"
        assert target[stamp] == action["sentAt"] == messages[target["id"]][stamp]
    edited = [m for m in truth["messages"] if "editedAt" in m]
    assert edited and all(m["editedBy"] and m["updatedAt"] >= m["editedAt"] for m in edited)


def test_attachments_mentions_reactions(truth):
    media = [m for m in truth["messages"] if m["type"] in ("image", "file", "audio", "video")]
    assert {m["type"] for m in media} == {"image", "file", "audio", "video"}
    for message in media:
        (attachment,) = message["data"]["attachments"]
        assert set(attachment) == {"url", "name", "mimeType", "extension", "size"}
        assert isinstance(attachment["size"], str) and attachment["size"].isdigit()
        assert attachment["mimeType"].startswith(message["type"]) or message["type"] == "file"
    mentioning = [m for m in truth["messages"] if "mentions" in m["data"]]
    assert mentioning
    for message in mentioning:
        (uid,) = message["data"]["mentions"]
        assert message["data"]["text"].startswith(f"<@uid:{uid}>")
        assert message["data"]["mentions"][uid]["uid"] == uid
    reactions = [r for m in truth["messages"] for r in m["data"].get("reactions", [])]
    assert reactions and all(isinstance(r["count"], int) and r["count"] >= 1 for r in reactions)
    assert any(not r["reaction"].isascii() for r in reactions)


def test_many_messages_share_a_second(truth):
    counts = Counter(m["sentAt"] for m in truth["messages"])
    assert sum(n for n in counts.values() if n > 1) > len(truth["messages"]) // 2
