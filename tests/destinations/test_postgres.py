"""PostgreSQL, a real server: exact after an incremental run with edits and deletes, no ADBC/parquet warnings."""

import dlt

from pipelines.loading import run_load
from tests.source.changes import change_everything
from tests.source.cli import run_cli
from tests.source.conftest import load_from
from tests.source.matching import assert_matches_ground_truth, assert_messages_match_ground_truth
from tests.source.test_load import assert_declared_deduplicated
from tests.source.test_one_copy import ChangesMessagesAfterTheFirstPage


def postgres_pipeline(name: str, postgres_uri: str, dataset_name: str, tmp_path) -> dlt.Pipeline:
    return dlt.pipeline(
        name,
        destination=dlt.destinations.postgres(postgres_uri),
        dataset_name=dataset_name,
        pipelines_dir=str(tmp_path / "pipelines"),
    )


def test_postgres_is_exact_after_an_incremental_run(make_emulator, postgres_uri, tmp_path):
    emulator = make_emulator(seed=11, messages=1500)
    pipeline = postgres_pipeline("cometchat_pg", postgres_uri, "chat_incremental", tmp_path)
    load_from(emulator, pipeline)
    change_everything(emulator)

    summary = load_from(emulator, pipeline)

    assert_matches_ground_truth(pipeline, emulator.ground_truth())
    jobs = summary.load_info.load_packages[0].jobs["completed_jobs"]
    assert {job.job_file_info.file_format for job in jobs} <= {"insert_values", "sql"}


def test_run_py_loads_postgres_twice_without_warnings(make_emulator, postgres_uri, tmp_path):
    emulator = make_emulator(messages=300)
    env = {"DESTINATION__POSTGRES__CREDENTIALS": postgres_uri, "RUNTIME__LOG_LEVEL": "WARNING"}
    for _ in range(2):
        process = run_cli(
            emulator, tmp_path, "--destination", "postgres", "--dataset-name", "chat_cli", env_extra=env
        )
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        assert "Loaded into postgres dataset 'chat_cli'" in out
        for word in ("ADBC", "adbc", "parquet", "WARNING"):
            assert word not in err, err


def test_postgres_is_exact_when_messages_change_while_the_run_reads_them(
    make_emulator, postgres_uri, tmp_path
):
    # A package with two copies of a message keeps dlt's dedup (hint false, empty tables carry it); the next,
    # with one copy each, skips it.
    emulator = make_emulator(seed=21, messages=400)
    pipeline = postgres_pipeline("cometchat_pg_changing", postgres_uri, "chat_changing", tmp_path)
    load_from(emulator, pipeline)
    emulator.add_messages(30)
    client = ChangesMessagesAfterTheFirstPage(emulator)

    run_load(pipeline, client, resources=["messages"])

    assert client.changed
    assert_messages_match_ground_truth(pipeline, emulator.ground_truth())
    assert_declared_deduplicated(pipeline, False)
    emulator.edit_message(client.changed[1], "and edited again")
    load_from(emulator, pipeline)
    assert_matches_ground_truth(pipeline, emulator.ground_truth())
    assert_declared_deduplicated(pipeline, True)
