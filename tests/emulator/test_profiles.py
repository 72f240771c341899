"""Behaviour profiles: each switch changes exactly the behaviour it names, and they combine."""

from collections import Counter
from itertools import pairwise

import pytest

from sources.cometchat_emulator import EmulatorConfig
from sources.cometchat_emulator.profiles import CAPPED_PAGE_SIZE, PROFILES

from .client import ApiClient

SMALL = {"messages": 600, "users": 30, "groups": 4}


def _client(make_emulator, *profiles: str, **knobs) -> ApiClient:
    return ApiClient(make_emulator(profiles=profiles, **{**SMALL, **knobs}))


def _same_second_pair(messages: list[dict]) -> tuple[dict, dict]:
    for first, second in pairwise(messages):
        if first["sentAt"] == second["sentAt"]:
            return first, second
    raise AssertionError("the data set has no two messages in one second")


def test_unknown_profile_is_refused():
    with pytest.raises(ValueError, match="unknown profile"):
        EmulatorConfig(profiles=("no_such_thing",)).validated()
    assert EmulatorConfig(profiles=tuple(PROFILES)).validated().profiles == tuple(PROFILES)


def test_default_from_timestamp_zero_starts_at_the_oldest_message(api, truth):
    body = api.ok("/messages", {"limit": 5, "fromTimestamp": 0, "affix": "append"})
    assert [m["id"] for m in body["data"]] == [m["id"] for m in truth["messages"][:5]]


def test_unanchored_newest_starts_unanchored_append_at_the_newest_page(make_emulator):
    api = _client(make_emulator, "unanchored_newest")
    newest = api.ok("/messages", {"limit": 5, "affix": "prepend"})["data"]
    for params in ({"limit": 5, "affix": "append"}, {"limit": 5, "affix": "append", "fromTimestamp": 0}):
        body = api.ok("/messages", params)
        assert [m["id"] for m in body["data"]] == [m["id"] for m in newest]
        assert api.ok("/messages", {**params, **body["meta"]["next"], "limit": 5})["data"] == []
    oldest = api.ok("/messages", {"limit": 5, "affix": "append", "fromTimestamp": 1})["data"]
    assert oldest[0]["id"] == "1"


def test_anchor_ignores_id_skips_the_rest_of_the_anchor_second(make_emulator):
    api = _client(make_emulator, "anchor_ignores_id")
    first, second = _same_second_pair(api.ok("/messages", {"limit": 200, "fromTimestamp": 1})["data"])
    params = {"limit": 3, "affix": "append", "sentAt": first["sentAt"], "id": first["id"]}
    after = api.ok("/messages", params)["data"]
    assert all(m["sentAt"] > first["sentAt"] for m in after)
    assert second["id"] not in {m["id"] for m in after}
    # fromTimestamp stays inclusive: the whole second comes back.
    same = api.ok("/messages", {"limit": 50, "fromTimestamp": first["sentAt"], "id": first["id"]})["data"]
    assert first["id"] in {m["id"] for m in same}


def test_default_anchor_is_an_exclusive_tuple(api):
    first, second = _same_second_pair(api.ok("/messages", {"limit": 200, "fromTimestamp": 1})["data"])
    params = {"limit": 1, "affix": "append", "sentAt": first["sentAt"], "id": first["id"]}
    assert api.ok("/messages", params)["data"][0]["id"] == second["id"]


def test_anchor_inclusive_repeats_the_anchor_row(make_emulator):
    api = _client(make_emulator, "anchor_inclusive")
    first, second = _same_second_pair(api.ok("/messages", {"limit": 200, "fromTimestamp": 1})["data"])
    tuple_anchor = {"limit": 2, "affix": "append", "sentAt": first["sentAt"], "id": first["id"]}
    assert [m["id"] for m in api.ok("/messages", tuple_anchor)["data"]] == [first["id"], second["id"]]
    id_anchor = {"limit": 1, "affix": "append", "id": first["id"]}
    assert api.ok("/messages", id_anchor)["data"][0]["id"] == first["id"]
    sent_anchor = {"limit": 1, "affix": "append", "sentAt": first["sentAt"]}
    assert api.ok("/messages", sent_anchor)["data"][0]["sentAt"] == first["sentAt"]


@pytest.mark.parametrize(
    ("profiles", "last_second"),
    [((), "included"), (("to_timestamp_exclusive",), "excluded"), (("to_timestamp_ignored",), "ignored")],
)
def test_to_timestamp_includes_excludes_or_ignores_its_second(make_emulator, profiles, last_second):
    api = _client(make_emulator, *profiles)
    everything = api.ok("/messages", {"limit": 1000, "fromTimestamp": 1})["data"]
    first, _ = _same_second_pair(everything)
    end = first["sentAt"]
    bounded = api.ok("/messages", {"limit": 1000, "fromTimestamp": 1, "toTimestamp": end})["data"]
    expected = {
        "included": [m for m in everything if m["sentAt"] <= end],
        "excluded": [m for m in everything if m["sentAt"] < end],
        "ignored": everything,
    }[last_second]
    assert [m["id"] for m in bounded] == [m["id"] for m in expected]
    # Without fromTimestamp the end is ignored in every profile, as documented.
    unbounded = api.ok("/messages", {"limit": 1000, "affix": "append", "id": 0, "toTimestamp": end})["data"]
    assert len(unbounded) == len(everything)


def test_capped_pages_serves_short_pages_that_still_say_more(make_emulator):
    api = _client(make_emulator, "capped_pages")
    users = api.ok("/users", {"perPage": 1000})
    assert len(users["data"]) == CAPPED_PAGE_SIZE
    assert users["meta"]["pagination"]["total_pages"] == 2
    assert users["meta"]["pagination"]["per_page"] == CAPPED_PAGE_SIZE
    assert len(api.all_pages("/users", {"perPage": 1000})) > CAPPED_PAGE_SIZE
    assert len(api.ok("/messages", {"limit": 1000, "fromTimestamp": 1})["data"]) == CAPPED_PAGE_SIZE


def test_conversations_without_uid_drops_the_viewer_from_app_wide_rows(make_emulator):
    api = _client(make_emulator, "conversations_without_uid")
    rows = api.all_pages("/conversations", {"perPage": 1000})
    assert rows and not any("uid" in row for row in rows)
    viewer = api.ok("/users", {"perPage": 1})["data"][0]["uid"]
    assert api.ok("/conversations", {"perPage": 1000}, on_behalf_of=viewer)["data"]


def test_conversations_shifting_orders_newest_first_and_moves_rows_while_paging(make_emulator):
    emulator = make_emulator(profiles=("conversations_shifting", "capped_pages"), **SMALL)
    api = ApiClient(emulator)
    before = emulator.ground_truth(messages=False)["conversations"]
    first = api.ok("/conversations", {"perPage": 1000})["data"]
    assert [r["updatedAt"] for r in first] == sorted((r["updatedAt"] for r in first), reverse=True)
    pages = first + api.all_pages("/conversations", {"perPage": 1000})[len(first) :]
    after = emulator.ground_truth(messages=False)["conversations"]
    assert len(after) >= len(before)
    assert emulator.message_count() > 600, "paging saw new messages"
    keys = Counter((r["uid"], r["conversationId"]) for r in pages)
    truth_keys = {(r["viewer"], r["conversationId"]) for r in after}
    assert max(keys.values()) > 1 or set(keys) != truth_keys, "a shift duplicates or skips rows"


def _conversation_of(api: ApiClient) -> tuple[str, dict]:
    row = next(
        r for r in api.all_pages("/conversations", {"perPage": 1000}) if r["conversationType"] == "user"
    )
    return row["uid"], row


def test_default_single_conversation_is_an_object_with_tags(api):
    viewer, row = _conversation_of(api)
    body = api.ok(f"/users/{row['conversationWith']['uid']}/conversation", on_behalf_of=viewer)
    assert isinstance(body["data"], dict) and isinstance(body["data"]["tags"], list)


@pytest.mark.parametrize("profiles", [("conversation_without_tags",), ("conversation_as_array",)])
def test_single_conversation_shapes(make_emulator, profiles):
    api = _client(make_emulator, *profiles)
    viewer, row = _conversation_of(api)
    path = f"/users/{row['conversationWith']['uid']}/conversation"
    for body in (
        api.ok(path, on_behalf_of=viewer),
        api.put(path, {"tags": ["a"]}, on_behalf_of=viewer).json(),
    ):
        data = body["data"]
        if "conversation_as_array" in profiles:
            assert isinstance(data, list) and len(data) == 1
            data = data[0]
            assert data["tags"] == ["a"] or "tags" in data
        else:
            assert isinstance(data, dict) and "tags" not in data
        assert data["conversationId"] == row["conversationId"]


def test_tags_put_merges(make_emulator):
    emulator = make_emulator(profiles=("tags_put_merges",), **SMALL)
    api = ApiClient(emulator)
    viewer, row = _conversation_of(api)
    path = f"/users/{row['conversationWith']['uid']}/conversation"
    api.put(path, {"tags": ["a", "b"]}, on_behalf_of=viewer)
    answer = api.put(path, {"tags": ["c"]}, on_behalf_of=viewer).json()["data"]
    assert answer["tags"][-3:] == ["a", "b", "c"]
    truth = emulator.ground_truth(messages=False)["conversations"]
    stored = next(r for r in truth if r["viewer"] == viewer and r["conversationId"] == row["conversationId"])
    assert stored["tags"][-3:] == ["a", "b", "c"]


def test_default_tags_put_replaces(api):
    viewer, row = _conversation_of(api)
    path = f"/users/{row['conversationWith']['uid']}/conversation"
    api.put(path, {"tags": ["a", "b"]}, on_behalf_of=viewer)
    assert api.put(path, {"tags": ["c"]}, on_behalf_of=viewer).json()["data"]["tags"] == ["c"]


@pytest.mark.parametrize("profiles", [(), ("edits_without_actions",)])
def test_edits_and_later_changes_show_through_updated_at_and_only_updates(make_emulator, profiles):
    emulator = make_emulator(profiles=profiles, **SMALL)
    api = ApiClient(emulator)
    truth = emulator.ground_truth()["messages"]
    normal = [m for m in truth if m["category"] == "message" and "deletedAt" not in m and "parentId" not in m]
    newest = truth[-1]["sentAt"]
    edited, reacted, parent = normal[0], normal[1], normal[2]
    emulator.edit_message(edited["id"], "changed")
    updated_at = emulator.react(reacted["id"], "🎉")
    emulator.add_messages(1, parent_id=parent["id"])
    actions = [
        m
        for m in api.all_messages("/messages", {"limit": 100, "fromTimestamp": newest})
        if m["category"] == "action"
    ]
    assert bool(actions) == (not profiles), "edit action rows appear only without edits_without_actions"
    only_updates = {"limit": 100, "updatedAt": newest, "onlyUpdates": 1, "withTags": "true"}
    changes = api.all_messages("/messages", only_updates)
    by_id = {m["id"]: m for m in changes}
    assert set(by_id) >= {edited["id"], reacted["id"], parent["id"]}
    assert all(m["updatedAt"] > m["sentAt"] and m["updatedAt"] >= newest for m in changes)
    assert by_id[edited["id"]]["data"]["text"] == "changed"
    assert by_id[reacted["id"]]["updatedAt"] == updated_at
    assert "🎉" in {r["reaction"] for r in by_id[reacted["id"]]["data"]["reactions"]}
    assert by_id[parent["id"]]["replyCount"] == parent.get("replyCount", 0) + 1
    assert api.get("/messages", {"onlyUpdates": 1}).status_code == 400
    current = {m["id"]: m for m in emulator.ground_truth()["messages"]}
    assert all(current[i] == m for i, m in by_id.items())
    edit_actions = any(m["category"] == "action" and m["type"] == "message" for m in current.values())
    assert edit_actions == (not profiles)


def test_keyed_group_data(make_emulator):
    api = _client(make_emulator, "keyed_group_data")
    data = api.ok("/groups", {"perPage": 1000})["data"]
    assert isinstance(data, dict) and sorted(data, key=int) == [str(n) for n in range(len(data))]
    assert all("guid" in group for group in data.values())


def test_numeric_ids(make_emulator):
    emulator = make_emulator(profiles=("numeric_ids",), **SMALL)
    api = ApiClient(emulator)
    body = api.ok("/messages", {"limit": 1000, "fromTimestamp": 1})
    assert all(isinstance(m["id"], int) for m in body["data"])
    assert all(isinstance(m["parentId"], int) for m in body["data"] if "parentId" in m)
    assert isinstance(body["meta"]["next"]["id"], int)
    rows = api.all_pages("/conversations", {"perPage": 1000})
    assert all(isinstance(r["unreadMessageCount"], int) for r in rows)
    truth = emulator.ground_truth()["messages"]
    assert [str(m["id"]) for m in body["data"]] == [m["id"] for m in truth[: len(body["data"])]]


def test_profiles_combine(make_emulator):
    api = _client(
        make_emulator, "capped_pages", "numeric_ids", "keyed_group_data", "conversations_without_uid"
    )
    body = api.ok("/messages", {"limit": 1000, "fromTimestamp": 1})
    assert len(body["data"]) == CAPPED_PAGE_SIZE and isinstance(body["data"][0]["id"], int)
    groups = api.ok("/groups", {"perPage": 1000})["data"]
    assert isinstance(groups, dict)
    rows = api.ok("/conversations", {"perPage": 1000})["data"]
    assert len(rows) == CAPPED_PAGE_SIZE and not any("uid" in r for r in rows)


def test_updates_ignored(make_emulator):
    api = _client(make_emulator, "updates_ignored")
    params = {"limit": 5, "fromTimestamp": 1, "updatedAt": 1_900_000_000, "onlyUpdates": 1}
    assert [m["id"] for m in api.ok("/messages", params)["data"]] == ["1", "2", "3", "4", "5"]
