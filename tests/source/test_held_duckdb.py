"""One DuckDB checkpoint per load package: nothing is written to the database file while the package loads, all
of it once it is loaded, and the database is released whatever happens."""

from pathlib import Path

import dlt
import duckdb
import pytest

from pipelines.held_duckdb import duckdb_held_open
from pipelines.loading import build_pipeline, capped_duckdb


@dlt.resource(primary_key="id", write_disposition="merge")
def rows(count: int):
    yield [{"id": i, "value": f"row {i}"} for i in range(count)]


def _normalized_pipeline(tmp_path: Path, count: int = 1_000) -> tuple[dlt.Pipeline, Path]:
    database = tmp_path / "held.duckdb"
    pipeline = build_pipeline(
        destination=capped_duckdb(database),
        dataset_name="held_dataset",
        pipeline_name="held",
        pipelines_dir=str(tmp_path / "p"),
        progress=None,
    )
    pipeline.extract(rows(count))
    pipeline.normalize()
    return pipeline, database


def _wal_bytes(database: Path) -> int:
    wal = database.with_name(database.name + ".wal")
    return wal.stat().st_size if wal.exists() else 0


def _stored_ids(database: Path, dataset: str = "held_dataset") -> list[int]:
    # read-only: DuckDB refuses it while this process still holds the database open read-write
    with duckdb.connect(str(database), read_only=True) as connection:
        return [row[0] for row in connection.execute(f"SELECT id FROM {dataset}.rows ORDER BY id").fetchall()]


def test_dlt_alone_checkpoints_after_every_load_job(tmp_path):
    pipeline, database = _normalized_pipeline(tmp_path)
    pipeline.load()
    assert _wal_bytes(database) == 0
    assert _stored_ids(database) == list(range(1_000))
    assert len(_stored_ids(database, "held_dataset_staging")) == 1_000  # the merge's staged copy stays


def test_a_held_package_is_checkpointed_once_when_it_is_loaded(tmp_path):
    pipeline, database = _normalized_pipeline(tmp_path)
    with duckdb_held_open(pipeline):
        pipeline.load()
        assert _wal_bytes(database) > 0  # the jobs' rows are still only in the write-ahead log
    assert _wal_bytes(database) == 0
    assert _stored_ids(database) == list(range(1_000))
    assert _stored_ids(database, "held_dataset_staging") == []  # emptied before the checkpoint


def test_a_failed_block_releases_the_database_and_keeps_what_was_committed(tmp_path):
    pipeline, database = _normalized_pipeline(tmp_path)
    with pytest.raises(RuntimeError, match="stopped"), duckdb_held_open(pipeline):
        pipeline.load()
        raise RuntimeError("stopped")
    assert _stored_ids(database) == list(range(1_000))
    assert len(_stored_ids(database, "held_dataset_staging")) == 1_000  # left as dlt left it


@pytest.mark.parametrize(
    ("next_package", "staged"),
    [
        ("left half loaded", 1_000),  # its load stopped half way: it still needs the staged rows
        ("normalized meanwhile", 0),  # run_load normalizes the next package while one loads: nothing began
    ],
)
def test_staged_rows_are_kept_only_for_a_package_that_began_to_load(tmp_path, next_package, staged):
    pipeline, database = _normalized_pipeline(tmp_path)
    with duckdb_held_open(pipeline):
        pipeline.load()
        pipeline.extract(rows(10))
        pipeline.normalize()
        if next_package == "left half loaded":
            _start_a_job(pipeline)
    assert len(_stored_ids(database, "held_dataset_staging")) == staged


def _start_a_job(pipeline: dlt.Pipeline) -> None:
    (load_id,) = pipeline.list_normalized_load_packages()
    storage = pipeline._get_load_storage().normalized_packages
    storage.start_job(load_id, Path(storage.list_new_jobs(load_id)[0]).name)


def test_a_checkpoint_that_cannot_run_now_leaves_the_loaded_package_alone(tmp_path, caplog):
    pipeline, database = _normalized_pipeline(tmp_path)
    # another write transaction of this process on the same file: DuckDB refuses a CHECKPOINT meanwhile
    other = duckdb.connect(str(database))
    other.execute("CREATE TABLE elsewhere (a INTEGER)")
    other.execute("BEGIN")
    other.execute("INSERT INTO elsewhere VALUES (1)")
    with duckdb_held_open(pipeline):
        pipeline.load()
    assert "could not checkpoint" in caplog.text
    other.execute("COMMIT")
    other.close()
    assert _stored_ids(database) == list(range(1_000))


def test_other_destinations_are_left_alone(tmp_path):
    pipeline = dlt.pipeline(
        "held_fs",
        destination=dlt.destinations.filesystem(str(tmp_path / "lake")),
        pipelines_dir=str(tmp_path / "p"),
    )
    with duckdb_held_open(pipeline):
        pipeline.run([{"id": 1}], table_name="t", loader_file_format="jsonl")
    assert list((tmp_path / "lake").rglob("*.jsonl"))
