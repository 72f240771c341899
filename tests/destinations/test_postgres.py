"""PostgreSQL, a real server: exact after an incremental run with edits and deletes, no ADBC/parquet warnings.

The dev install has dlt's ADBC driver for Postgres (the `postgres` extra), so the source loads parquet there,
with JSON columns as `json`; without it, insert_values with `jsonb`, which a parquet load cannot write into."""

from collections.abc import Set as AbstractSet

import dlt
from dlt.destinations._adbc_jobs import has_adbc_driver
from dlt.destinations.impl.postgres.factory import get_adbc_driver_location

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
    assert has_adbc_driver(get_adbc_driver_location())[0], "the dev install has the ADBC driver"
    emulator = make_emulator(seed=11, messages=1500)
    pipeline = postgres_pipeline("cometchat_pg", postgres_uri, "chat_incremental", tmp_path)
    load_from(emulator, pipeline)
    first_run = set(pipeline.list_completed_load_packages())
    change_everything(emulator)

    load_from(emulator, pipeline)

    assert_matches_ground_truth(pipeline, emulator.ground_truth())
    assert json_column_types(pipeline) == dict.fromkeys(JSON_TABLES, "json")
    assert file_formats(pipeline, first_run) == {table: {"parquet"} for table in JSON_TABLES}


def test_postgres_loaded_without_adbc_goes_on_with_insert_values_once_it_is_installed(
    make_emulator, postgres_uri, tmp_path, monkeypatch
):
    emulator = make_emulator(seed=12, messages=600)
    pipeline = postgres_pipeline("cometchat_pg_no_adbc", postgres_uri, "chat_no_adbc", tmp_path)
    monkeypatch.setenv("DISABLE_ADBC_DETECTION", "true")  # dlt's switch: as if the driver were not installed
    load_from(emulator, pipeline)
    assert file_formats(pipeline) == {table: {"insert_values"} for table in JSON_TABLES}
    first_run = set(pipeline.list_completed_load_packages())
    monkeypatch.delenv("DISABLE_ADBC_DETECTION")
    change_everything(emulator)

    # A parquet load into the `jsonb` columns would fail: the tables with JSON columns keep insert_values.
    load_from(emulator, pipeline)

    assert_matches_ground_truth(pipeline, emulator.ground_truth())
    assert json_column_types(pipeline) == dict.fromkeys(JSON_TABLES, "jsonb")
    assert file_formats(pipeline, first_run) == {table: {"insert_values"} for table in JSON_TABLES}

    # Starting over by dropping the dataset leaves its staging dataset, where `messages` keeps `jsonb`; the
    # other tables are created again, as `json`.
    with pipeline.sql_client() as client:
        client.execute_sql(f"DROP SCHEMA {client.dataset_name} CASCADE")
    again = postgres_pipeline("cometchat_pg_again", postgres_uri, "chat_no_adbc", tmp_path / "again")
    load_from(emulator, again)

    assert_matches_ground_truth(again, emulator.ground_truth())
    assert file_formats(again) == {"users": {"parquet"}, "groups": {"parquet"}, "messages": {"insert_values"}}


JSON_TABLES = ("users", "groups", "messages")


def file_formats(pipeline: dlt.Pipeline, before: AbstractSet[str] = frozenset()) -> dict[str, set[str]]:
    """The file formats each of JSON_TABLES was loaded from, in the pipeline's packages but those in `before`
    (the merge's follow-up SQL jobs left out)."""
    formats: dict[str, set[str]] = {}
    for load_id in set(pipeline.list_completed_load_packages()) - before:
        for job in pipeline.get_load_package_info(load_id).jobs["completed_jobs"]:
            table, file_format = job.job_file_info.table_name, job.job_file_info.file_format
            if table in JSON_TABLES and file_format != "sql":
                formats.setdefault(table, set()).add(file_format)
    return formats


def json_column_types(pipeline: dlt.Pipeline) -> dict[str, str]:
    with pipeline.sql_client() as client:
        rows = client.execute_sql(
            "SELECT table_name, data_type FROM information_schema.columns "
            "WHERE table_schema = %s AND column_name = 'metadata'",
            client.dataset_name,
        )
    return dict(rows)


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
