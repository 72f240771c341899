"""The SQL-driven tag sync and its mirror mode on PostgreSQL, a real server: the query runs there through
`pipeline.dataset()`, the audit and the refreshed conversation tables land there."""

import dlt

from pipelines.loading import run_load
from pipelines.tag_sync import changes_from_sql, sync_tags
from tests.reverse_etl.helpers import client_for, conversation_tables, truth_tags

BIG_BACKLOG_SQL = """
SELECT viewer_uid AS on_behalf_of, conversation_id,
       CASE WHEN unread_message_count > 3 THEN 'auto:unread;auto:big' ELSE 'auto:unread' END AS tags
FROM user_conversations
WHERE unread_message_count > 0
"""


def test_sql_sync_and_mirror_mode_on_postgres(make_emulator, postgres_uri, tmp_path):
    emulator = make_emulator(seed=55)
    client = client_for(emulator)
    pipeline = dlt.pipeline(
        "cometchat_pg_tags",
        destination=dlt.destinations.postgres(postgres_uri),
        dataset_name="chat_tags",
        pipelines_dir=str(tmp_path / "pipelines"),
    )
    run_load(pipeline, client, resources=["user_conversations", "group_conversations"])
    truth = truth_tags(emulator)
    stale = next(key for key in sorted(truth) if "_user_" in key[1])
    emulator.set_conversation_tags(*stale, ["by-hand", "auto:stale"])
    truth = truth_tags(emulator)
    wanted = {
        (c["viewer"], c["conversationId"]): ["auto:unread", "auto:big"]
        if int(c["unreadMessageCount"]) > 3
        else ["auto:unread"]
        for c in emulator.ground_truth(messages=False)["conversations"]
        if c["conversationType"] == "user" and int(c["unreadMessageCount"]) > 0
    }
    expected = {
        key: [t for t in tags if not t.startswith("auto:")] + wanted.get(key, [])
        for key, tags in truth.items()
    }

    plan = sync_tags(
        changes_from_sql(pipeline, BIG_BACKLOG_SQL), client, pipeline, dry_run=True, managed_prefix="auto:"
    )
    assert emulator.stats()["puts"] == []
    assert len(plan) == len(wanted) + (stale not in wanted)

    results = sync_tags(changes_from_sql(pipeline, BIG_BACKLOG_SQL), client, pipeline, managed_prefix="auto:")

    assert set(results["status"]) <= {"applied", "unchanged"}
    assert truth_tags(emulator) == expected
    assert conversation_tables(pipeline) == expected
    audit = pipeline.dataset()["tag_changes"].df()
    assert sorted(audit["position"]) == list(range(1, len(results) + 1))
    again = sync_tags(changes_from_sql(pipeline, BIG_BACKLOG_SQL), client, pipeline, managed_prefix="auto:")
    assert again.attrs["puts_sent"] == 0 and set(again["status"]) == {"unchanged"}
