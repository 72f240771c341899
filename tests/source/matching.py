"""One assertion shared by the load tests: every table equals the emulator's ground truth exactly."""

from .expected import (
    epoch,
    expected_children,
    expected_conversations,
    expected_entities,
    expected_messages,
)
from .loaded import (
    child_lists,
    loaded_child_rows,
    loaded_conversations,
    loaded_messages,
    reading,
    table,
    tables,
)

CHILD_KINDS = ("entities", "attachments", "reactions", "mentions", "tags")


def assert_matches_ground_truth(pipeline, truth: dict) -> None:
    with reading(pipeline):
        _assert_matches_ground_truth(pipeline, truth)


def _assert_matches_ground_truth(pipeline, truth: dict) -> None:
    users = table(pipeline, "users")
    assert sorted(users["uid"]) == sorted(u["uid"] for u in truth["users"])
    assert dict(zip(users["uid"], users["name"], strict=True)) == {
        u["uid"]: u["name"] for u in truth["users"]
    }
    assert child_lists(pipeline, "users", "tags", ["uid"]) == {
        (u["uid"],): u.get("tags", []) for u in truth["users"]
    }

    groups = table(pipeline, "groups")
    assert dict(zip(groups["guid"], groups["name"], strict=True)) == {
        g["guid"]: g["name"] for g in truth["groups"]
    }
    assert child_lists(pipeline, "groups", "tags", ["guid"]) == {
        (g["guid"],): g.get("tags", []) for g in truth["groups"]
    }

    assert_members_match_ground_truth(pipeline, truth)

    for conversation_type in ("user", "group"):
        assert loaded_conversations(pipeline, conversation_type) == expected_conversations(
            truth, conversation_type
        )

    assert_messages_match_ground_truth(pipeline, truth)


def assert_members_match_ground_truth(pipeline, truth: dict) -> None:
    """`group_members` equals the ground truth, each membership once."""
    members = table(pipeline, "group_members")
    assert {(r.guid, r.uid, r.scope, epoch(r.joined_at)) for r in members.itertuples()} == {
        (m["guid"], m["uid"], m["scope"], m["joinedAt"]) for m in truth["members"]
    }
    assert len(members) == len(truth["members"])


def assert_messages_match_ground_truth(pipeline, truth: dict) -> None:
    """`messages` and its child tables equal the ground truth, each message and each child row once."""
    with reading(pipeline):
        _assert_messages_match_ground_truth(pipeline, truth)


def _assert_messages_match_ground_truth(pipeline, truth: dict) -> None:
    assert loaded_messages(pipeline) == expected_messages(truth)
    assert loaded_child_rows(pipeline, "entities") == expected_entities(truth)
    for kind in CHILD_KINDS[1:]:
        assert loaded_child_rows(pipeline, kind) == expected_children(truth, kind), kind
    # The rows are compared as sets above: a row loaded twice (two copies of a message in one load package,
    # neither deduplicated) shows as a repeated key.
    for kind in CHILD_KINDS:
        name = f"messages__{kind}"
        if name in tables(pipeline):
            keys = table(pipeline, name)[["message_id", "_dlt_list_idx"]]
            assert not keys.duplicated().any(), f"{name}: a child row loaded twice"
