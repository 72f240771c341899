"""`conversations_per_user`: every user in that many 1-on-1 conversations, each listed, each with a message."""

from collections import Counter

import pytest

from sources.cometchat_emulator import EmulatorConfig

from .client import ApiClient


def listed_rows(client: ApiClient, conversation_type: str) -> list[dict]:
    rows, page = [], 1
    while True:
        params = {"conversationType": conversation_type, "perPage": 1000, "page": page}
        body = client.get("/conversations", params).json()
        rows += body["data"]
        pagination = body["meta"]["pagination"]
        if pagination["total_pages"] == pagination["current_page"]:
            return rows
        page += 1


@pytest.mark.parametrize("users, per_user", [(30, 5)])  # odd: the ring adds the user opposite
def test_every_user_has_the_requested_conversations_each_with_a_message(make_emulator, users, per_user):
    emu = make_emulator(seed=4, users=users, groups=3, members_per_group=5, conversations_per_user=per_user)
    truth = emu.ground_truth()
    client = ApiClient(emu)
    rows = listed_rows(client, "user")
    assert len(rows) == users * per_user
    per_viewer = Counter(row["uid"] for row in rows)
    assert set(per_viewer) == {user["uid"] for user in truth["users"]}
    assert set(per_viewer.values()) == {per_user}
    # Each pair is one conversation seen by both of its users, and it has messages of its own.
    conversations = Counter(row["conversationId"] for row in rows)
    assert set(conversations.values()) == {2}
    written = Counter(m["conversationId"] for m in truth["messages"] if m["receiverType"] == "user")
    assert set(written) == set(conversations)
    # Groups' conversations are as they always are: every member of a group with messages sees it.
    group_rows = listed_rows(client, "group")
    assert len(group_rows) == sum(1 for c in truth["conversations"] if c["conversationType"] == "group")


def test_an_odd_count_with_an_odd_number_of_users_gives_one_less():
    config = EmulatorConfig(users=31, conversations_per_user=5, messages=200)
    assert config.effective_user_conversations == 31 * 2


@pytest.mark.parametrize(
    "knobs, problem",
    [
        ({"users": 10, "conversations_per_user": 10}, "within 0..users - 1"),
        ({"users": 100, "conversations_per_user": 20, "messages": 500}, "messages must be at least"),
    ],
)
def test_impossible_settings_are_refused_naming_the_problem(knobs, problem):
    with pytest.raises(ValueError, match=problem):
        EmulatorConfig(**knobs).validated()


def test_the_fewest_messages_named_in_the_refusal_are_enough():
    config = EmulatorConfig(users=100, conversations_per_user=20, messages=500)
    with pytest.raises(ValueError) as refused:
        config.validated()
    fewest = int(str(refused.value).split("at least ")[1].split(",")[0])
    EmulatorConfig(users=100, conversations_per_user=20, messages=fewest).validated()
    with pytest.raises(ValueError):
        EmulatorConfig(users=100, conversations_per_user=20, messages=fewest - 1).validated()
