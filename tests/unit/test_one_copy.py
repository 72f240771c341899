"""One copy of each message per load package (one_copy.py): the newest copy wins with exactly its child rows,
and dlt's dedup is skipped only for a package that holds each message once."""

import dlt
import pyarrow as pa

from sources.cometchat.one_copy import _all_distinct, _newest_listed
from tests.unit.test_arrow_pages import edit, message, run, stored

MESSAGE_TABLES = ("messages", "messages__entities", "messages__reactions", "messages__tags")


def declared_deduplicated(pipeline: dlt.Pipeline) -> set:
    tables = pipeline.default_schema.tables
    return {tables[name].get("x-stage-data-deduplicated") for name in MESSAGE_TABLES if name in tables}


def stored_if_any(pipeline: dlt.Pipeline, kind: str, value: str) -> list[tuple]:
    """`stored`, or no rows where no load has created the table yet."""
    with pipeline.sql_client() as sql:
        found = sql.execute_sql(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = %s", f"messages__{kind}"
        )
    return stored(pipeline, kind, value) if found[0][0] else []


def loaded_rows(pipeline: dlt.Pipeline) -> int:
    return pipeline.last_trace.last_normalize_info.row_counts["messages"]


def test_a_listed_copy_newer_than_the_copy_a_later_action_carries_wins_with_only_its_child_rows(
    pipeline, client, requests_mock
):
    # The page lists the message as it is now (edited, then two tags and a reaction removed); the edit action
    # read after it carries the copy as it was right after the edit, with more rows in every child list.
    now = message(10, 100, "edited", tags=["a"], editedAt=101, updatedAt=102)
    at_edit = message(10, 100, "edited", tags=["a", "b", "c"], reactions=["x"], editedAt=101, updatedAt=101)
    run(pipeline, client, requests_mock, [now, edit(11, 101, at_edit)])

    assert stored(pipeline, "tags", "value") == [(10, "a")]
    assert stored_if_any(pipeline, "reactions", "reaction") == []
    with pipeline.sql_client() as sql:
        assert sql.execute_sql("SELECT id, text FROM messages ORDER BY id") == [(10, "edited"), (11, None)]
    assert loaded_rows(pipeline) == 2  # the action's older copy is left out of the package
    assert declared_deduplicated(pipeline) == {True}


def test_a_message_listed_before_a_newer_copy_arrives_keeps_dlts_dedup_and_the_newest_copy(
    pipeline, client, requests_mock
):
    # The page lists the message as it was before an edit made while the run reads (its action comes later).
    before = message(10, 100, "hi", tags=["a", "b", "c"], reactions=["x", "y"])
    edited = message(10, 100, "hi (edited)", tags=["z"], editedAt=101, updatedAt=101)
    run(pipeline, client, requests_mock, [before, edit(11, 101, edited)])

    assert stored(pipeline, "tags", "value") == [(10, "z")]
    assert stored(pipeline, "reactions", "reaction") == []
    with pipeline.sql_client() as sql:
        assert sql.execute_sql("SELECT id, text FROM messages ORDER BY id") == [
            (10, "hi (edited)"),
            (11, None),
        ]
    assert loaded_rows(pipeline) == 3  # both copies: dlt keeps the newest
    assert declared_deduplicated(pipeline) == {False}

    # The next package holds each message once again, and says so.
    run(pipeline, client, requests_mock, [message(12, 200, "next", tags=["n"])])
    assert declared_deduplicated(pipeline) == {True}
    assert stored(pipeline, "tags", "value") == [(10, "z"), (12, "n")]


def test_several_changed_copies_of_a_stored_message_in_one_package_load_the_newest_once(
    pipeline, client, requests_mock
):
    run(pipeline, client, requests_mock, [message(10, 100, "hi", tags=["a", "b"], reactions=["x"])])
    edited = message(10, 100, "v2", tags=["z", "y", "w"], reactions=["r"], editedAt=101, updatedAt=101)
    deleted = message(10, 100, "v2", tags=["z"], editedAt=101, deletedAt=102, updatedAt=102)
    # The newer copy comes first here (two actions in one second): the newest copy wins whatever the order.
    run(pipeline, client, requests_mock, [edit(11, 102, deleted), edit(12, 102, edited)])

    assert stored(pipeline, "tags", "value") == [(10, "z")]
    assert stored(pipeline, "reactions", "reaction") == []
    with pipeline.sql_client() as sql:
        rows = sql.execute_sql("SELECT id, text, deleted_at IS NOT NULL FROM messages ORDER BY id")
    assert rows == [(10, "v2", True), (11, None, False), (12, None, False)]
    assert loaded_rows(pipeline) == 3  # the two actions and the delete's copy of message 10
    assert declared_deduplicated(pipeline) == {True}


def test_distinct_ids_are_told_from_repeated_ones_by_sorting():
    assert _all_distinct(pa.array([], pa.int64()))
    assert _all_distinct(pa.array([7], pa.int64()))
    assert _all_distinct(pa.array([5, 3, 9, 1], pa.int64()))
    assert not _all_distinct(pa.array([5, 3, 9, 3], pa.int64()))


def test_a_held_copy_is_compared_with_the_newest_listed_copy_of_its_message():
    held_ids = pa.array([10, 20, 30], pa.int64())
    listed_ids = pa.array([20, 40, 10, 20], pa.int64())
    listed_versions = pa.array([5, 1, 7, 9], pa.int64())
    newest = _newest_listed(held_ids, listed_ids, listed_versions)
    assert newest.to_pylist() == [7, 9, None]  # 20 listed twice: its newer version; 30 not listed
    assert _newest_listed(pa.array([], pa.int64()), listed_ids, listed_versions).to_pylist() == []
