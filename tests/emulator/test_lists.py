"""Page-number lists: users, groups, members, conversations; single users and groups."""

from .client import error_of


def test_users_walk_equals_ground_truth_and_has_more_flag(api, truth):
    users = api.all_pages("/users", {"perPage": 7, "withTags": "true"})
    assert users == truth["users"]
    assert len(users) == 40
    assert [u["uid"] for u in users] == sorted(u["uid"] for u in users)


def test_users_page_meta_and_top_level_cursor(api, truth):
    body = api.ok("/users", {"perPage": 15, "page": 2})
    assert body["meta"] == {
        "pagination": {"total": 0, "count": 15, "per_page": 15, "current_page": 2, "total_pages": 3}
    }
    last = truth["users"][29]
    assert body["cursor"] == {"updatedAt": last.get("updatedAt", last["createdAt"]), "affix": "prepend"}
    # The last page says "no more" by repeating its own number.
    last_page = api.ok("/users", {"perPage": 15, "page": 3})
    assert last_page["meta"]["pagination"] == {
        "total": 0,
        "count": 10,
        "per_page": 15,
        "current_page": 3,
        "total_pages": 3,
    }
    beyond = api.ok("/users", {"perPage": 15, "page": 4})
    assert beyond["data"] == [] and "cursor" not in beyond
    assert beyond["meta"]["pagination"]["total_pages"] == 4


def test_users_default_page_size_and_tags_only_on_request(api, truth):
    body = api.ok("/users")
    assert body["meta"]["pagination"]["per_page"] == 100
    assert len(body["data"]) == 40
    assert not any("tags" in u for u in body["data"])
    tagged = [u for u in truth["users"] if u.get("tags")]
    assert tagged, "the seed must give some users tags"


def test_single_user_and_percent_encoded_uppercase_uid(api, truth):
    user = truth["users"][3]
    encoded = user["uid"].upper().replace("-", "%2D").replace("_", "%5F")
    body = api.ok(f"/users/{encoded}")
    assert body == {"data": user}


def test_groups_walk_equals_ground_truth_with_cursor_in_meta(api, truth):
    groups = api.all_pages("/groups", {"perPage": 4, "withTags": "true"})
    assert groups == truth["groups"]
    body = api.ok("/groups", {"perPage": 4})
    last = truth["groups"][3]
    assert body["meta"]["cursor"] == {
        "updatedAt": last.get("updatedAt", last["createdAt"]),
        "affix": "prepend",
    }
    assert "cursor" not in body
    assert body["meta"]["pagination"]["total_pages"] == 2


def test_group_fields_and_viewer_view(api, truth):
    group = truth["groups"][0]
    assert group["conversationId"] == f"group_{group['guid']}"
    assert group["membersCount"] == sum(1 for m in truth["members"] if m["guid"] == group["guid"])
    member = next(m for m in truth["members"] if m["guid"] == group["guid"])
    body = api.ok(f"/groups/{group['guid']}", on_behalf_of=member["uid"])
    assert body["data"]["hasJoined"] is True
    assert body["data"]["scope"] == member["scope"]
    assert body["data"]["joinedAt"] == member["joinedAt"]
    outsider = next(
        u["uid"]
        for u in truth["users"]
        if not any(m["uid"] == u["uid"] and m["guid"] == group["guid"] for m in truth["members"])
    )
    assert api.ok(f"/groups/{group['guid']}", on_behalf_of=outsider)["data"]["hasJoined"] is False


def test_members_walk_equals_ground_truth(api, truth):
    for group in truth["groups"]:
        members = api.all_pages(f"/groups/{group['guid']}/members", {"perPage": 4})
        expected = [m for m in truth["members"] if m["guid"] == group["guid"]]
        assert [(m["uid"], m["scope"], m["joinedAt"]) for m in members] == [
            (m["uid"], m["scope"], m["joinedAt"]) for m in expected
        ]
        users = {u["uid"]: u for u in truth["users"]}
        for member in members:
            user = {k: v for k, v in users[member["uid"]].items() if k != "tags"}
            assert member == {**user, "scope": member["scope"], "joinedAt": member["joinedAt"]}
    body = api.ok(f"/groups/{truth['groups'][0]['guid']}/members", {"perPage": 2})
    assert body["cursor"]["affix"] == "prepend" and "cursor" not in body["meta"]
    assert body["meta"]["pagination"]["total_pages"] == 2


def test_members_of_unknown_group(api):
    response = api.get("/groups/no-such-group/members")
    assert response.status_code == 404
    assert error_of(response)["code"] == "ERR_GUID_NOT_FOUND"


def test_app_wide_conversations_one_row_per_viewer_in_documented_order(api, truth):
    rows = api.all_pages("/conversations", {"perPage": 50, "withTags": "true"})
    assert len(rows) == len(truth["conversations"])
    assert [(r["uid"], r["conversationId"]) for r in rows] == [
        (c["viewer"], c["conversationId"]) for c in truth["conversations"]
    ]
    keys = [
        (r["uid"], r["updatedAt"], r["conversationWith"].get("guid") or r["conversationWith"]["uid"])
        for r in rows
    ]
    assert keys == sorted(keys)
    for row, expected in zip(rows, truth["conversations"], strict=True):
        assert row["unreadMessageCount"] == str(expected["unreadMessageCount"])
        assert row["tags"] == expected["tags"]
        assert row.get("lastMessage", {}).get("id") == expected["lastMessageId"]
        assert (row["createdAt"], row["updatedAt"]) == (expected["createdAt"], expected["updatedAt"])


def test_viewer_conversations_newest_first(api, truth):
    viewer = truth["conversations"][0]["viewer"]
    expected = [c for c in truth["conversations"] if c["viewer"] == viewer]
    rows = api.all_pages("/conversations", {"perPage": 2}, on_behalf_of=viewer)
    assert sorted(r["conversationId"] for r in rows) == sorted(c["conversationId"] for c in expected)
    assert [r["updatedAt"] for r in rows] == sorted((r["updatedAt"] for r in rows), reverse=True)
    assert not any("uid" in r or "tags" in r for r in rows)


def test_conversation_type_filter(api, truth):
    groups_only = api.all_pages("/conversations", {"perPage": 100, "conversationType": "group"})
    assert {r["conversationType"] for r in groups_only} == {"group"}
    assert len(groups_only) == sum(1 for c in truth["conversations"] if c["conversationType"] == "group")
    users_only = api.all_pages("/conversations", {"perPage": 100, "conversationType": "user"})
    assert len(users_only) + len(groups_only) == len(truth["conversations"])
    bad = api.get("/conversations", {"conversationType": "channel"})
    assert bad.status_code == 400
    assert error_of(bad)["details"] == {"conversationType": ["The selected conversationType is invalid."]}


def test_page_size_limits(api):
    assert len(api.ok("/conversations", {"perPage": 1000})["data"]) > 100
    for bad in ("0", "1001", "ten"):
        response = api.get("/users", {"perPage": bad})
        assert response.status_code == 400
        assert error_of(response)["code"] == "ERR_BAD_REQUEST"
        assert list(error_of(response)["details"]) == ["perPage"]
    assert api.get("/groups", {"page": "0"}).status_code == 400
