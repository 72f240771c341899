"""Mutations driven through the Python API are visible over HTTP and in the ground truth."""

import pytest

from sources.cometchat_emulator import EmulatorError

from .client import ApiClient, error_of


@pytest.fixture
def fresh(make_emulator):
    emu = make_emulator(seed=21, users=12, groups=3, members_per_group=4, messages=400)
    client = ApiClient(emu)
    yield emu, client, emu.ground_truth()
    client.session.close()


def by_id(truth: dict) -> dict[str, dict]:
    return {m["id"]: m for m in truth["messages"]}


def test_add_messages_after_the_newest(fresh):
    emu, api, before = fresh
    newest = before["messages"][-1]
    new_ids = emu.add_messages(5)
    assert new_ids == [str(n) for n in range(401, 406)]
    assert emu.message_count() == 405
    after = emu.ground_truth()
    added = after["messages"][400:]
    assert [m["id"] for m in added] == new_ids
    assert {m["sentAt"] for m in added} == {newest["sentAt"] + 1}
    assert after["messages"][:400] == before["messages"]
    page = api.ok("/messages", {"sentAt": newest["sentAt"], "id": newest["id"], "limit": 10})
    assert [m["id"] for m in page["data"]] == new_ids


def test_added_message_updates_conversation_and_unread(fresh):
    emu, api, before = fresh
    row = next(c for c in before["conversations"] if c["conversationType"] == "user" and c["lastMessageId"])
    (new_id,) = emu.add_messages(1, conversation_id=row["conversationId"])
    after = emu.ground_truth()
    message = by_id(after)[new_id]
    rows = {(c["viewer"], c["conversationId"]): c for c in after["conversations"]}
    for viewer in row["conversationId"].split("_user_"):
        current = rows[(viewer, row["conversationId"])]
        previous = next(
            c
            for c in before["conversations"]
            if (c["viewer"], c["conversationId"]) == (viewer, row["conversationId"])
        )
        assert current["lastMessageId"] == new_id
        assert current["updatedAt"] == message["sentAt"]
        expected_unread = previous["unreadMessageCount"] + (0 if viewer == message["sender"] else 1)
        assert current["unreadMessageCount"] == expected_unread
    listed = api.ok(f"/users/{row['with']}/conversation", on_behalf_of=row["viewer"])["data"]
    assert listed["lastMessage"]["id"] == new_id


def test_first_message_creates_a_conversation(fresh):
    emu, api, before = fresh
    existing = {c["conversationId"] for c in before["conversations"]}
    uids = sorted(u["uid"] for u in before["users"])
    pair = next(f"{a}_user_{b}" for a in uids for b in uids if a < b and f"{a}_user_{b}" not in existing)
    low, high = pair.split("_user_")
    assert api.get(f"/users/{high}/conversation", on_behalf_of=low).status_code == 403
    emu.add_messages(2, conversation_id=pair)
    conversation = api.ok(f"/users/{high}/conversation", on_behalf_of=low)["data"]
    assert conversation["conversationId"] == pair
    viewers = {
        c["viewer"] for c in emu.ground_truth(messages=False)["conversations"] if c["conversationId"] == pair
    }
    assert viewers == {low, high}


def test_burst_in_one_second_and_the_documented_recipe(fresh):
    emu, api, before = fresh
    second = before["messages"][-1]["sentAt"] + 10
    burst = emu.add_messages(1500, sent_at=second)
    assert len(set(burst)) == 1500
    params = {"fromTimestamp": second, "affix": "append", "limit": 1000}
    first = api.ok("/messages", params)
    assert [m["id"] for m in first["data"]] == burst[:1000]
    following = first["meta"]["next"]
    assert following == {"affix": "append", "sentAt": second, "fromTimestamp": str(second), "id": burst[999]}
    # Re-anchoring on next.sentAt alone (the old recipe) returns the very same page inside a burst...
    again = api.ok("/messages", {**params, "fromTimestamp": following["sentAt"]})
    assert [m["id"] for m in again["data"]] == burst[:1000]
    # ...while also sending next's (sentAt, id) continues exactly after it.
    rest = api.ok("/messages", {**params, "sentAt": following["sentAt"], "id": following["id"]})
    assert [m["id"] for m in rest["data"]] == burst[1000:]
    assert all(m["sentAt"] == second for m in rest["data"])
    with pytest.raises(EmulatorError, match="older than the newest"):
        emu.add_messages(1, sent_at=second - 1)


def test_replies_via_parent_id(fresh):
    emu, api, before = fresh
    parent = next(m for m in before["messages"] if m["category"] == "message" and "parentId" not in m)
    replies = emu.add_messages(3, parent_id=parent["id"])
    thread = api.all_messages(f"/messages/{parent['id']}/thread", {"limit": 100})
    assert [m["id"] for m in thread][-3:] == replies
    assert all(
        m["parentId"] == parent["id"] and m["conversationId"] == parent["conversationId"] for m in thread
    )
    after = emu.ground_truth(messages=False)
    # Thread replies do not become the conversation's lastMessage.
    assert replies[-1] not in {c["lastMessageId"] for c in after["conversations"]}
    with pytest.raises(EmulatorError):
        emu.add_messages(1, parent_id=replies[0])


def test_edit_appends_an_action_carrying_the_updated_message(fresh):
    emu, api, before = fresh
    target = next(
        m for m in before["messages"] if m["type"] == "text" and "editedAt" not in m and "deletedAt" not in m
    )
    action_id = emu.edit_message(target["id"], "edited text ✏️")
    assert action_id == "401"
    after = by_id(emu.ground_truth())
    edited = after[target["id"]]
    action = after[action_id]
    assert edited["data"]["text"] == "edited text ✏️"
    assert edited["editedAt"] == action["sentAt"] == edited["updatedAt"]
    assert edited["editedBy"] == target["sender"]
    assert (action["category"], action["type"], action["data"]["action"]) == ("action", "message", "edited")
    entities = action["data"]["entities"]
    assert set(entities) == {"by", "on", "for"}
    assert entities["by"] == {"entity": entities["by"]["entity"], "entityType": "user"}
    assert entities["by"]["entity"]["uid"] == target["sender"]
    assert entities["on"] == {"entity": edited, "entityType": "message"}
    assert entities["for"] == target["data"]["entities"]["receiver"]
    assert action["conversationId"] == target["conversationId"]
    assert api.ok(f"/messages/{target['id']}", {"withTags": "true"})["data"] == edited


def test_delete_is_soft_and_appends_a_deleted_action(fresh):
    emu, api, before = fresh
    target = next(m for m in before["messages"] if m["category"] == "message" and "deletedAt" not in m)
    edit_id = emu.edit_message(target["id"], "first edit")
    delete_id = emu.delete_message(target["id"])
    after = by_id(emu.ground_truth())
    deleted = after[target["id"]]
    assert deleted["deletedAt"] == after[delete_id]["sentAt"]
    assert deleted["deletedBy"] == target["sender"]
    assert deleted["data"]["text"] == "first edit"
    # Each action carries the message as it was right after that action.
    assert "deletedAt" not in after[edit_id]["data"]["entities"]["on"]["entity"]
    assert after[delete_id]["data"]["action"] == "deleted"
    assert after[delete_id]["data"]["entities"]["on"]["entity"] == deleted
    listed = api.all_messages("/messages", {"limit": 1000})
    assert target["id"] in {m["id"] for m in listed}
    hidden = api.all_messages("/messages", {"limit": 1000, "hideDeleted": "true"})
    assert target["id"] not in {m["id"] for m in hidden}
    with pytest.raises(EmulatorError, match="already deleted"):
        emu.delete_message(target["id"])
    with pytest.raises(EmulatorError):
        emu.edit_message(delete_id, "actions cannot be edited")
    with pytest.raises(EmulatorError):
        emu.edit_message("99999", "no such message")


def test_deleting_the_last_message_removes_last_message(fresh):
    emu, api, before = fresh
    row = next(c for c in before["conversations"] if c["conversationType"] == "user" and c["lastMessageId"])
    emu.delete_message(row["lastMessageId"])
    conversation = api.ok(f"/users/{row['with']}/conversation", on_behalf_of=row["viewer"])["data"]
    assert "lastMessage" not in conversation
    assert conversation["updatedAt"] == row["updatedAt"]
    after = emu.ground_truth(messages=False)
    assert all(
        c["lastMessageId"] is None
        for c in after["conversations"]
        if c["conversationId"] == row["conversationId"]
    )


def test_set_conversation_tags(fresh):
    emu, api, before = fresh
    row = next(c for c in before["conversations"] if c["conversationType"] == "group")
    emu.set_conversation_tags(row["viewer"], row["conversationId"], ["vip", "🔥 hot"])
    conversation = api.ok(f"/groups/{row['with']}/conversation", on_behalf_of=row["viewer"])["data"]
    assert conversation["tags"] == ["vip", "🔥 hot"]
    others = [
        c
        for c in emu.ground_truth(messages=False)["conversations"]
        if c["conversationId"] == row["conversationId"]
    ]
    assert [c["tags"] for c in others if c["viewer"] == row["viewer"]] == [["vip", "🔥 hot"]]
    with pytest.raises(EmulatorError):
        emu.set_conversation_tags(row["viewer"], row["conversationId"], [" "])
    outsider = next(u["uid"] for u in before["users"] if u["uid"] not in {c["viewer"] for c in others})
    with pytest.raises(EmulatorError):
        emu.set_conversation_tags(outsider, row["conversationId"], ["x"])


def test_delete_user(fresh):
    emu, api, before = fresh
    member = before["members"][1]
    uid = member["uid"]
    emu.delete_user(uid)
    assert error_of(api.get(f"/users/{uid}"))["code"] == "ERR_UID_NOT_FOUND"
    assert error_of(api.get("/conversations", on_behalf_of=uid))["code"] == "ERR_UID_NOT_FOUND"
    assert uid not in {u["uid"] for u in api.all_pages("/users")}
    members = api.all_pages(f"/groups/{member['guid']}/members")
    assert uid not in {m["uid"] for m in members}
    assert api.ok(f"/groups/{member['guid']}")["data"]["membersCount"] == len(members)
    after = emu.ground_truth()
    assert uid not in {u["uid"] for u in after["users"]}
    assert uid not in {m["uid"] for m in after["members"]}
    assert uid not in {c["viewer"] for c in after["conversations"]}
    assert len(after["messages"]) == len(before["messages"])  # history stays
    with pytest.raises(EmulatorError):
        emu.delete_user(uid)


def test_delete_group(fresh):
    emu, api, before = fresh
    guid = before["groups"][0]["guid"]
    emu.delete_group(guid)
    for path in (f"/groups/{guid}", f"/groups/{guid}/members", f"/groups/{guid}/messages"):
        response = api.get(path)
        assert (response.status_code, error_of(response)["code"]) == (404, "ERR_GUID_NOT_FOUND")
    viewer = next(m["uid"] for m in before["members"] if m["guid"] == guid)
    gone = api.get(f"/groups/{guid}/conversation", on_behalf_of=viewer)
    assert error_of(gone)["code"] == "ERR_GUID_NOT_FOUND"
    assert guid not in {g["guid"] for g in api.all_pages("/groups")}
    after = emu.ground_truth(messages=False)
    assert guid not in {g["guid"] for g in after["groups"]}
    assert guid not in {m["guid"] for m in after["members"]}
    assert f"group_{guid}" not in {c["conversationId"] for c in after["conversations"]}


def test_deleting_a_membership_and_a_conversation(make_emulator):
    emulator = make_emulator(messages=400, users=12, groups=3)
    api = ApiClient(emulator)
    truth = emulator.ground_truth(messages=False)
    member = truth["members"][-1]
    emulator.delete_member(member["guid"], member["uid"])
    members = api.all_pages(f"/groups/{member['guid']}/members", {"perPage": 100})
    assert member["uid"] not in {m["uid"] for m in members}
    rows = api.all_pages("/conversations", {"perPage": 1000})
    assert (member["uid"], f"group_{member['guid']}") not in {(r["uid"], r["conversationId"]) for r in rows}

    row = next(r for r in rows if r["conversationType"] == "user")
    emulator.delete_conversation(row["uid"], row["conversationId"])
    keys = {(r["uid"], r["conversationId"]) for r in api.all_pages("/conversations", {"perPage": 1000})}
    assert (row["uid"], row["conversationId"]) not in keys
    partner = row["conversationWith"]["uid"]
    assert (partner, row["conversationId"]) in keys, "only the viewer's own row goes"
    truth_keys = {
        (r["viewer"], r["conversationId"]) for r in emulator.ground_truth(messages=False)["conversations"]
    }
    assert truth_keys == keys
    emulator.add_messages(1, conversation_id=row["conversationId"])
    keys = {(r["uid"], r["conversationId"]) for r in api.all_pages("/conversations", {"perPage": 1000})}
    assert (row["uid"], row["conversationId"]) in keys, "a new message brings the conversation back"


def test_the_updates_query_sees_each_change_made_after_an_earlier_one(fresh):
    emu, api, before = fresh
    newest = before["messages"][-1]["sentAt"]
    query = {"updatedAt": newest, "onlyUpdates": "true", "limit": 100}

    def changed_ids() -> set[str]:
        return {m["id"] for m in api.ok("/messages", query)["data"]}

    already = changed_ids()  # changed in the newest second by the generated data
    untouched = [m["id"] for m in before["messages"] if m["type"] == "text" and m["updatedAt"] == m["sentAt"]]
    emu.edit_message(untouched[0], "edited")
    assert changed_ids() == already | {untouched[0]}
    emu.react(untouched[1], "👍")
    assert changed_ids() == already | {untouched[0], untouched[1]}
    emu.delete_message(untouched[2])
    assert changed_ids() == already | set(untouched[:3])
