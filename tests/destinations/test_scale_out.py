"""The scale-out backfill into a real PostgreSQL: windows as Dagster partitions, shards loading at the same
time into one dataset, a shard's slices loading while the next is read, and run.py's pipeline taking over;
every table compared with the emulator's truth."""

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import dlt
import pytest
from dlt.common.destination.exceptions import SchemaUpdateTerminalError
from dlt.load import Load

from pipelines import backfill
from pipelines.dagster_backfill import JOB_NAME, backfill_definitions
from pipelines.loading import build_pipeline
from pipelines.scale_out import (
    BackfillPlan,
    load_window,
    plan_backfill,
    shard_pipeline,
    window_key,
    window_source,
)
from sources.cometchat import CometChatClient, more_messages
from tests.source.changes import change_everything
from tests.source.conftest import emulator_credentials, load_from
from tests.source.expected import expected_children, expected_entities, expected_messages
from tests.source.loaded import loaded_child_rows, loaded_messages
from tests.source.matching import CHILD_KINDS, assert_matches_ground_truth
from tests.source.overlap import watch_overlap

BUDGET = 60_000
CAPPED = ("capped_pages",)  # 25 messages a page, so that a few hundred messages make several slices
SLICE = 100


def in_window(truth: dict, window: tuple[int, int]) -> dict:
    return {**truth, "messages": [m for m in truth["messages"] if window[0] <= m["sentAt"] < window[1]]}


def assert_messages_match(pipeline: dlt.Pipeline, truth: dict) -> None:
    assert loaded_messages(pipeline) == expected_messages(truth)
    assert loaded_child_rows(pipeline, "entities") == expected_entities(truth)
    for kind in CHILD_KINDS[1:]:
        assert loaded_child_rows(pipeline, kind) == expected_children(truth, kind), kind


def stored_loads(pipeline: dlt.Pipeline) -> int:
    with pipeline.sql_client() as client:
        return client.execute_sql("SELECT count(*) FROM _dlt_loads")[0][0]


def make_plan(emulator, windows: int) -> BackfillPlan:
    plan = plan_backfill(CometChatClient(emulator_credentials(emulator), requests_per_minute=BUDGET), windows)
    assert len(plan.windows) == windows
    return plan


def test_dagster_partitions_load_the_windows_and_run_py_takes_over_exactly(
    make_emulator, postgres_uri, tmp_path
):
    emulator = make_emulator(seed=23, messages=800)
    truth = emulator.ground_truth()
    plan = make_plan(emulator, 2)
    destination = dlt.destinations.postgres(postgres_uri)
    pipelines_dir = str(tmp_path / "pipelines")
    defs = backfill_definitions(
        plan,
        destination,
        dataset_name="chat_dagster",
        credentials=emulator_credentials(emulator),
        requests_per_minute=BUDGET,
        concurrent_shards=3,
        pipelines_dir=pipelines_dir,
    )
    job = defs.resolve_job_def(JOB_NAME)

    for window in plan.windows:
        assert job.execute_in_process(partition_key=window_key(window)).success
    first = shard_pipeline(destination, "chat_dagster", plan.windows[0], pipelines_dir)
    assert_messages_match(first, truth)

    # Materialized again, a window reads and loads nothing: its state, restored from the destination, says done.
    emulator.reset_stats()
    loads = stored_loads(first)
    assert job.execute_in_process(partition_key=window_key(plan.windows[0])).success
    assert emulator.stats()["total"] == 0
    assert stored_loads(first) == loads

    # run.py's pipeline takes over at the plan's end: everything else, then new messages and later changes.
    pipeline = build_pipeline(
        destination, "chat_dagster", "cometchat_after_backfill", progress=None, pipelines_dir=pipelines_dir
    )
    summary = load_from(emulator, pipeline, requests_per_minute=BUDGET, messages_from=plan.until)
    assert_matches_ground_truth(pipeline, truth)
    # The history is the backfill's: this run reads again only what changed in the backfill's last second.
    last_second = [m for m in truth["messages"] if m["updatedAt"] >= plan.until - 1]
    assert summary.rows_per_table.get("messages", 0) <= len(last_second) < len(truth["messages"]) / 10

    # The next run, without messages_from, goes on from there: it does not read the history again either.
    change_everything(emulator)
    summary = load_from(emulator, pipeline, requests_per_minute=BUDGET)
    assert_matches_ground_truth(pipeline, emulator.ground_truth())
    assert summary.rows_per_table.get("messages", 0) < len(truth["messages"]) / 10


def test_concurrent_shards_keep_their_own_staging_and_load_exactly(make_emulator, postgres_uri, tmp_path):
    emulator = make_emulator(seed=29, messages=900)
    truth = emulator.ground_truth()
    plan = make_plan(emulator, 3)
    destination = dlt.destinations.postgres(postgres_uri)
    credentials = emulator_credentials(emulator)
    pipelines = [
        shard_pipeline(destination, "chat_shards", window, str(tmp_path / "pipelines"))
        for window in plan.windows
    ]
    # The shards start together on an empty dataset: each creates the dataset and the tables, or finds them.
    start = threading.Barrier(len(plan.windows))

    def shard(index: int) -> None:
        start.wait(timeout=60)
        load_window(pipelines[index], plan.windows[index], credentials, BUDGET / len(plan.windows))

    with ThreadPoolExecutor(len(plan.windows)) as pool:
        list(pool.map(shard, range(len(plan.windows))))

    assert_messages_match(pipelines[0], truth)
    with pipelines[0].sql_client() as client:
        schemas = {row[0] for row in client.execute_sql("SELECT nspname FROM pg_namespace")}
        assert "chat_shards_staging" not in schemas
        for window in plan.windows:
            staging = f"chat_shards_staging_{window_key(window)}"
            assert staging in schemas
            # Each staging dataset still holds exactly the last load of its own shard: nobody else's rows.
            staged = {row[0] for row in client.execute_sql(f"SELECT id FROM {staging}.messages")}
            assert staged == {int(m["id"]) for m in in_window(truth, window)["messages"]}


def test_the_backfill_cli_plans_and_loads_each_window_once(
    make_emulator, postgres_uri, tmp_path, monkeypatch, capsys
):
    emulator = make_emulator(seed=31, messages=400)
    credentials = emulator_credentials(emulator)
    for key, value in {
        "SOURCES__COMETCHAT__CREDENTIALS__APP_ID": credentials.app_id,
        "SOURCES__COMETCHAT__CREDENTIALS__API_KEY": credentials.api_key,
        "SOURCES__COMETCHAT__CREDENTIALS__BASE_URL": credentials.base_url,
        "DESTINATION__POSTGRES__CREDENTIALS": postgres_uri,
        "DLT_DATA_DIR": str(tmp_path / "dlt"),
    }.items():
        monkeypatch.setenv(key, value)
    plan_file = str(tmp_path / "plan.json")

    assert backfill.main(["plan", "--windows", "2", "--out", plan_file]) == 0
    plan = BackfillPlan.load(plan_file)
    assert f"--messages-from {plan.until}" in capsys.readouterr().out
    for window in plan.windows:
        shard = ["shard", "--plan", plan_file, "--window", window_key(window), "--shards", "2"]
        assert backfill.main([*shard, "--dataset-name", "chat_cli_shards"]) == 0
    assert "loaded by pipeline" in capsys.readouterr().out
    assert backfill.main([*shard, "--dataset-name", "chat_cli_shards"]) == 0
    assert "was loaded before" in capsys.readouterr().out

    reader = shard_pipeline(
        "postgres", "chat_cli_shards", plan.windows[-1], str(tmp_path / "dlt" / "pipelines")
    )
    assert_messages_match(reader, emulator.ground_truth())


def test_a_shard_loads_each_slice_while_it_reads_the_next_and_reads_each_page_once(
    make_emulator, postgres_uri, tmp_path, monkeypatch
):
    emulator = make_emulator(seed=37, messages=420, profiles=CAPPED)
    window = make_plan(emulator, 1).windows[0]
    expected = in_window(emulator.ground_truth(), window)
    # Each page of messages once, the newest message, and at most one empty page per slice (the last one's
    # end, or a slice that ended on the window's last page).
    pages = -(-len(expected["messages"]) // 25)
    credentials = emulator_credentials(emulator)
    destination = dlt.destinations.postgres(postgres_uri)
    pipelines_dir = str(tmp_path / "pipelines")

    # The obvious way, for comparison: one `pipeline.run` per slice, each read after the last one loaded.
    emulator.reset_stats()
    in_turn = shard_pipeline(destination, "chat_in_turn", window, pipelines_dir, prefix="in_turn")
    runs = 0
    while runs == 0 or more_messages(in_turn):
        in_turn.run(window_source(credentials, window, BUDGET, SLICE))
        runs += 1
    assert_messages_match(in_turn, expected)
    assert runs >= 3 and emulator.stats()["total"] <= pages + 1 + runs

    emulator.reset_stats()
    watch = watch_overlap(monkeypatch)
    overlapping = shard_pipeline(destination, "chat_overlapped", window, pipelines_dir)
    load_window(overlapping, window, credentials, BUDGET, SLICE)

    # Where a slice ends depends on the pages read ahead meanwhile, so the two ways may cut it apart differently.
    assert watch.extracts >= 3 and watch.overlapped == [True] * (watch.extracts - 1)
    assert stored_loads(overlapping) == watch.extracts
    assert emulator.stats()["total"] <= pages + 1 + watch.extracts
    assert not overlapping.has_pending_data
    assert_messages_match(overlapping, expected)


def _lost_race() -> Exception:
    cause = RuntimeError('duplicate key value violates unique constraint "pg_type_typname_nsp_index"')
    return SchemaUpdateTerminalError("cometchat", ["messages"], cause)


def test_a_slice_that_lost_a_schema_race_on_the_load_thread_is_loaded_again(
    make_emulator, postgres_uri, tmp_path, monkeypatch, caplog
):
    emulator = make_emulator(seed=41, messages=300, profiles=CAPPED)
    window = make_plan(emulator, 1).windows[0]
    pipeline = shard_pipeline(dlt.destinations.postgres(postgres_uri), "chat_race", window, str(tmp_path))
    failures: list[str] = []
    load_package = Load.load_single_package

    def loses_the_race_on_the_thread_and_once_more(self, load_id, schema):
        # The thread's try and the caller's first try lose; the caller's retry wins.
        if len(failures) < 2 and (failures or threading.current_thread() is not threading.main_thread()):
            failures.append(load_id)
            raise _lost_race()
        return load_package(self, load_id, schema)

    monkeypatch.setattr(Load, "load_single_package", loses_the_race_on_the_thread_and_once_more)
    caplog.set_level(logging.WARNING)

    load_window(pipeline, window, emulator_credentials(emulator), BUDGET, SLICE)

    assert len(failures) == 2 and failures[0] == failures[1]
    assert "failed on the load thread" in caplog.text
    assert "Another shard changed the same tables at the same time" in caplog.text
    assert not pipeline.has_pending_data
    assert_messages_match(pipeline, in_window(emulator.ground_truth(), window))


def test_a_shard_stopped_before_its_package_was_normalized_loads_it_without_reading_again(
    make_emulator, postgres_uri, tmp_path
):
    emulator = make_emulator(seed=43, messages=200, profiles=CAPPED)
    window = make_plan(emulator, 1).windows[0]
    credentials = emulator_credentials(emulator)
    pipeline = shard_pipeline(dlt.destinations.postgres(postgres_uri), "chat_stopped", window, str(tmp_path))
    pipeline.run(window_source(credentials, window, BUDGET, SLICE))
    assert more_messages(pipeline)
    # The rest of the window read, then the shard stopped before normalizing it (dlt's `load` skips such a package).
    pipeline.extract(window_source(credentials, window, BUDGET, messages_per_load=None))
    (stopped,) = pipeline.list_extracted_load_packages()

    emulator.reset_stats()
    load_window(pipeline, window, credentials, BUDGET)

    assert emulator.stats()["total"] == 0
    with pipeline.sql_client() as client:
        assert client.execute_sql("SELECT count(*) FROM _dlt_loads WHERE load_id = %s", stopped)[0][0] == 1
    assert not pipeline.has_pending_data
    assert_messages_match(pipeline, in_window(emulator.ground_truth(), window))


@pytest.mark.parametrize("left", ["extracted", "normalized"])
def test_a_package_left_behind_by_a_shard_that_went_on_elsewhere_is_dropped_not_loaded(
    make_emulator, postgres_uri, tmp_path, caplog, left
):
    emulator = make_emulator(seed=47, messages=400, profiles=CAPPED)
    window = make_plan(emulator, 1).windows[0]
    credentials = emulator_credentials(emulator)
    destination = dlt.destinations.postgres(postgres_uri)
    first_machine = shard_pipeline(destination, f"chat_moved_{left}", window, str(tmp_path / "a"))
    first_machine.run(window_source(credentials, window, BUDGET, SLICE))
    assert more_messages(first_machine)
    first_machine.extract(window_source(credentials, window, BUDGET, SLICE))  # then this machine went away
    if left == "normalized":
        first_machine.normalize()
    assert first_machine.has_pending_data
    # The shard runs again on another machine, from the destination's state, to the window's end.
    elsewhere = shard_pipeline(destination, f"chat_moved_{left}", window, str(tmp_path / "b"))
    load_window(elsewhere, window, credentials, BUDGET)
    loads = stored_loads(first_machine)

    emulator.reset_stats()
    caplog.set_level(logging.WARNING)
    assert load_window(first_machine, window, credentials, BUDGET) is None

    assert "Dropping the load packages pipeline" in caplog.text
    assert emulator.stats()["total"] == 0
    assert stored_loads(first_machine) == loads and not first_machine.has_pending_data
    assert_messages_match(first_machine, in_window(emulator.ground_truth(), window))


def test_packages_left_behind_are_dropped_where_another_machine_loaded_fewer_slices_since(
    make_emulator, postgres_uri, tmp_path, caplog
):
    emulator = make_emulator(seed=53, messages=600, profiles=CAPPED)
    window = make_plan(emulator, 1).windows[0]
    credentials = emulator_credentials(emulator)
    destination = dlt.destinations.postgres(postgres_uri)
    first_machine = shard_pipeline(destination, "chat_forked", window, str(tmp_path / "a"))
    first_machine.run(window_source(credentials, window, BUDGET, SLICE))
    # Two slices read and left pending (both loads failed, or the machine went away): its state is two ahead.
    first_machine.extract(window_source(credentials, window, BUDGET, SLICE))
    first_machine.normalize()
    first_machine.extract(window_source(credentials, window, BUDGET, SLICE))
    assert more_messages(first_machine)
    stale = {*first_machine.list_normalized_load_packages(), *first_machine.list_extracted_load_packages()}
    # Another machine goes on from the destination's state and loads one slice: its state is one ahead.
    elsewhere = shard_pipeline(destination, "chat_forked", window, str(tmp_path / "b"))
    elsewhere.run(window_source(credentials, window, BUDGET, SLICE))

    caplog.set_level(logging.WARNING)
    load_window(first_machine, window, credentials, BUDGET, SLICE)

    assert "Dropping the load packages pipeline" in caplog.text
    with first_machine.sql_client() as client:
        loaded = {row[0] for row in client.execute_sql("SELECT load_id FROM _dlt_loads")}
    assert len(stale) == 2 and not stale & loaded
    assert not first_machine.has_pending_data
    assert_messages_match(first_machine, in_window(emulator.ground_truth(), window))
