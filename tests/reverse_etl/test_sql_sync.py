"""Tag syncs driven by SQL on the loaded dataset, and the mirror mode of a managed prefix, against the emulator."""

import subprocess
import sys

import pytest

from pipelines.loading import run_load
from pipelines.tag_sync import changes_from_sql, sync_tags

from .helpers import REPO, cli_env, client_for, conversation_tables, run_cli, successful_puts, truth_tags

# Viewers' conversations with unread messages get `auto:unread`, plus `auto:big` when more than 3 are unread.
UNREAD_SQL = """
SELECT viewer_uid AS on_behalf_of, conversation_id,
       CASE WHEN unread_message_count > 3 THEN ['auto:unread', 'auto:big'] ELSE ['auto:unread'] END AS tags
FROM user_conversations
WHERE unread_message_count > 0
"""


def unread_truth(emulator, minimum: int = 1) -> dict:
    """(viewer, conversation) -> the auto: tags UNREAD_SQL gives it, from the emulator's ground truth."""
    wanted = {}
    for c in emulator.ground_truth(messages=False)["conversations"]:
        unread = int(c["unreadMessageCount"])
        if c["conversationType"] == "user" and unread >= minimum:
            wanted[(c["viewer"], c["conversationId"])] = (
                ["auto:unread", "auto:big"] if unread > 3 else ["auto:unread"]
            )
    return wanted


def loaded(emulator, make_pipeline):
    client = client_for(emulator)
    pipeline = make_pipeline()
    run_load(pipeline, client, resources=["user_conversations", "group_conversations"])
    return client, pipeline


def test_a_query_on_the_loaded_dataset_decides_and_syncs_the_tags_in_one_step(make_emulator, make_pipeline):
    emulator = make_emulator(seed=51)
    client, pipeline = loaded(emulator, make_pipeline)
    truth = truth_tags(emulator)
    wanted = unread_truth(emulator)
    assert 10 < len(wanted) < len(truth)
    emulator.reset_stats()

    changes = changes_from_sql(pipeline, UNREAD_SQL)
    plan = sync_tags(changes, client, pipeline, dry_run=True)
    assert emulator.stats()["puts"] == []
    assert len(plan) == len(wanted)
    for row in plan.itertuples():
        assert row.desired_tags == wanted[(row.on_behalf_of, row.conversation_id)]
        assert row.current_tags == truth[(row.on_behalf_of, row.conversation_id)]

    results = sync_tags(changes, client, pipeline)
    assert set(results["status"]) == {"applied"}
    assert truth_tags(emulator) == truth | wanted
    assert conversation_tables(pipeline) == truth | wanted

    again = sync_tags(changes_from_sql(pipeline, UNREAD_SQL), client, pipeline)
    assert again.attrs["puts_sent"] == 0 and set(again["status"]) == {"unchanged"}


def test_mirror_mode_keeps_hand_set_tags_and_removes_what_the_query_no_longer_returns(
    make_emulator, make_pipeline
):
    emulator = make_emulator(seed=52)
    client, pipeline = loaded(emulator, make_pipeline)
    wanted = unread_truth(emulator)
    keys = sorted(wanted)
    # by hand: a person's tag next to a stale managed tag on a conversation the query does not return,
    # and a person's tag on one the query does return
    stale = next(key for key in sorted(truth_tags(emulator)) if key not in wanted and key[1].count("_user_"))
    emulator.set_conversation_tags(*stale, ["by-hand", "auto:stale"])
    emulator.set_conversation_tags(*keys[0], ["keep-me", "auto:old"])
    truth = truth_tags(emulator)

    first = sync_tags(changes_from_sql(pipeline, UNREAD_SQL), client, pipeline, managed_prefix="auto:")
    expected = {
        key: [tag for tag in tags if not tag.startswith("auto:")] + wanted.get(key, [])
        for key, tags in truth.items()
    }
    assert truth_tags(emulator) == expected
    assert expected[stale] == ["by-hand"] and expected[keys[0]] == ["keep-me", *wanted[keys[0]]]
    removals = first[first["mode"] == "remove"]
    assert len(first) == len(wanted) + len(removals)
    assert "applied" in set(first["status"]) <= {"applied", "unchanged"}
    assert {(r.on_behalf_of, r.conversation_id) for r in removals.itertuples()} == {
        key for key, tags in truth.items() if key not in wanted and any(t.startswith("auto:") for t in tags)
    }

    # the query now returns fewer conversations: the dry run shows every addition and removal
    narrower = UNREAD_SQL.replace("unread_message_count > 0", "unread_message_count > 3")
    emulator.reset_stats()
    plan = sync_tags(
        changes_from_sql(pipeline, narrower), client, pipeline, dry_run=True, managed_prefix="auto:"
    )
    assert emulator.stats()["puts"] == []
    narrow = {key: tags for key, tags in wanted.items() if "auto:big" in tags}
    dropped = set(wanted) - set(narrow)
    assert {
        (r.on_behalf_of, r.conversation_id) for r in plan[plan["mode"] == "remove"].itertuples()
    } == dropped
    planned = plan[plan["status"] == "planned"]
    assert {(r.on_behalf_of, r.conversation_id) for r in planned.itertuples()} == dropped
    for row in planned.itertuples():
        assert row.desired_tags == [t for t in row.current_tags if not t.startswith("auto:")]

    sync_tags(changes_from_sql(pipeline, narrower), client, pipeline, managed_prefix="auto:")
    final = {
        key: [t for t in tags if not t.startswith("auto:")] + narrow.get(key, [])
        for key, tags in truth.items()
    }
    assert truth_tags(emulator) == final
    assert conversation_tables(pipeline) == final

    emulator.reset_stats()
    again = sync_tags(changes_from_sql(pipeline, narrower), client, pipeline, managed_prefix="auto:")
    assert emulator.stats()["puts"] == [] and set(again["status"]) == {"unchanged"}

    # a query that returns nothing: no conversation keeps an auto: tag, hand-set tags stay
    nothing = narrower.replace("unread_message_count > 3", "unread_message_count > 1000")
    emptied = sync_tags(changes_from_sql(pipeline, nothing), client, pipeline, managed_prefix="auto:")
    assert set(emptied["mode"]) == {"remove"} and set(emptied["status"]) == {"applied"}
    assert truth_tags(emulator) == {
        key: [t for t in tags if not t.startswith("auto:")] for key, tags in truth.items()
    }


def test_mirror_mode_rejects_tags_without_the_prefix_and_holds_removals_when_a_row_is_unreadable(
    make_emulator, make_pipeline
):
    emulator = make_emulator(seed=53)
    client, pipeline = loaded(emulator, make_pipeline)
    holder, target, other = sorted(truth_tags(emulator))[:3]
    emulator.set_conversation_tags(*holder, ["auto:x"])
    rows = changes_from_sql(
        pipeline,
        f"SELECT '{target[0]}' AS on_behalf_of, '{target[1]}' AS conversation_id, 'auto:a;manual' AS tags "
        "UNION ALL SELECT 'someone', 'not-an-id', 'auto:b' "
        f"UNION ALL SELECT '{other[0]}', '{other[1]}', 'auto:c' ",
    )
    truth = truth_tags(emulator)
    emulator.reset_stats()
    results = sync_tags(rows, client, pipeline, managed_prefix="auto:")
    assert list(results["status"]) == ["rejected", "rejected", "applied", "rejected"]
    assert "lacks the managed prefix 'auto:'" in results["error"][0]
    assert "unparsable conversation_id" in results["error"][1]
    # the unreadable row might have named the holder: its managed tags are not removed
    assert (results["on_behalf_of"][3], results["conversation_id"][3]) == holder
    assert results["error"][3].startswith("not removed: row(s) 2 name no readable conversation")
    assert truth_tags(emulator) == truth | {
        other: [t for t in truth[other] if not t.startswith("auto:")] + ["auto:c"]
    }
    assert len(emulator.stats()["puts"]) == 1


@pytest.mark.timeout(120)
def test_the_cli_syncs_from_sql_and_sql_file_and_refuses_a_broken_query(
    make_emulator, tmp_path, cli_pipeline
):
    emulator = make_emulator(seed=54)
    env = cli_env(emulator, tmp_path)
    # the loader CLI creates the pipeline in tmp_path (dlt resolves the DuckDB file against its first cwd)
    loader = subprocess.run(
        [sys.executable, str(REPO / "pipelines" / "run.py"), "--resources", "user_conversations,group_conversations"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert loader.returncode == 0, loader.stderr
    truth = truth_tags(emulator)
    wanted = unread_truth(emulator)
    (tmp_path / "unread.sql").write_text(UNREAD_SQL)

    status, out, err = run_cli(emulator, tmp_path, "--sql", UNREAD_SQL, "--dry-run", env=env)
    assert status == 0, err
    assert f"Dry run of {len(wanted)} row(s): " in out and emulator.stats()["puts"] == []

    status, out, err = run_cli(
        emulator, tmp_path, "--sql-file", "unread.sql", "--manage-prefix", "auto:", env=env
    )
    assert status == 0, err
    assert truth_tags(emulator) == {
        key: [t for t in tags if not t.startswith("auto:")] + wanted.get(key, [])
        for key, tags in truth.items()
    }
    assert len(successful_puts(emulator)) > 0
    assert conversation_tables(cli_pipeline(tmp_path)) == truth_tags(emulator)

    status, out, err = run_cli(emulator, tmp_path, "--sql", "SELECT nope FROM no_such_table", env=env)
    assert status == 2 and err.startswith("Unusable query: ") and "Traceback" not in err
    status, out, err = run_cli(emulator, tmp_path, "--sql", "SELECT 1 AS on_behalf_of", env=env)
    assert status == 2 and "lack the required column(s) conversation_id, tags" in err
