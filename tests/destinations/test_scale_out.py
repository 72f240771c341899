"""The scale-out backfill into a real PostgreSQL: windows as Dagster partitions, shards loading at the same
time into one dataset, and run.py's pipeline taking over; every table compared with the emulator's truth."""

import threading
from concurrent.futures import ThreadPoolExecutor

import dlt

from pipelines import backfill
from pipelines.dagster_backfill import JOB_NAME, backfill_definitions
from pipelines.loading import build_pipeline
from pipelines.scale_out import (
    BackfillPlan,
    load_window,
    plan_backfill,
    shard_pipeline,
    window_key,
)
from sources.cometchat import CometChatClient
from tests.source.changes import change_everything
from tests.source.conftest import emulator_credentials, load_from
from tests.source.expected import expected_children, expected_entities, expected_messages
from tests.source.loaded import loaded_child_rows, loaded_messages
from tests.source.matching import CHILD_KINDS, assert_matches_ground_truth

BUDGET = 60_000


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
