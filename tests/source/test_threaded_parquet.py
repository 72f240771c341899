"""run_load's slices of messages are written to parquet on a thread (pipelines/threaded_parquet.py): the same
files as dlt's own writer, the failures as loud, and only while the block is open."""

import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import suppress
from itertools import islice
from pathlib import Path

import dlt
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dlt.common.data_writers.writers import ArrowToParquetWriter, DataWriter
from dlt.pipeline.exceptions import PipelineStepFailed

from pipelines.threaded_parquet import parquet_written_on_a_thread

from .conftest import load_from
from .matching import assert_matches_ground_truth

WRITER_THREAD = "parquet-writer"


@pytest.fixture
def writing_threads(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """The names of the threads that pyarrow's ParquetWriter.write_table ran on, counted; a message table's
    write (`message_id` or `sent_at` among its columns) is counted under "<thread> messages" too."""
    threads: Counter[str] = Counter()
    write_table = pq.ParquetWriter.write_table

    def recording(self: pq.ParquetWriter, table: pa.Table, *args, **kwargs) -> None:
        thread = threading.current_thread().name.split("_")[0]
        threads[thread] += 1
        if {"message_id", "sent_at"} & set(table.schema.names):
            threads[f"{thread} messages"] += 1
        write_table(self, table, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetWriter, "write_table", recording)
    return threads


def test_run_load_writes_the_slices_parquet_on_the_writer_thread(
    make_emulator, make_pipeline, writing_threads
):
    """The message tables of every slice; the other tables (row-wise, not arrow) as dlt writes them."""
    emulator = make_emulator(messages=3_000)
    pipeline = make_pipeline()
    load_from(emulator, pipeline, messages_per_load=1_000)

    assert_matches_ground_truth(pipeline, emulator.ground_truth())
    slices_tables = 2 * 2  # `messages` and `messages__entities` of two slices at least
    assert writing_threads[f"{WRITER_THREAD} messages"] >= slices_tables
    assert writing_threads["MainThread messages"] == 0
    assert DataWriter.writer_class_from_spec(ArrowToParquetWriter.writer_spec()) is ArrowToParquetWriter


def test_the_writer_thread_writes_the_files_dlt_writes(tmp_path: Path, writing_threads):
    """Same tables, files, sizes and rows as dlt's own writer, a new column (a new file) included; dlt's metrics
    see each file's size."""
    plain = _extract(tmp_path / "plain")
    assert set(writing_threads) == {"MainThread"}
    with parquet_written_on_a_thread():
        threaded = _extract(tmp_path / "threaded")

    assert writing_threads[WRITER_THREAD] == writing_threads["MainThread"] > 0
    assert threaded.files == plain.files
    assert all(size > 0 for _, size, _ in threaded.files)
    assert threaded.rows == plain.rows


def test_files_rotate_by_size_on_the_thread_too(tmp_path: Path):
    with dlt.config.values({"data_writer.file_max_bytes": 50_000}), parquet_written_on_a_thread():
        extracted = _extract(tmp_path)

    tables = Counter(table for table, _, _ in extracted.files)
    assert tables["events"] > 2  # more than the new column alone starts


def test_a_write_that_fails_on_the_thread_fails_the_extract(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The write fails while the next one is pending: the extract fails once both have ended, commits nothing
    and leaves no file open; the next extract in the process is not troubled by it."""
    write_table = pq.ParquetWriter.write_table
    writes: list[int] = []

    def failing(self: pq.ParquetWriter, *args, **kwargs) -> None:
        if threading.current_thread().name.startswith(WRITER_THREAD):
            writes.append(len(writes))
            time.sleep(0.05)
            if len(writes) == 3:
                raise OSError("No space left on device")
        write_table(self, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetWriter, "write_table", failing)
    pipeline = _pipeline(tmp_path)
    with pytest.raises(PipelineStepFailed) as failed, parquet_written_on_a_thread():
        pipeline.extract(_events())

    assert "No space left on device" in str(failed.value)
    assert not pipeline.list_extracted_load_packages()
    assert not _open_parquet_files()
    assert DataWriter.writer_class_from_spec(ArrowToParquetWriter.writer_spec()) is ArrowToParquetWriter
    monkeypatch.undo()
    with parquet_written_on_a_thread():
        pipeline.extract(_events())
    assert len(pipeline.list_extracted_load_packages()) == 1


def test_a_source_that_fails_midway_leaves_no_file_open(tmp_path: Path):
    @dlt.resource(name="events", file_format="parquet")
    def failing_events() -> Iterator[object]:
        yield from islice(_event_batches(), 7)
        raise RuntimeError("the API went away")

    pipeline = _pipeline(tmp_path)
    with pytest.raises(PipelineStepFailed, match="the API went away"), parquet_written_on_a_thread():
        pipeline.extract(failing_events())

    assert not _open_parquet_files()
    assert not pipeline.list_extracted_load_packages()


def _open_parquet_files() -> list[str]:
    """The parquet files this process holds open (Linux: /proc/self/fd)."""
    paths = []
    for fd in os.listdir("/proc/self/fd"):
        with suppress(OSError):
            paths.append(os.readlink(f"/proc/self/fd/{fd}"))
    return [path for path in paths if path.endswith(".parquet")]


def test_dlt_writer_is_back_once_the_last_open_block_ends():
    """Two runs of one process, each extracting on its own thread in a block of its own; the first to start
    ends first."""
    spec = ArrowToParquetWriter.writer_spec()
    first_open, second_open, first_done = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, type] = {}

    def first() -> None:
        with parquet_written_on_a_thread():
            first_open.set()
            second_open.wait(5)
        first_done.set()

    def second() -> None:
        first_open.wait(5)
        with parquet_written_on_a_thread():
            second_open.set()
            first_done.wait(5)
            seen["after the first ended"] = DataWriter.writer_class_from_spec(spec)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert seen["after the first ended"] is not ArrowToParquetWriter
    assert DataWriter.writer_class_from_spec(spec) is ArrowToParquetWriter


def test_an_extract_on_another_thread_writes_as_dlt_does(tmp_path: Path, writing_threads):
    """While a block is open on one thread, the writer class is swapped for the whole process; an extract on a
    thread with no block of its own still writes on its own thread."""
    with parquet_written_on_a_thread():
        other = threading.Thread(target=_extract, args=(tmp_path,), name="other_extract")
        other.start()
        other.join(60)

    assert writing_threads["other"] > 0
    assert writing_threads[WRITER_THREAD] == 0


class _Extracted:
    def __init__(self, pipeline: dlt.Pipeline, info) -> None:
        # (table, file size, rows) of each file the extract wrote, as dlt's metrics count them.
        files = (
            (metrics.file_path.rsplit("/", 1)[-1].split(".")[0], metrics.file_size, metrics.items_count)
            for step in info.metrics.values()
            for job in step
            for metrics in job["job_metrics"].values()
        )
        self.files = sorted(file for file in files if file[0].startswith("events"))
        pipeline.normalize()
        pipeline.load()
        with pipeline.sql_client() as client:
            self.rows = {
                table: client.execute_sql(f"SELECT * FROM {table} ORDER BY ALL")
                for table in ("events", "events__tags")
            }


def _extract(directory: Path) -> _Extracted:
    pipeline = _pipeline(directory)
    return _Extracted(pipeline, pipeline.extract(_events()))


def _pipeline(directory: Path) -> dlt.Pipeline:
    return dlt.pipeline(
        pipeline_name="threaded_parquet",
        destination=dlt.destinations.duckdb(str(directory / "events.duckdb")),
        dataset_name="data",
        pipelines_dir=str(directory / "pipelines"),
    )


@dlt.resource(name="events", file_format="parquet")
def _events() -> Iterator[object]:
    yield from _event_batches()


def _event_batches() -> Iterator[object]:
    """Arrow tables for `events` and a table variant, `events__tags`; the later batches carry a new column."""
    for batch in range(12):
        ids = pa.array(range(batch * 2_000, (batch + 1) * 2_000), pa.int64())
        columns = {"id": ids, "text": pa.array([f"message {i}" for i in ids.to_pylist()])}
        if batch >= 8:
            columns["edited"] = pa.array([i % 3 == 0 for i in ids.to_pylist()])
        yield pa.table(columns)
        yield dlt.mark.with_table_name(
            pa.table({"id": ids, "tag": pa.array(["a", "b"] * 1_000)}), "events__tags"
        )
