"""A full load and incremental re-loads of the emulator equal its ground truth exactly."""

import json

import dlt
import pytest

import sources.cometchat as source
from sources.cometchat import cometchat_source
from sources.cometchat.arrow_pages import MESSAGE_TABLES

from .conftest import load_from
from .expected import changed_since, expected_messages
from .loaded import loaded_child_rows, loaded_messages, table, tables
from .matching import CHILD_KINDS, assert_matches_ground_truth


def assert_declared_deduplicated(pipeline: dlt.Pipeline, deduplicated: bool) -> None:
    """The last package's message tables told dlt whether their staged rows hold one copy per key."""
    for name in ("messages", "messages__entities", "messages__reactions", "messages__tags"):
        assert pipeline.default_schema.tables[name].get("x-stage-data-deduplicated") is deduplicated, name


def test_full_load_equals_ground_truth(emulator, make_pipeline, monkeypatch):
    # One sequential cursor: time windows leave out the copies of messages in earlier windows (test_windows.py).
    monkeypatch.setenv("SOURCES__COMETCHAT__BACKFILL_WINDOWS", "1")
    pipeline = make_pipeline()
    summary = load_from(emulator, pipeline)
    truth = emulator.ground_truth()

    assert_matches_ground_truth(pipeline, truth)
    # Every message once: the changed copies that edit/delete actions carry are no newer than the listed copies
    # read before them, so the package holds one copy per message and dlt skips its dedup (one_copy.py).
    assert summary.rows_per_table["messages"] == len(truth["messages"])
    assert_declared_deduplicated(pipeline, True)
    # The history holds every kind of row the issue names.
    messages = loaded_messages(pipeline)
    assert any(m["parent_id"] for m in messages.values())
    assert any(m["edited_at"] for m in messages.values())
    assert any(m["deleted_at"] for m in messages.values())
    assert any(m["category"] == "action" for m in messages.values())
    assert {"sender", "receiver", "by", "on", "for"} <= {
        row[1] for row in loaded_child_rows(pipeline, "entities")
    }


def test_every_table_reads_back_through_dataset(emulator, make_pipeline):
    pipeline = make_pipeline()
    load_from(emulator, pipeline)
    expected = {
        "users",
        "users__tags",
        "groups",
        "groups__tags",
        "group_members",
        "user_conversations",
        "user_conversations__tags",
        "group_conversations",
        "group_conversations__tags",
        "messages",
        "messages__entities",
        "messages__attachments",
        "messages__reactions",
        "messages__mentions",
        "messages__tags",
    }
    assert expected <= tables(pipeline)
    for name in sorted(tables(pipeline)):
        frame = pipeline.dataset()[name].df()
        assert len(frame) > 0, name


def test_timestamps_are_utc_timestamp_columns(emulator, make_pipeline):
    pipeline = make_pipeline()
    load_from(emulator, pipeline)
    columns = pipeline.default_schema.get_table_columns("messages")
    for name in ("sent_at", "updated_at", "edited_at", "deleted_at"):
        assert columns[name]["data_type"] == "timestamp", name
    assert str(table(pipeline, "messages")["sent_at"].dt.tz) == "UTC"


def test_a_users_own_pipeline_loads_the_whole_history_in_one_run_as_parquet(
    make_emulator, tmp_path, monkeypatch
):
    """What a dlt user writes, run outside the repo folder (no .dlt config): one run, everything, parquet."""
    emulator = make_emulator(messages=3500)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SOURCES__COMETCHAT__CREDENTIALS__APP_ID", emulator.app_id)
    monkeypatch.setenv("SOURCES__COMETCHAT__CREDENTIALS__API_KEY", emulator.api_key)
    monkeypatch.setenv("SOURCES__COMETCHAT__CREDENTIALS__BASE_URL", emulator.base_url)
    monkeypatch.setenv("SOURCES__COMETCHAT__REQUESTS_PER_MINUTE", "60000")
    pipeline = dlt.pipeline(
        "my_chat", destination="duckdb", dataset_name="chat", pipelines_dir=str(tmp_path / "pipelines")
    )

    load_info = pipeline.run(cometchat_source())

    assert len(load_info.loads_ids) == 1
    assert_matches_ground_truth(pipeline, emulator.ground_truth())
    jobs = load_info.load_packages[0].jobs["completed_jobs"]
    formats = {
        (job.job_file_info.table_name, job.job_file_info.file_format)
        for job in jobs
        if job.job_file_info.file_format != "sql"  # the merge statements that follow the file loads
    }
    assert {("users", "parquet"), ("messages", "parquet"), ("messages__entities", "parquet")} <= formats
    assert {t for t, f in formats if f != "parquet" and not t.startswith("_dlt")} == set(), formats
    assert "messages__entities__entity" not in pipeline.default_schema.tables  # max_table_nesting=1 travels


def test_run_load_slices_messages_one_package_each_and_ends_exact(make_emulator, make_pipeline, monkeypatch):
    emulator = make_emulator(messages=500, profiles=("capped_pages",))  # 25 messages a page
    pipeline = make_pipeline()
    truth = emulator.ground_truth()
    monkeypatch.setenv("SOURCES__COMETCHAT__BACKFILL_WINDOWS", "1")  # one cursor: slices in the order sent

    # A slice: the page that reaches 25 messages, then at most the 3 pages read ahead meanwhile.
    summary = load_from(emulator, pipeline, messages_per_load=25)

    assert (
        len(pipeline.dataset()["_dlt_loads"].df()) >= 500 // (5 * 25) + 1
    )  # the slices, then the other tables
    assert _load_ids(pipeline, "users") == {max(_load_ids(pipeline, "_dlt_loads"))}  # read last
    # Each message once: the changed copies that actions carry of messages an earlier slice listed are left out,
    # as the changes came before the run listed them.
    assert summary.rows_per_table["messages"] == len(truth["messages"])
    assert_declared_deduplicated(pipeline, True)
    assert_matches_ground_truth(pipeline, truth)
    again = load_from(emulator, pipeline, messages_per_load=25)
    assert again.rows_per_table == {}


def merged_message_tables(pipeline: dlt.Pipeline) -> list[set[str]]:
    """For each completed package that loaded message tables, those it merged (through a staging table)."""
    merged = []
    for load_id in sorted(pipeline.list_completed_load_packages()):
        if "messages" in tables_of(pipeline, load_id):
            merged.append(tables_of(pipeline, load_id, file_format="sql"))
    return merged


def tables_of(pipeline: dlt.Pipeline, load_id: str, file_format: str | None = None) -> set[str]:
    """The tables a completed package loaded (with `file_format`: those of its jobs of that format)."""
    jobs = pipeline.get_load_package_info(load_id).jobs["completed_jobs"]
    return {
        job.job_file_info.table_name
        for job in jobs
        if file_format is None or job.job_file_info.file_format == file_format
    }


def stored_write_disposition(pipeline: dlt.Pipeline, table_name: str) -> str:
    """The table's write disposition in the newest schema stored in the destination."""
    with pipeline.destination_client() as client:
        stored = client.get_stored_schema(pipeline.default_schema_name)
    return json.loads(stored.schema)["tables"][table_name]["write_disposition"]


def test_a_first_load_in_slices_appends_every_slice(make_emulator, make_pipeline, monkeypatch):
    """Every message a first run lists is new to the destination: each slice is appended (no staging, no delete),
    the last one too, since the other tables' package after it takes the merge back on in the schema. The next
    run merges."""
    emulator = make_emulator(messages=250, profiles=("capped_pages",))
    pipeline = make_pipeline()
    monkeypatch.setenv("SOURCES__COMETCHAT__BACKFILL_WINDOWS", "1")

    load_from(emulator, pipeline, messages_per_load=25)

    slices = merged_message_tables(pipeline)
    # A slice also holds the pages read ahead when it fills: 25 to 100 of the 250 messages, as the threads go.
    assert len(slices) >= 3 and slices == [set()] * len(slices)
    for name in ("messages", "messages__entities", "messages__tags"):
        assert pipeline.default_schema.tables[name]["write_disposition"] == "merge"
        assert stored_write_disposition(pipeline, name) == "merge"
    assert_matches_ground_truth(pipeline, emulator.ground_truth())

    emulator.add_messages(100)
    editable = next(m for m in emulator.ground_truth()["messages"] if m["category"] == "message")
    emulator.edit_message(editable["id"], "edited after the first load")
    before = len(pipeline.list_completed_load_packages())
    load_from(emulator, pipeline, messages_per_load=25)

    assert len(pipeline.list_completed_load_packages()) - before >= 2  # the messages', the other tables'
    assert all(merged_message_tables(pipeline)[len(slices) :])  # the destination held messages: merged
    assert_matches_ground_truth(pipeline, emulator.ground_truth())


def test_a_first_load_of_the_messages_alone_merges_its_last_slice(make_emulator, make_pipeline, monkeypatch):
    """With no other tables' package after it, the last slice is merged, so that the schema keeps the merge:
    every table, those with no row in that slice too (an empty table takes the merge back)."""
    emulator = make_emulator(messages=250, profiles=("capped_pages",))
    pipeline = make_pipeline()
    monkeypatch.setenv("SOURCES__COMETCHAT__BACKFILL_WINDOWS", "1")

    load_from(emulator, pipeline, messages_per_load=25, resources=["messages"])

    *slices, last = merged_message_tables(pipeline)
    assert len(slices) >= 2 and slices == [set()] * len(slices)  # at least three slices, as above
    assert last == {"messages", *(f"messages__{kind}" for kind in CHILD_KINDS)}
    assert pipeline.default_schema.tables["messages__entities"]["write_disposition"] == "merge"
    assert stored_write_disposition(pipeline, "messages__entities") == "merge"


def message_table_hints(pipeline: dlt.Pipeline) -> dict[str, dict]:
    """The message tables' hints in the pipeline's schema, their columns left out."""
    tables = pipeline.default_schema.tables
    return {name: {k: v for k, v in tables[name].items() if k != "columns"} for name in MESSAGE_TABLES}


def test_the_restored_merge_is_the_one_a_merged_last_slice_declares(
    make_emulator, make_pipeline, monkeypatch
):
    """The hints `restore_message_merges` sets are those a merged last slice leaves, to the letter."""
    emulator = make_emulator(messages=250, profiles=("capped_pages",))
    monkeypatch.setenv("SOURCES__COMETCHAT__BACKFILL_WINDOWS", "1")
    appended, merged = make_pipeline("appended"), make_pipeline("merged")

    load_from(emulator, appended, messages_per_load=25)
    load_from(emulator, merged, messages_per_load=25, resources=["messages"])

    assert merged_message_tables(appended)[-1] == set() and merged_message_tables(merged)[-1]
    assert message_table_hints(appended) == message_table_hints(merged)


def test_a_first_load_after_the_other_tables_stores_the_merge_too(make_emulator, make_pipeline, monkeypatch):
    """The other tables unchanged since an earlier run: their package holds no row and dlt drops it, so the
    restored schema is stored in the destination on its own."""
    emulator = make_emulator(messages=250, profiles=("capped_pages",))
    monkeypatch.setenv("SOURCES__COMETCHAT__BACKFILL_WINDOWS", "1")
    pipeline = make_pipeline()
    others = ["users", "groups", "group_members", "user_conversations", "group_conversations"]
    load_from(emulator, pipeline, resources=others)
    packages = len(pipeline.list_completed_load_packages())

    load_from(emulator, pipeline, messages_per_load=25)

    loaded = sorted(pipeline.list_completed_load_packages())[packages:]
    assert not any(tables_of(pipeline, load_id) & {*others} for load_id in loaded)  # none of the other tables
    assert merged_message_tables(pipeline)[-1] == set()  # the last slice appended
    assert stored_write_disposition(pipeline, "messages__entities") == "merge"
    assert_matches_ground_truth(pipeline, emulator.ground_truth())


def test_a_slice_that_ends_with_the_last_message_asks_for_no_other(make_emulator, make_pipeline):
    emulator = make_emulator(messages=2000)
    pipeline = make_pipeline()
    truth = emulator.ground_truth()

    load_from(emulator, pipeline, messages_per_load=len(truth["messages"]))

    # One slice of messages (no second one that finds nothing), then the other tables.
    assert len(pipeline.dataset()["_dlt_loads"].df()) == 2
    assert_matches_ground_truth(pipeline, truth)


def _load_ids(pipeline, table: str) -> set[str]:
    column = "load_id" if table == "_dlt_loads" else "_dlt_load_id"
    return {load_id for (load_id,) in pipeline.dataset()(f"SELECT DISTINCT {column} FROM {table}").fetchall()}


def test_second_run_without_changes_is_cheap_and_loads_nothing_unchanged(emulator, make_pipeline):
    pipeline = make_pipeline()
    load_from(emulator, pipeline)
    emulator.reset_stats()

    summary = load_from(emulator, pipeline)
    truth = emulator.ground_truth()

    # users, groups, groups again (for members), two conversation lists, the newest message (where a read in
    # slices begins), new messages, and the updates pass: one request, or two when the newest second held
    # changed messages (read again, found unchanged).
    changed = changed_since(truth, truth["messages"][-1]["updatedAt"])
    assert emulator.stats()["total"] == 8 + bool(changed)
    assert summary.requests.requests == emulator.stats()["total"]
    assert summary.rows_per_table == {}
    assert_matches_ground_truth(pipeline, truth)


def test_next_run_brings_exactly_the_changes(make_emulator, make_pipeline):
    with make_emulator(seed=11) as emulator:
        pipeline = make_pipeline()
        load_from(emulator, pipeline)
        before = emulator.ground_truth()
        conversation = next(c for c in before["conversations"] if c["conversationType"] == "user")
        kept = [m for m in before["messages"] if m["category"] == "message" and not m.get("deletedAt")]

        new_ids = emulator.add_messages(5)
        emulator.edit_message(kept[0]["id"], "edited text ✏️")
        emulator.delete_message(kept[1]["id"])
        emulator.set_conversation_tags(
            conversation["viewer"], conversation["conversationId"], ["vip", "🔥 hot"]
        )
        emulator.reset_stats()

        summary = load_from(emulator, pipeline)
        after = emulator.ground_truth()

        assert_matches_ground_truth(pipeline, after)
        # 5 new messages + 2 action messages (edit, delete) + the edited and the deleted message once each: the
        # copies the actions carry and those the updates pass reads again are one copy per message in the package.
        updated = changed_since(after, before["messages"][-1]["updatedAt"] + 1)
        assert updated == 2
        assert summary.rows_per_table["messages"] == len(new_ids) + 2 + updated
        assert_declared_deduplicated(pipeline, True)
        assert summary.rows_per_table["user_conversations"] >= 1
        assert emulator.stats()["total"] <= 10


@pytest.mark.parametrize("burst", [2500])
def test_many_messages_in_one_second_across_pages_and_runs(make_emulator, make_pipeline, burst):
    with make_emulator(seed=5, messages=300) as emulator:
        pipeline = make_pipeline()
        newest = max(m["sentAt"] for m in emulator.ground_truth()["messages"])
        emulator.add_messages(burst, sent_at=newest + 10)
        load_from(emulator, pipeline)
        # The next run resumes inside the very same second.
        emulator.add_messages(700, sent_at=newest + 10)
        load_from(emulator, pipeline)

        truth = emulator.ground_truth()
        assert loaded_messages(pipeline) == expected_messages(truth)
        assert sum(1 for m in truth["messages"] if m["sentAt"] == newest + 10) == burst + 700


def test_a_snapshot_that_becomes_empty_empties_its_table(make_emulator, make_pipeline):
    emulator = make_emulator(messages=300, users=12, groups=2, seed=4)
    pipeline = make_pipeline()
    load_from(emulator, pipeline)
    assert len(table(pipeline, "group_conversations")) > 0
    for group in emulator.ground_truth(messages=False)["groups"]:
        emulator.delete_group(group["guid"])

    load_from(emulator, pipeline)

    assert_matches_ground_truth(pipeline, emulator.ground_truth())
    for name in ("groups", "group_members", "group_conversations"):
        assert len(table(pipeline, name)) == 0, name


def test_a_change_within_the_second_the_updates_window_starts_at_still_lands(make_emulator, make_pipeline):
    emulator = make_emulator(messages=400, users=12, groups=2, seed=6)
    pipeline = make_pipeline()
    load_from(emulator, pipeline)
    before = emulator.ground_truth()
    target = next(m for m in before["messages"] if m["category"] == "message" and "deletedAt" not in m)
    # No new message since: the reaction is stamped with the newest second, the one the window starts at.
    assert emulator.react(target["id"], "🎯") == before["messages"][-1]["updatedAt"]

    summary = load_from(emulator, pipeline)

    assert summary.rows_per_table["messages"] >= 1
    assert_matches_ground_truth(pipeline, emulator.ground_truth())


def test_members_stay_exact_when_the_stored_versions_cannot_be_read(
    make_emulator, make_pipeline, monkeypatch
):
    emulator = make_emulator(messages=300, users=12, groups=3, seed=4)
    pipeline = make_pipeline()
    load_from(emulator, pipeline)
    groups = emulator.ground_truth(messages=False)["groups"]
    emulator.delete_group(groups[0]["guid"])

    # A destination query that fails: every group is read, and their members replace every stored row.
    with monkeypatch.context() as patched:
        patched.setattr(source, "_loaded_group_versions", lambda: None)
        load_from(emulator, pipeline)
    assert_matches_ground_truth(pipeline, emulator.ground_truth())

    # The next run reads the versions again and replaces only the changed group's rows, not every stored row.
    member = next(
        m for m in emulator.ground_truth(messages=False)["members"] if m["guid"] == groups[1]["guid"]
    )
    emulator.delete_member(member["guid"], member["uid"])
    load_from(emulator, pipeline)
    assert_matches_ground_truth(pipeline, emulator.ground_truth())
    assert {row.guid for row in table(pipeline, "group_members").itertuples()} == {
        g["guid"] for g in groups[1:]
    }

    # No group left, versions unknown: the stored rows still go.
    for group in groups[1:]:
        emulator.delete_group(group["guid"])
    with monkeypatch.context() as patched:
        patched.setattr(source, "_loaded_group_versions", lambda: None)
        load_from(emulator, pipeline)
    assert len(table(pipeline, "group_members")) == 0
