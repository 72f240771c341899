"""Single conversations (GET/PUT with onBehalfOf) and conversation tags: replacement, validation, stats."""

import pytest

from .client import ApiClient, error_of


def user_row(truth: dict) -> dict:
    return next(c for c in truth["conversations"] if c["conversationType"] == "user" and c["lastMessageId"])


def group_row(truth: dict) -> dict:
    return next(c for c in truth["conversations"] if c["conversationType"] == "group" and c["lastMessageId"])


def listed(api: ApiClient, row: dict) -> dict:
    rows = api.all_pages("/conversations", {"perPage": 100, "withTags": "true"}, on_behalf_of=row["viewer"])
    return next(r for r in rows if r["conversationId"] == row["conversationId"])


def test_get_user_conversation_is_a_single_object_with_tags(api, truth):
    row = user_row(truth)
    body = api.ok(f"/users/{row['with']}/conversation", on_behalf_of=row["viewer"])
    conversation = body["data"]
    assert isinstance(conversation, dict)
    assert conversation["conversationId"] == row["conversationId"]
    assert conversation["conversationType"] == "user"
    assert conversation["unreadMessageCount"] == str(row["unreadMessageCount"])
    assert conversation["tags"] == row["tags"]
    assert conversation["conversationWith"]["uid"] == row["with"]
    assert conversation["conversationWith"]["conversationId"] == row["conversationId"]
    assert conversation["lastMessage"]["id"] == row["lastMessageId"]
    assert "receipts" not in conversation["lastMessage"]
    in_list = listed(api, row)
    assert in_list["lastMessage"].pop("receipts") == {"data": [[]]}
    assert in_list == conversation


def test_get_group_conversation(api, truth):
    row = group_row(truth)
    member = next(m for m in truth["members"] if m["guid"] == row["with"] and m["uid"] == row["viewer"])
    conversation = api.ok(f"/groups/{row['with']}/conversation", on_behalf_of=row["viewer"])["data"]
    assert conversation["conversationId"] == f"group_{row['with']}"
    assert conversation["createdAt"] == member["joinedAt"]
    assert conversation["conversationWith"]["scope"] == member["scope"]
    assert conversation["conversationWith"]["joinedAt"] == member["joinedAt"]
    assert conversation["conversationWith"]["hasJoined"] is True
    assert conversation["updatedAt"] == row["updatedAt"]


def test_on_behalf_of_is_required_and_checked(api, truth):
    row = user_row(truth)
    for path in (f"/users/{row['with']}/conversation", f"/groups/{group_row(truth)['with']}/conversation"):
        missing = api.get(path)
        assert missing.status_code == 400
        assert error_of(missing)["code"] == "ERR_BAD_REQUEST"
        assert error_of(missing)["details"] == {"onBehalfOf": ["The onBehalfOf header is required."]}
        unknown = api.get(path, on_behalf_of="Ghost_User")
        assert unknown.status_code == 404
        assert error_of(unknown)["code"] == "ERR_UID_NOT_FOUND"
        assert "ghost_user" in error_of(unknown)["message"]
    missing_peer = api.get("/users/ghost-peer/conversation", on_behalf_of=row["viewer"])
    assert error_of(missing_peer)["code"] == "ERR_UID_NOT_FOUND"
    missing_group = api.get("/groups/ghost-group/conversation", on_behalf_of=row["viewer"])
    assert (missing_group.status_code, error_of(missing_group)["code"]) == (404, "ERR_GUID_NOT_FOUND")


def test_not_a_participant(api, truth):
    row = user_row(truth)
    talked = {c["with"] for c in truth["conversations"] if c["viewer"] == row["viewer"]}
    stranger = next(u["uid"] for u in truth["users"] if u["uid"] not in talked and u["uid"] != row["viewer"])
    response = api.get(f"/users/{stranger}/conversation", on_behalf_of=row["viewer"])
    assert response.status_code == 403
    error = error_of(response)
    assert error["code"] == "ERR_CONVERSATION_NOT_ACCESSIBLE"
    assert error["source"] == "chat-api"
    low, high = sorted((stranger, row["viewer"]))
    assert f"{low}_user_{high}" in error["message"]
    guid = group_row(truth)["with"]
    members = {m["uid"] for m in truth["members"] if m["guid"] == guid}
    outsider = next(u["uid"] for u in truth["users"] if u["uid"] not in members)
    denied = api.get(f"/groups/{guid}/conversation", on_behalf_of=outsider)
    assert (denied.status_code, error_of(denied)["code"]) == (403, "ERR_CONVERSATION_NOT_ACCESSIBLE")


@pytest.fixture
def fresh(make_emulator):
    emu = make_emulator()
    client = ApiClient(emu)
    yield emu, client, emu.ground_truth(messages=False)
    client.session.close()


def test_put_replaces_the_viewers_tags_only(fresh):
    emu, api, truth = fresh
    row = user_row(truth)
    path = f"/users/{row['with']}/conversation"
    response = api.put(path, {"tags": ["vip", "🔥 hot", "x" * 100]}, on_behalf_of=row["viewer"])
    assert response.status_code == 200, response.text
    conversation = response.json()["data"]
    assert conversation["tags"] == ["vip", "🔥 hot", "x" * 100]
    assert conversation["lastMessage"]["receipts"] == {"data": [[]]}
    assert conversation["updatedAt"] == row["updatedAt"]
    replaced = api.put(path, {"tags": ["only-this"]}, on_behalf_of=row["viewer"]).json()["data"]
    assert replaced["tags"] == ["only-this"]
    assert api.ok(path, on_behalf_of=row["viewer"])["data"]["tags"] == ["only-this"]
    assert listed(api, row)["tags"] == ["only-this"]

    after = emu.ground_truth(messages=False)
    changed = [
        (c["viewer"], c["conversationId"], c["tags"])
        for c, before in zip(after["conversations"], truth["conversations"], strict=True)
        if c != before
    ]
    assert changed == [(row["viewer"], row["conversationId"], ["only-this"])]

    cleared = api.put(path, {"tags": []}, on_behalf_of=row["viewer"]).json()["data"]
    assert cleared["tags"] == []


def test_put_group_conversation_and_stats(fresh):
    emu, api, truth = fresh
    row = group_row(truth)
    emu.reset_stats()
    path = f"/groups/{row['with']}/conversation"
    tags = [f"t{n}" for n in range(25)]
    assert api.put(path, {"tags": tags}, on_behalf_of=row["viewer"]).status_code == 200
    assert api.put(path, {"tags": [*tags, "t25"]}, on_behalf_of=row["viewer"]).status_code == 400
    stats = emu.stats()
    assert [(p["path"], p["on_behalf_of"], p["body"], p["status"]) for p in stats["puts"]] == [
        (f"/v3{path}", row["viewer"], {"tags": tags}, 200),
        (f"/v3{path}", row["viewer"], {"tags": [*tags, "t25"]}, 400),
    ]
    assert stats["requests"] == [
        {"method": "PUT", "route": "/groups/{guid}/conversation", "status": 200, "count": 1},
        {"method": "PUT", "route": "/groups/{guid}/conversation", "status": 400, "count": 1},
    ]
    assert (
        emu.ground_truth(messages=False)["conversations"][truth["conversations"].index(row)]["tags"] == tags
    )


@pytest.mark.parametrize(
    ("body", "details"),
    [
        ({"tags": [f"t{n}" for n in range(26)]}, {"tags": ["The tags may not have more than 25 items."]}),
        ({"tags": ["a", "b", "c", "   "]}, {"tags.3": ["The tags.3 field is required."]}),
        ({"tags": [""]}, {"tags.0": ["The tags.0 field is required."]}),
        ({"tags": ["ok", "y" * 101]}, {"tags.1": ["The tags.1 may not be greater than 100 characters."]}),
        ({"tags": ["ok", 7]}, {"tags.1": ["The tags.1 must be a string."]}),
        ({"tags": "vip"}, {"tags": ["The tags must be an array."]}),
        ({"labels": ["vip"]}, {"tags": ["The tags field is required."]}),
    ],
)
def test_put_validation(api, truth, body, details):
    row = user_row(truth)
    response = api.put(f"/users/{row['with']}/conversation", body, on_behalf_of=row["viewer"])
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "message": "Failed to validate the data sent with the request.",
            "devMessage": "Failed to validate the data sent with the request.",
            "source": "chat-api",
            "details": details,
            "code": "ERR_BAD_REQUEST",
        }
    }
    assert (
        api.ok(f"/users/{row['with']}/conversation", on_behalf_of=row["viewer"])["data"]["tags"]
        == row["tags"]
    )


def test_put_needs_valid_json_on_behalf_of_and_participation(api, truth):
    row = user_row(truth)
    path = f"/users/{row['with']}/conversation"
    raw = api.session.put(
        api.base_url + path,
        data=b"{not json",
        headers={"apikey": api.api_key, "onBehalfOf": row["viewer"]},
        timeout=10,
    )
    assert raw.status_code == 400 and error_of(raw)["code"] == "ERR_BAD_REQUEST"
    assert api.put(path, {"tags": ["a"]}).status_code == 400
    talked = {c["with"] for c in truth["conversations"] if c["viewer"] == row["viewer"]}
    stranger = next(u["uid"] for u in truth["users"] if u["uid"] not in talked and u["uid"] != row["viewer"])
    denied = api.put(f"/users/{stranger}/conversation", {"tags": ["a"]}, on_behalf_of=row["viewer"])
    assert denied.status_code == 403
