"""Backfill shards (`messages_from`/`messages_until`) and time windows, against the emulator over HTTP.

Adjacent ranges loaded one after another give exactly the ground truth's messages and
child rows: boundaries inside seconds that hold several messages and more than a page, edits and deletes whose
action messages fall in a later range than the message they change, under every reading of `toTimestamp`.
"""

import json
import logging
import signal
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import dlt
import pytest

from pipelines.loading import build_pipeline, run_load
from sources.cometchat import CometChatClient, CometChatCredentials, cometchat_source, windows
from sources.cometchat.errors import CometChatConfigError
from sources.cometchat.settings import DEFAULT_BACKFILL_WINDOWS, WINDOW_READERS
from sources.cometchat.windows import message_time_range, read_concurrently, split_windows

from .cli import cli_env
from .conftest import emulator_credentials, load_from
from .expected import epoch, expected_children, expected_entities, expected_messages
from .loaded import loaded_child_rows, loaded_messages, table, tables

SMALL = {"messages": 300, "users": 20, "groups": 3, "members_per_group": 4, "seed": 5}
CHILD_KINDS = ("attachments", "reactions", "mentions", "tags")
KILL_RUNNER = Path(__file__).with_name("window_kill_runner.py")


def assert_messages_match(pipeline: dlt.Pipeline, truth: dict) -> None:
    assert loaded_messages(pipeline) == expected_messages(truth)
    assert loaded_child_rows(pipeline, "entities") == expected_entities(truth)
    for kind in CHILD_KINDS:
        assert loaded_child_rows(pipeline, kind) == expected_children(truth, kind), kind


def crowded_history(emulator) -> list[int]:
    """Adds seconds that hold several messages and more than a (capped, 25-row) page, and edits and deletes
    whose actions land in the last second; returns boundaries that cut inside each crowded second."""
    messages = emulator.ground_truth()["messages"]
    newest = messages[-1]["sentAt"]
    emulator.add_messages(7, sent_at=newest + 1)
    emulator.add_messages(60, sent_at=newest + 2)
    emulator.add_messages(3, sent_at=newest + 3)
    plain = [
        m for m in messages if m["category"] == "message" and "deletedAt" not in m and "parentId" not in m
    ]
    emulator.edit_message(plain[0]["id"], "edited in a later shard")
    emulator.delete_message(plain[1]["id"])
    emulator.react(plain[2]["id"], "🎉")
    seconds = [m["sentAt"] for m in messages]
    shared = next(s for s, t in pairwise(seconds) if s == t)
    return [shared, newest + 1, newest + 2]


@pytest.mark.parametrize(
    "profiles",
    [("capped_pages",), ("to_timestamp_exclusive", "capped_pages"), ("to_timestamp_ignored", "capped_pages")],
    ids=lambda profiles: "+".join(profiles),
)
def test_adjacent_shards_load_exactly_the_history(make_emulator, make_pipeline, monkeypatch, profiles):
    emulator = make_emulator(profiles=profiles, **SMALL)
    cuts = crowded_history(emulator)
    client = CometChatClient(emulator_credentials(emulator), requests_per_minute=60_000)
    first, end = message_time_range(client)
    truth = emulator.ground_truth()
    assert (first, end) == (truth["messages"][0]["sentAt"], truth["messages"][-1]["sentAt"] + 1)
    bounds = sorted({first, *cuts, end})
    pipeline = make_pipeline()
    for start, until in pairwise(bounds):
        # The range injected from config, as an orchestrator sets it per shard.
        monkeypatch.setenv("SOURCES__COMETCHAT__MESSAGES_FROM", str(start))
        monkeypatch.setenv("SOURCES__COMETCHAT__MESSAGES_UNTIL", str(until))
        run_load(pipeline, client, resources=["messages"], messages_per_load=None)
        state = pipeline.state["sources"]["cometchat"]["resources"]["messages"]
        assert state["ranges"] == {} and not state["more"]
    assert_messages_match(pipeline, truth)


def test_a_shard_keeps_its_cursor_per_range_until_it_is_read(make_emulator, make_pipeline, monkeypatch):
    emulator = make_emulator(profiles=("capped_pages",), **SMALL)
    truth = emulator.ground_truth()
    sent = [m["sentAt"] for m in truth["messages"]]
    start, until = sent[50], sent[250]
    inside = {**truth, "messages": [m for m in truth["messages"] if start <= m["sentAt"] < until]}
    client = CometChatClient(emulator_credentials(emulator), requests_per_minute=60_000)
    pipeline = make_pipeline()
    source = cometchat_source(
        credentials=client.credentials,
        client=client,
        messages_per_load=60,
        messages_from=start,
        messages_until=until,
    )
    pipeline.run(source.with_resources("messages"))
    state = pipeline.state["sources"]["cometchat"]["resources"]["messages"]
    assert state["more"] and list(state["ranges"]) == [f"{start}:{until}"]
    assert "cursor" not in state and "updates_since" not in state  # the ongoing pipeline's keys stay unset
    # The slice: the pages up to 60 messages, then those read ahead (at most 3 of 25), not the whole range.
    assert 60 <= len(loaded_messages(pipeline)) <= 75 + 25 + 3 * 25 < len(inside["messages"])

    monkeypatch.setenv("SOURCES__COMETCHAT__MESSAGES_FROM", str(start))
    monkeypatch.setenv("SOURCES__COMETCHAT__MESSAGES_UNTIL", str(until))
    run_load(pipeline, client, resources=["messages"], messages_per_load=60)
    assert_messages_match(pipeline, inside)


def test_the_pipeline_after_a_backfill_starts_at_its_end_and_catches_later_changes(
    make_emulator, make_pipeline
):
    emulator = make_emulator(**SMALL)
    truth = emulator.ground_truth()
    client = CometChatClient(emulator_credentials(emulator), requests_per_minute=60_000)
    _, end = message_time_range(client)
    backfill, ongoing = make_pipeline("backfill"), make_pipeline("ongoing")
    source = cometchat_source(credentials=client.credentials, client=client, messages_until=end)
    backfill.run(source.with_resources("messages"))
    source = cometchat_source(credentials=client.credentials, client=client, messages_from=end)
    ongoing.run(source.with_resources("messages"))
    # Nothing sent since the backfill's end; the changes of its last second come again (the updates pass
    # starts a second early, so that a change in the very second the backfill ended is not missed).
    late = {
        int(m["id"]) for m in truth["messages"] if m["updatedAt"] >= end - 1 and m["updatedAt"] > m["sentAt"]
    }
    assert set(table(ongoing, "messages")["id"]) == late if late else "messages" not in tables(ongoing)

    old = next(m for m in truth["messages"] if m["category"] == "message" and "deletedAt" not in m)
    emulator.react(old["id"], "🎉")  # a change without an action message: only the updates pass sees it
    emulator.add_messages(5)
    source = cometchat_source(credentials=client.credentials, client=client, messages_from=end)
    ongoing.run(source.with_resources("messages"))
    after = {m["id"]: m for m in emulator.ground_truth()["messages"]}
    loaded = table(ongoing, "messages")
    expected = {int(m["id"]) for m in after.values() if m["sentAt"] >= end} | {int(old["id"])} | late
    assert sorted(loaded["id"]) == sorted(expected)
    updated = loaded.set_index("id")["updated_at"].map(epoch)
    assert updated[int(old["id"])] == after[old["id"]]["updatedAt"] > old["updatedAt"]


def test_split_windows_cover_the_range_without_gaps_or_empty_windows():
    assert split_windows(10, 20, 3) == [(10, 13), (13, 16), (16, 20)]
    assert split_windows(10, 12, 5) == [(10, 11), (11, 12)]
    assert split_windows(0, 1, 1) == [(0, 1)]
    with pytest.raises(ValueError, match="empty"):
        split_windows(5, 5, 2)
    with pytest.raises(ValueError, match="count"):
        split_windows(1, 5, 0)


def test_an_empty_or_malformed_range_is_refused_with_a_clear_error():
    credentials = CometChatCredentials(app_id="app1", api_key="k" * 40)
    with pytest.raises(CometChatConfigError, match="must be after messages_from"):
        cometchat_source(credentials=credentials, messages_from=20, messages_until=20)
    with pytest.raises(CometChatConfigError, match="messages_from must be Unix seconds"):
        cometchat_source(credentials=credentials, messages_from=-1)


def test_message_time_range_of_an_app_without_messages_is_none(make_emulator):
    emulator = make_emulator(messages=0, users=3, groups=1, members_per_group=2)
    client = CometChatClient(emulator_credentials(emulator), requests_per_minute=60_000)
    assert message_time_range(client) is None


def test_concurrent_windows_of_a_first_run_load_exactly(make_emulator, make_pipeline, caplog):
    emulator = make_emulator(profiles=("capped_pages",), **SMALL)
    crowded_history(emulator)
    truth = emulator.ground_truth()
    pipeline = make_pipeline()
    caplog.set_level(logging.INFO, logger="sources.cometchat.windows")
    summary = load_from(emulator, pipeline, resources=["messages"], messages_per_load=None)

    assert f"in {DEFAULT_BACKFILL_WINDOWS} time windows concurrently" in caplog.text
    assert_messages_match(pipeline, truth)
    state = pipeline.state["sources"]["cometchat"]["resources"]["messages"]
    assert "backfill" not in state
    assert state["cursor"] == [truth["messages"][-1]["sentAt"], int(truth["messages"][-1]["id"])]
    # The edits' actions, in the last window, carry copies of messages of the first: left out, not merged.
    changes = sum(1 for m in truth["messages"] if m["category"] == "action" and m["type"] == "message")
    assert len(truth["messages"]) <= summary.rows_per_table["messages"] < len(truth["messages"]) + changes


def test_windows_of_a_slow_api_are_read_on_more_connections_in_every_slice(
    make_emulator, make_pipeline, monkeypatch
):
    """At 150 ms an answer four connections would keep the loader waiting: the windows start on more, up to
    `max_workers`, judged from the first page, and every later slice starts there too; the load is exact."""
    # Enough pages in the first slice for a few rounds of one page per connection.
    emulator = make_emulator(profiles=("capped_pages",), **(SMALL | {"messages": 1_200}))
    crowded_history(emulator)
    truth = emulator.ground_truth()
    emulator.configure(latency_ms=150)
    started_on: list[int] = []

    def recorded(readers, workers, *args, **kwargs):
        started_on.append(workers)
        return read_concurrently(readers, workers, *args, **kwargs)

    monkeypatch.setattr(windows, "read_concurrently", recorded)
    client = CometChatClient(emulator_credentials(emulator), requests_per_minute=60_000, max_workers=8)
    pipeline = make_pipeline()

    run_load(pipeline, client, resources=["messages"], messages_per_load=600)

    assert len(started_on) >= 2 and WINDOW_READERS < started_on[0] <= 8
    assert started_on == sorted(started_on)  # each later slice starts where the one before ended
    assert started_on[-1] <= client.window_readers <= 8
    assert_messages_match(pipeline, truth)


def test_a_backfill_in_slices_loads_each_message_once(make_emulator, make_pipeline):
    """Edits and deletes sent before the backfill began carry copies of messages that a window lists (in this
    slice or an earlier one) after the change: those copies are left out, so no slice rewrites stored rows.
    That holds in the newest second too, for actions listed no later than the newest message at the plan."""
    emulator = make_emulator(profiles=("capped_pages",), **SMALL)
    plain = [
        m for m in emulator.ground_truth()["messages"] if m["category"] == "message" and "deletedAt" not in m
    ]
    emulator.edit_message(plain[len(plain) // 2]["id"], "edited in the newest second")
    truth = emulator.ground_truth()
    changes = [m for m in truth["messages"] if m["category"] == "action" and m["type"] == "message"]
    assert len(changes) >= 5
    pipeline = make_pipeline()

    summary = load_from(emulator, pipeline, resources=["messages"], messages_per_load=50)

    assert summary.rows_per_table["messages"] == len(truth["messages"])
    assert_messages_match(pipeline, truth)


@pytest.mark.parametrize("read", ["one_cursor", "windows", "shard"])
def test_a_later_slice_keeps_the_copy_an_earlier_slice_listed(
    make_emulator, make_pipeline, monkeypatch, read
):
    """An edit, then a reply (which moves the reply count, not the edit): the first slice lists the message as it
    is now, a later one reads the edit's action, whose copy has no reply count. That copy is left out; loaded, it
    would replace the stored one, as the newest load does."""
    monkeypatch.setenv("SOURCES__COMETCHAT__BACKFILL_WINDOWS", "1" if read == "one_cursor" else "8")
    emulator = make_emulator(profiles=("capped_pages",), **SMALL)
    truth = emulator.ground_truth()
    first = next(m for m in truth["messages"] if m["category"] == "message" and "parentId" not in m)
    emulator.edit_message(first["id"], "edited, then replied to")
    emulator.add_messages(1, parent_id=first["id"])
    truth = emulator.ground_truth()
    assert next(m for m in truth["messages"] if m["id"] == first["id"])["replyCount"] >= 1
    if read == "shard":
        client = CometChatClient(emulator_credentials(emulator), requests_per_minute=60_000)
        monkeypatch.setenv("SOURCES__COMETCHAT__MESSAGES_UNTIL", str(message_time_range(client)[1]))
    pipeline = make_pipeline()

    # Two connections, so that a slice reads ahead a few pages at most, however slowly a busy machine answers.
    load_from(emulator, pipeline, max_workers=2, resources=["messages"], messages_per_load=25)

    assert len(pipeline.list_completed_load_packages()) > 2  # slices: the edit's action comes in a later one
    assert_messages_match(pipeline, truth)
    state = pipeline.state["sources"]["cometchat"]["resources"]["messages"]
    assert not state.get("run") and not state.get("range_runs")  # kept only while a read goes on in slices


@pytest.mark.parametrize("resources", [["messages"], ["messages", "users"]])
def test_an_edit_sent_during_a_backfill_in_slices_is_loaded(make_emulator, make_pipeline, resources):
    """An edit sent after the plan, of a message a window has listed: its action, in the newest second at the
    plan, is listed after the newest message, so the copy it carries is loaded over the stored one. The run is a
    first load, but its last slice holds that copy, so it merges even where it may append (another table's
    package follows it)."""
    emulator = make_emulator(profiles=("capped_pages",), **SMALL)
    pipeline = make_pipeline()
    # Two connections, so that the first slice leaves the last window unread however slowly a busy machine answers.
    client = CometChatClient(emulator_credentials(emulator), requests_per_minute=60_000, max_workers=2)
    source = cometchat_source(credentials=client.credentials, client=client, messages_per_load=50)
    pipeline.run(source.with_resources("messages"))
    backfill = pipeline.state["sources"]["cometchat"]["resources"]["messages"]["backfill"]
    # The last window, where the edit's action goes, is still unread.
    assert backfill["windows"][-1][1] == backfill["until"]
    stored = table(pipeline, "messages")
    listed = stored[
        (stored["category"] == "message")
        & stored["deleted_at"].isna()
        & (stored["sent_at"].map(lambda at: at.timestamp()) > backfill["from"][0])
    ]
    edited = str(listed["id"].iloc[0])
    emulator.edit_message(edited, "edited while the backfill runs")

    load_from(emulator, pipeline, resources=resources, messages_per_load=50)

    assert_messages_match(pipeline, emulator.ground_truth())
    messages = table(pipeline, "messages").set_index("id")
    assert messages.loc[int(edited), "text"] == "edited while the backfill runs"


def test_a_run_killed_mid_backfill_resumes_each_window_and_ends_exact(make_emulator, make_pipeline, tmp_path):
    # About 43 pages of 25 in 8 windows. A slice of 100 takes 4 pages, then at most 12 read ahead on the 4
    # connections: the kill at the 25th page comes in the second slice.
    emulator = make_emulator(profiles=("capped_pages",), **{**SMALL, "messages": 1000})
    crowded_history(emulator)
    truth = emulator.ground_truth()
    pipelines_dir, database = tmp_path / "pipelines", tmp_path / "cometchat.duckdb"
    runner = subprocess.run(
        [sys.executable, str(KILL_RUNNER), "25", str(pipelines_dir), str(database)],
        env=cli_env(emulator, tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert runner.returncode == -signal.SIGKILL, runner.stderr

    pipeline = build_pipeline(
        destination=dlt.destinations.duckdb(str(database)), progress=None, pipelines_dir=str(pipelines_dir)
    )
    pipeline.sync_destination()
    state = pipeline.state["sources"]["cometchat"]["resources"]["messages"]
    windows = state["backfill"]["windows"]
    assert len(windows) > 1 and any(w[2] >= 0 for w in windows)  # windows under way, each at its own cursor
    assert len(json.dumps(state)) < 1500

    summary = load_from(emulator, pipeline, resources=["messages"], messages_per_load=100)

    assert_messages_match(pipeline, truth)
    # Resumed: the slices committed before the kill are not read again (a new read loads every message).
    assert summary.rows_per_table["messages"] < len(truth["messages"])
