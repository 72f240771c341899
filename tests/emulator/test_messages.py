"""Cursor-style message lists: anchors, direction, time bounds, filters, per-conversation and thread lists."""

from collections import Counter

import pytest

from .client import ApiClient, error_of


def ids(messages: list[dict]) -> list[str]:
    return [m["id"] for m in messages]


def key(message: dict) -> tuple[int, int]:
    return message["sentAt"], int(message["id"])


def test_full_walk_equals_ground_truth(api, truth):
    messages = api.all_messages("/messages", {"limit": 97, "withTags": "true"})
    assert messages == truth["messages"]
    assert ids(messages) == [str(n) for n in range(1, 2001)]
    assert [key(m) for m in messages] == sorted(key(m) for m in messages)


def test_default_page_starts_at_the_oldest(api, truth):
    body = api.ok("/messages")
    assert ids(body["data"]) == [str(n) for n in range(1, 11)]
    first, last = truth["messages"][0], truth["messages"][9]
    assert body["meta"] == {
        "current": {"limit": 10, "count": 10},
        "next": {"affix": "append", "sentAt": last["sentAt"], "id": "10"},
        "previous": {"affix": "prepend", "sentAt": first["sentAt"], "id": "1"},
    }


def test_prepend_pages_hold_the_newest_before_the_anchor_oldest_first(api, truth):
    body = api.ok("/messages", {"affix": "prepend", "id": "100", "limit": 5})
    assert ids(body["data"]) == ["95", "96", "97", "98", "99"]
    newest = api.ok("/messages", {"affix": "prepend", "limit": 3})
    assert ids(newest["data"]) == ["1998", "1999", "2000"]
    # Walking backwards with meta.previous reaches the very first message, without gaps or repeats.
    seen, params = [], {"affix": "prepend", "limit": 150}
    while True:
        page = api.ok("/messages", params)
        if not page["data"]:
            break
        seen = page["data"] + seen
        previous = page["meta"]["previous"]
        params = {"affix": "prepend", "limit": 150, "sentAt": previous["sentAt"], "id": previous["id"]}
    assert seen == api.all_messages("/messages", {"limit": 1000}) and len(seen) == 2000


def busiest_second(truth: dict) -> tuple[int, list[str]]:
    counts = Counter(m["sentAt"] for m in truth["messages"])
    second, _ = counts.most_common(1)[0]
    return second, [m["id"] for m in truth["messages"] if m["sentAt"] == second]


def test_id_and_sent_at_anchor_is_one_tuple(api, truth):
    second, in_second = busiest_second(truth)
    assert len(in_second) >= 3, "the seed must put several messages in one second"
    middle = in_second[1]
    after = api.ok("/messages", {"sentAt": second, "id": middle, "limit": 2, "affix": "append"})
    assert ids(after["data"]) == [in_second[2], str(int(in_second[2]) + 1)]
    before = api.ok("/messages", {"sentAt": second, "id": middle, "limit": 2, "affix": "prepend"})
    assert ids(before["data"]) == [str(int(in_second[0]) - 1), in_second[0]]
    # An id outside the second only positions within it: before all of it, or after all of it.
    start = api.ok("/messages", {"sentAt": second, "id": "0", "limit": 1})
    assert ids(start["data"]) == [in_second[0]]
    end = api.ok("/messages", {"sentAt": second, "id": "999999", "limit": 1})
    assert ids(end["data"]) == [str(int(in_second[-1]) + 1)]


def test_sent_at_alone_is_strictly_after_and_id_alone_too(api, truth):
    second, in_second = busiest_second(truth)
    body = api.ok("/messages", {"sentAt": second, "limit": 1})
    assert ids(body["data"]) == [str(int(in_second[-1]) + 1)]
    assert ids(api.ok("/messages", {"id": "41", "limit": 2})["data"]) == ["42", "43"]


def test_from_and_to_timestamp_are_inclusive(api, truth):
    second, in_second = busiest_second(truth)
    body = api.ok("/messages", {"fromTimestamp": second, "toTimestamp": second, "limit": 1000})
    assert ids(body["data"]) == in_second
    assert body["meta"]["next"] == {
        "affix": "append",
        "sentAt": second,
        "fromTimestamp": str(second),
        "id": in_second[-1],
    }
    # toTimestamp without fromTimestamp is ignored.
    assert len(api.ok("/messages", {"toTimestamp": second, "limit": 1000})["data"]) == 1000


def test_replies_included_unless_hidden(api, truth):
    replies = [m for m in truth["messages"] if "parentId" in m]
    assert replies and all(isinstance(m["parentId"], str) for m in replies)
    walked = api.all_messages("/messages", {"limit": 1000, "hideReplies": "true"})
    assert ids(walked) == [m["id"] for m in truth["messages"] if "parentId" not in m]
    assert len(api.all_messages("/messages", {"limit": 1000, "hideReplies": "0"})) == 2000


def test_deleted_filters(api, truth):
    deleted = [m["id"] for m in truth["messages"] if "deletedAt" in m]
    assert deleted
    assert ids(api.all_messages("/messages", {"limit": 1000, "onlyDeleted": "1"})) == deleted
    kept = ids(api.all_messages("/messages", {"limit": 1000, "hideDeleted": "true"}))
    assert len(kept) == 2000 - len(deleted) and not set(kept) & set(deleted)
    both = api.get("/messages", {"hideDeleted": "true", "onlyDeleted": "true"})
    assert both.status_code == 400


def test_category_and_type_filters(api, truth):
    actions = api.all_messages("/messages", {"limit": 1000, "category": "action"})
    assert ids(actions) == [m["id"] for m in truth["messages"] if m["category"] == "action"]
    member_actions = api.all_messages("/messages", {"limit": 1000, "type": "groupMember"})
    assert ids(member_actions) == [m["id"] for m in truth["messages"] if m["type"] == "groupMember"]
    media = api.all_messages("/messages", {"limit": 1000, "types": "image,video"})
    assert ids(media) == [m["id"] for m in truth["messages"] if m["type"] in ("image", "video")]
    for name, value in (("category", "bogus"), ("type", "nope"), ("categories", "message,bogus")):
        response = api.get("/messages", {name: value})
        assert response.status_code == 400
        assert error_of(response)["details"] == {name: [f"The selected {name} is invalid."]}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"affix": "sideways"}, "affix"),
        ({"id": "abc"}, "id"),
        ({"sentAt": "yesterday"}, "sentAt"),
        ({"fromTimestamp": "soon"}, "fromTimestamp"),
        ({"hideReplies": "yes"}, "hideReplies"),
        ({"withTags": "maybe"}, "withTags"),
    ],
)
def test_bad_message_params(api, params, field):
    response = api.get("/messages", params)
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "ERR_BAD_REQUEST"
    assert error["message"] == "Failed to validate the data sent with the request."
    assert list(error["details"]) == [field]


def test_limit_bounds_and_tags_only_on_request(api):
    assert len(api.ok("/messages", {"limit": 1000})["data"]) == 1000
    assert len(api.ok("/messages", {"limit": 1})["data"]) == 1
    untagged = api.all_messages("/messages", {"limit": 1000})
    assert not any("tags" in m for m in untagged)


def test_conversation_filter_and_viewer_restriction(api, truth):
    conversation = next(c for c in truth["conversations"] if c["conversationType"] == "user")
    expected = [m for m in truth["messages"] if m["conversationId"] == conversation["conversationId"]]
    got = api.all_messages("/messages", {"limit": 7, "conversationId": conversation["conversationId"]})
    assert ids(got) == ids(expected)
    viewer = conversation["viewer"]
    mine = {c["conversationId"] for c in truth["conversations"] if c["viewer"] == viewer}
    visible = api.all_messages("/messages", {"limit": 50}, on_behalf_of=viewer)
    assert ids(visible) == [m["id"] for m in truth["messages"] if m["conversationId"] in mine]
    stranger = next(c["viewer"] for c in truth["conversations"] if c["conversationId"] not in mine)
    denied = api.get("/messages", {"conversationId": conversation["conversationId"]}, on_behalf_of=stranger)
    assert denied.status_code == 403
    assert error_of(denied)["code"] == "ERR_CONVERSATION_NOT_ACCESSIBLE"


def test_group_messages(api, truth):
    row = next(c for c in truth["conversations"] if c["conversationType"] == "group" and c["lastMessageId"])
    guid = row["with"]
    expected = [m for m in truth["messages"] if m["conversationId"] == f"group_{guid}"]
    assert ids(api.all_messages(f"/groups/{guid}/messages", {"limit": 33})) == ids(expected)
    assert ids(
        api.all_messages(f"/groups/{guid}/messages", {"limit": 33}, on_behalf_of=row["viewer"])
    ) == ids(expected)
    members = {m["uid"] for m in truth["members"] if m["guid"] == guid}
    outsider = next(u["uid"] for u in truth["users"] if u["uid"] not in members)
    response = api.get(f"/groups/{guid}/messages", on_behalf_of=outsider)
    assert response.status_code == 403
    assert error_of(response)["code"] == "ERR_CONVERSATION_NOT_ACCESSIBLE"
    assert error_of(api.get("/groups/ghost-group/messages"))["code"] == "ERR_GUID_NOT_FOUND"


def busiest_pair(truth: dict) -> tuple[str, str, list[dict]]:
    counts = Counter(m["conversationId"] for m in truth["messages"] if m["receiverType"] == "user")
    conversation_id, _ = counts.most_common(1)[0]
    low, high = conversation_id.split("_user_")
    return low, high, [m for m in truth["messages"] if m["conversationId"] == conversation_id]


def test_user_messages_page_mode_hybrid_meta(api, truth):
    low, high, expected = busiest_pair(truth)
    assert len(expected) > 10
    body = api.ok(f"/users/{high}/messages", {"perPage": 5}, on_behalf_of=low)
    assert ids(body["data"]) == ids(expected[:5])
    assert body["meta"] == {
        "pagination": {"total": 0, "count": 5, "per_page": 5, "current_page": 1, "total_pages": 2},
        "cursor": {"id": int(expected[4]["id"]), "affix": "append"},
    }
    assert isinstance(body["meta"]["cursor"]["id"], int)
    walked = api.all_pages(f"/users/{high}/messages", {"perPage": 4}, on_behalf_of=low)
    assert ids(walked) == ids(expected)
    # The same conversation seen from the other side.
    assert ids(api.all_pages(f"/users/{low}/messages", {"perPage": 100}, on_behalf_of=high)) == ids(expected)


def test_user_messages_cursor_mode(api, truth):
    low, high, expected = busiest_pair(truth)
    body = api.ok(f"/users/{high}/messages", {"limit": 3, "id": expected[2]["id"]}, on_behalf_of=low)
    assert ids(body["data"]) == ids(expected[3:6])
    assert body["meta"]["pagination"]["per_page"] == 3
    assert body["meta"]["cursor"] == {"id": int(expected[5]["id"]), "affix": "append"}
    newest = api.ok(f"/users/{high}/messages", {"limit": 2, "affix": "prepend"}, on_behalf_of=low)
    assert ids(newest["data"]) == ids(expected[-2:])
    assert newest["meta"]["cursor"] == {"id": int(expected[-2]["id"]), "affix": "prepend"}
    assert newest["meta"]["pagination"]["total_pages"] == 2


def test_user_messages_requires_on_behalf_of(api, truth):
    _, high, _ = busiest_pair(truth)
    response = api.get(f"/users/{high}/messages")
    assert response.status_code == 400
    assert error_of(response)["details"] == {"onBehalfOf": ["The onBehalfOf header is required."]}
    unknown = api.get(f"/users/{high}/messages", on_behalf_of="Nobody-Here")
    assert unknown.status_code == 404
    assert "nobody-here" in error_of(unknown)["message"]


def test_single_message(api, truth):
    tagged = next(m for m in truth["messages"] if m.get("tags"))
    assert api.ok(f"/messages/{tagged['id']}", {"withTags": "true"}) == {"data": tagged}
    plain = api.ok(f"/messages/{tagged['id']}")["data"]
    assert "tags" not in plain and plain["id"] == tagged["id"]
    for missing in ("0", "2001", "abc"):
        response = api.get(f"/messages/{missing}")
        assert response.status_code == 404
        assert error_of(response)["code"] == "ERR_MSG_NOT_FOUND"


def test_single_message_access_for_a_viewer(api, truth):
    message = next(m for m in truth["messages"] if m["receiverType"] == "user")
    low, high = message["conversationId"].split("_user_")
    assert api.get(f"/messages/{message['id']}", on_behalf_of=high).status_code == 200
    outsider = next(u["uid"] for u in truth["users"] if u["uid"] not in (low, high))
    response = api.get(f"/messages/{message['id']}", on_behalf_of=outsider)
    assert response.status_code == 403
    assert error_of(response)["code"] == "ERR_MESSAGE_NO_ACCESS"


def test_thread(api: ApiClient, truth):
    replies = Counter(m["parentId"] for m in truth["messages"] if "parentId" in m)
    parent, count = replies.most_common(1)[0]
    expected = [m for m in truth["messages"] if m.get("parentId") == parent]
    assert len(expected) == count >= 2
    body = api.ok(f"/messages/{parent}/thread", {"limit": 1, "withTags": "true"})
    assert body["data"] == expected[:1]
    assert body["meta"]["current"] == {"limit": 1, "count": 1}
    assert body["meta"]["next"] == {
        "affix": "append",
        "sentAt": expected[0]["sentAt"],
        "id": expected[0]["id"],
    }
    assert api.all_messages(f"/messages/{parent}/thread", {"limit": 1, "withTags": "true"}) == expected
    paged = api.ok(f"/messages/{parent}/thread", {"perPage": 1, "page": 2, "withTags": "true"})
    assert paged["data"] == expected[1:2]
    leaf = next(m for m in truth["messages"] if m["id"] not in replies and "parentId" not in m)
    assert api.ok(f"/messages/{leaf['id']}/thread")["data"] == []
    assert error_of(api.get("/messages/99999/thread"))["code"] == "ERR_MSG_NOT_FOUND"
