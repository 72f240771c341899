"""Planning without HTTP: composition, contradictions, no-ops, and how current tags are read."""

import threading

import pandas as pd
import pytest
from requests import Response

from sources.cometchat.errors import CometChatApiError, CometChatAuthError, CometChatNotFoundError
from sources.cometchat.reverse_etl.changes import ConversationRef, changes_from_frame
from sources.cometchat.reverse_etl.plan import (
    REJECTED,
    UNCHANGED,
    UPDATE,
    Current,
    Unavailable,
    make_plan,
    read_current,
)

TEAM = ConversationRef("group", "group_team", "team")
PAIR = ConversationRef("user", "alice_user_bob", "bob")


def changes(*rows: tuple):
    columns = ("on_behalf_of", "conversation_id", "tags", "mode")
    return changes_from_frame(pd.DataFrame([dict(zip(columns, row, strict=False)) for row in rows]))


def plan_for(rows, current: dict):
    states = {
        key: value
        if isinstance(value, Unavailable)
        else Current(value, TEAM if key[1] == "group_team" else PAIR)
        for key, value in current.items()
    }
    return make_plan(rows, states)


def summary(plan):
    return [(row.action, row.current, row.desired, row.reason) for row in plan.rows]


def test_set_add_remove_and_no_ops():
    rows = changes(
        ("alice", "group_team", "x;y", "set"),
        ("bob", "group_team", "z", "add"),
        ("carol", "group_team", "old", "remove"),
        ("dave", "group_team", "keep", "set"),
        ("erin", "group_team", "", "set"),
        ("frank", "group_team", "gone", "remove"),
    )
    plan = plan_for(
        rows,
        {
            ("alice", "group_team"): ["a"],
            ("bob", "group_team"): ["a", "z"],
            ("carol", "group_team"): ["old", "b"],
            ("dave", "group_team"): ["keep"],
            ("erin", "group_team"): ["a", "b"],
            ("frank", "group_team"): ["a"],
        },
    )
    assert summary(plan) == [
        (UPDATE, ["a"], ["x", "y"], ""),
        (UNCHANGED, ["a", "z"], ["a", "z"], ""),
        (UPDATE, ["old", "b"], ["b"], ""),
        (UNCHANGED, ["keep"], ["keep"], ""),
        (UPDATE, ["a", "b"], [], ""),
        (UNCHANGED, ["a"], ["a"], ""),
    ]
    assert [(u.viewer, u.ref, u.old_tags, u.tags, u.rows) for u in plan.updates] == [
        ("alice", TEAM, ["a"], ["x", "y"], [0]),
        ("carol", TEAM, ["old", "b"], ["b"], [2]),
        ("erin", TEAM, ["a", "b"], [], [4]),
    ]


def test_order_is_a_change():
    plan = plan_for(changes(("alice", "group_team", "b;a")), {("alice", "group_team"): ["a", "b"]})
    assert summary(plan) == [(UPDATE, ["a", "b"], ["b", "a"], "")]


def test_identical_rows_merge_into_one_put():
    rows = changes(("alice", "group_team", "x", "set"), ("alice", "GROUP_TEAM", " x ", "set"))
    plan = plan_for(rows, {("alice", "group_team"): []})
    assert summary(plan) == [(UPDATE, [], ["x"], "")] * 2
    assert len(plan.updates) == 1 and plan.updates[0].rows == [0, 1]


def test_add_and_remove_rows_compose_in_order():
    rows = changes(
        ("alice", "group_team", "x", "add"),
        ("alice", "group_team", "a", "remove"),
        ("alice", "group_team", "y;x", "add"),
    )
    plan = plan_for(rows, {("alice", "group_team"): ["a", "b"]})
    assert summary(plan) == [(UPDATE, ["a", "b"], ["b", "x", "y"], "")] * 3
    assert len(plan.updates) == 1 and plan.updates[0].tags == ["b", "x", "y"]


def test_both_sides_of_a_user_conversation_are_separate_viewers():
    rows = changes(("alice", "alice_user_bob", "x", "set"), ("bob", "bob_user_alice", "y", "set"))
    plan = make_plan(
        rows,
        {
            ("alice", "alice_user_bob"): Current([], PAIR),
            ("bob", "alice_user_bob"): Current([], ConversationRef("user", "alice_user_bob", "alice")),
        },
    )
    assert [row.action for row in plan.rows] == [UPDATE, UPDATE]
    assert [(u.viewer, u.ref.path, u.tags) for u in plan.updates] == [
        ("alice", "users/bob/conversation", ["x"]),
        ("bob", "users/alice/conversation", ["y"]),
    ]


@pytest.mark.parametrize(
    ("rows", "reason"),
    [
        (
            (("alice", "group_team", "x", "set"), ("alice", "group_team", "y", "set")),
            "a set row must be the only",
        ),
        (
            (("alice", "group_team", "x", "set"), ("alice", "group_team", "x", "add")),
            "a set row must be the only",
        ),
        (
            (("alice", "group_team", "x", "add"), ("alice", "group_team", "x;y", "remove")),
            "both add and remove 'x'",
        ),
    ],
)
def test_contradicting_rows_are_all_rejected(rows, reason):
    rows = changes(*rows, ("bob", "group_team", "ok", "set"))
    plan = plan_for(rows, {("alice", "group_team"): ["a"], ("bob", "group_team"): []})
    assert [row.action for row in plan.rows] == [REJECTED, REJECTED, UPDATE]
    assert all(reason in row.reason and "rows 1, 2" in row.reason for row in plan.rows[:2])
    assert [update.viewer for update in plan.updates] == ["bob"]
    # each rejected row still shows what it alone would have made of the current tags
    assert plan.rows[0].current == ["a"]


def test_a_final_list_over_25_tags_is_rejected():
    current = [f"t{n}" for n in range(24)]
    rows = changes(("alice", "group_team", "new1;new2", "add"), ("bob", "group_team", "new1", "add"))
    plan = plan_for(rows, {("alice", "group_team"): current, ("bob", "group_team"): current})
    assert plan.rows[0].action == REJECTED
    assert plan.rows[0].reason == "the final list would hold 26 tags; a conversation holds at most 25"
    assert plan.rows[0].desired == [*current, "new1", "new2"]
    assert plan.rows[1].action == UPDATE and len(plan.rows[1].desired) == 25


def test_unavailable_conversations_and_row_errors_are_rejected():
    rows = changes(
        ("alice", "group_team", "x", "set"),
        ("alice", "carol_user_dave", "x", "set"),
        ("bob", "group_team", "a;;b", "set"),
    )
    plan = plan_for(rows, {("alice", "group_team"): Unavailable("alice is not a participant of group_team")})
    assert summary(plan) == [
        (REJECTED, [], ["x"], "alice is not a participant of group_team"),
        (REJECTED, [], [], "alice is not a participant of the user conversation carol_user_dave"),
        (REJECTED, [], [], "tag 2 is blank"),
    ]
    assert plan.updates == []


# -- reading the current tags ---------------------------------------------------------------------------


def api_error(status: int, code: str, kind=CometChatApiError):
    return kind("GET", "/x", status, code, "message", Response())


class FakeClient:
    """Answers like the API: one list of conversations per viewer, single GETs for the rest."""

    def __init__(self, listings: dict, singles: dict | None = None) -> None:
        self.listings = listings
        self.singles = singles or {}
        self.calls: list[tuple] = []
        self.lock = threading.Lock()

    def pages(self, path, params=None, on_behalf_of=None):
        with self.lock:
            self.calls.append(("pages", path, on_behalf_of, dict(params or {})))
        listing = self.listings[on_behalf_of]
        if isinstance(listing, Exception):
            raise listing
        yield from (listing[i : i + 2] for i in range(0, len(listing), 2))

    def get(self, path, params=None, on_behalf_of=None):
        with self.lock:
            self.calls.append(("get", path, on_behalf_of, dict(params or {})))
        answer = self.singles[(on_behalf_of, path)]
        if isinstance(answer, Exception):
            raise answer
        return answer


def conversation(conversation_id, tags, kind="group", partner=None):
    return {
        "conversationId": conversation_id,
        "conversationType": kind,
        "tags": tags,
        "conversationWith": partner or {},
    }


def test_one_listing_per_viewer_and_single_gets_only_for_unlisted_conversations():
    rows = changes(
        ("alice", "group_team", "x"),
        ("alice", "group_other", "x"),
        ("alice", "alice_user_bob", "x"),
        ("alice", "bob_user_alice", "y", "add"),
        ("bob", "alice_user_bob", "x"),
        ("ghost", "group_team", "x"),
        ("carol", "carol_user_dave", "x"),
        ("carol", "group_team", "x"),
        ("carol", "group_wrapped", "x"),
        ("alice", "a;b", "x"),
    )
    client = FakeClient(
        {
            "alice": [conversation("group_team", ["t"]), conversation("alice_user_bob", ["u"], "user"), {}][
                :2
            ],
            "bob": [conversation("alice_user_bob", [], "user")],
            "ghost": api_error(404, "ERR_UID_NOT_FOUND", CometChatNotFoundError),
            "carol": [],
        },
        {
            ("alice", "groups/other/conversation"): conversation("group_other", ["o"]),
            ("carol", "users/dave/conversation"): api_error(403, "ERR_CONVERSATION_NOT_ACCESSIBLE"),
            ("carol", "groups/team/conversation"): api_error(403, "ERR_CONVERSATION_NOT_ACCESSIBLE"),
            ("carol", "groups/wrapped/conversation"): [conversation("group_wrapped", ["w"])],
        },
    )
    states = read_current(client, rows, max_workers=3)
    listings = sorted(call[2] for call in client.calls if call[0] == "pages")
    assert listings == ["alice", "bob", "carol", "ghost"]
    assert all(call[3]["withTags"] == "true" for call in client.calls)
    assert sorted(call[1] for call in client.calls if call[0] == "get") == [
        "groups/other/conversation",
        "groups/team/conversation",
        "groups/wrapped/conversation",
        "users/dave/conversation",
    ]
    assert states[("alice", "group_team")] == Current(["t"], TEAM)
    assert states[("alice", "group_other")] == Current(
        ["o"], ConversationRef("group", "group_other", "other")
    )
    assert states[("alice", "alice_user_bob")] == Current(["u"], PAIR)
    assert states[("bob", "alice_user_bob")].tags == []
    assert "ERR_UID_NOT_FOUND" in states[("ghost", "group_team")].reason
    assert states[("carol", "carol_user_dave")] == Unavailable(
        "carol is not a participant of carol_user_dave (ERR_CONVERSATION_NOT_ACCESSIBLE)"
    )
    assert states[("carol", "group_wrapped")].tags == ["w"]  # a one-element array answer
    assert ("alice", "a;b") not in states  # unparsable rows read nothing


def test_a_group_whose_guid_holds_the_user_token_is_resolved_by_the_listing():
    rows = changes(("club", "group_power_user_club", "x"))
    client = FakeClient(
        {"club": [conversation("group_power_user_club", [], "group", {"guid": "power_user_club"})]}
    )
    states = read_current(client, rows)
    resolved = ConversationRef("group", "group_power_user_club", "power_user_club")
    assert states[rows[0].key] == Current([], resolved)
    plan = make_plan(rows, states)
    assert plan.rows[0].ref == resolved
    assert plan.updates[0].ref.path == "groups/power_user_club/conversation"


@pytest.mark.parametrize(
    "error",
    [api_error(500, "ERR_EXCEPTION"), api_error(401, "AUTH_ERR_APIKEY_NOT_FOUND", CometChatAuthError)],
)
def test_errors_other_than_a_bad_row_stop_before_anything_is_sent(error):
    client = FakeClient({"alice": error})
    with pytest.raises(type(error)):
        read_current(client, changes(("alice", "group_team", "x")))


def viewer_rows(viewers, conversation_id="group_team", tags=("t",)):
    return [{**conversation(conversation_id, list(tags)), "uid": viewer} for viewer in viewers]


def test_many_viewers_are_read_from_the_app_wide_list_and_the_rest_per_viewer():
    viewers = [f"v{i:02}" for i in range(10)]
    rows = changes(*[(viewer, "group_team", "x") for viewer in [*viewers, "ghost"]])
    noise = viewer_rows(["w1", "w2"], "group_other")
    client = FakeClient(
        {
            None: [*viewer_rows(viewers[:5]), *noise, *viewer_rows(viewers[5:])],
            "ghost": api_error(404, "ERR_UID_NOT_FOUND", CometChatNotFoundError),
        }
    )
    states = read_current(client, rows)
    assert [call[2] for call in client.calls] == [None, "ghost"]
    assert all(states[(viewer, "group_team")] == Current(["t"], TEAM) for viewer in viewers)
    assert "ERR_UID_NOT_FOUND" in states[("ghost", "group_team")].reason


def test_the_app_wide_list_is_abandoned_once_it_costs_more_than_the_per_viewer_listings():
    viewers = [f"v{i:02}" for i in range(10)]
    rows = changes(*[(viewer, "group_team", "x") for viewer in viewers])
    pages_served = []

    class CountingClient(FakeClient):
        def pages(self, path, params=None, on_behalf_of=None):
            for page in super().pages(path, params, on_behalf_of):
                pages_served.append(on_behalf_of)
                yield page

    listings = {viewer: viewer_rows([viewer]) for viewer in viewers}
    noise = viewer_rows([f"w{i:03}" for i in range(100)], "group_other")
    client = CountingClient({None: [*noise, *viewer_rows(viewers)], **listings})
    states = read_current(client, rows)
    assert pages_served.count(None) == len(viewers)  # the cap: as many pages as the listings it would save
    assert sorted(call[2] for call in client.calls if call[2]) == viewers
    assert all(states[(viewer, "group_team")].tags == ["t"] for viewer in viewers)
