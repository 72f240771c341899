"""The project's dlt config (.dlt/config.toml) writes the source's extracted files uncompressed (they are read
once, on this machine) and keeps dlt's compression for the load files, which a destination may keep; run_load's
slices of messages come as one file per table."""

from collections import Counter

import dlt
from dlt.common.data_writers.buffered import BufferedDataWriter

from pipelines.loading import SOURCE_FILE_ROWS, table_row_counts

from .conftest import load_from
from .matching import assert_matches_ground_truth


def test_extracted_files_are_uncompressed_and_load_files_compressed(emulator, make_pipeline, monkeypatch):
    writers: Counter[tuple[str, bool]] = Counter()
    opened = BufferedDataWriter.__init__

    def recording(self, *args, **kwargs) -> None:
        opened(self, *args, **kwargs)
        writers[(self.writer_spec.file_format, self.should_compress)] += 1

    monkeypatch.setattr(BufferedDataWriter, "__init__", recording)
    pipeline = make_pipeline()
    load_from(emulator, pipeline)

    assert_matches_ground_truth(pipeline, emulator.ground_truth())
    # typed-jsonl: the extract's files of the row-wise tables; insert_values: DuckDB's load files of those tables.
    assert writers[("typed-jsonl", False)] and not writers[("typed-jsonl", True)]
    assert writers[("insert_values", True)] and not writers[("insert_values", False)]


def test_a_slice_of_messages_loads_each_message_table_from_one_file(make_emulator, make_pipeline):
    """run_load writes each message table of a slice to one file where the project's rotation, here 2,000 rows,
    would cut them (a slice of 12,000 messages has more than 20,000 entity rows, handed to dlt 20,000 or so at a
    time); DuckDB takes each in one statement. The setting does not outlive the run."""
    emulator = make_emulator(messages=12_000)
    pipeline = make_pipeline()
    with dlt.config.values({"data_writer.file_max_items": 2_000}):
        load_from(emulator, pipeline, messages_per_load=12_000)

    assert_matches_ground_truth(pipeline, emulator.ground_truth())
    assert table_row_counts(pipeline)["messages__entities"] > 20_000
    assert set(_message_files_per_package(pipeline).values()) == {1}
    assert dlt.config.get(SOURCE_FILE_ROWS) is None


def test_a_configured_file_size_wins_over_one_file_per_slice(make_emulator, make_pipeline):
    """Set as in .dlt/config.toml (an environment variable wins anyway)."""
    emulator = make_emulator(messages=12_000)
    pipeline = make_pipeline()
    with dlt.config.values({"data_writer.file_max_items": 2_000, SOURCE_FILE_ROWS: 10_000}):
        load_from(emulator, pipeline, messages_per_load=12_000)

    assert_matches_ground_truth(pipeline, emulator.ground_truth())
    files = _message_files_per_package(pipeline)
    assert max(count for (_, table), count in files.items() if table == "messages__entities") > 1


def _message_files_per_package(pipeline: dlt.Pipeline) -> Counter[tuple[str, str]]:
    """(load id, message table) -> the parquet files of that table in that package (not a merge's SQL jobs)."""
    files: Counter[tuple[str, str]] = Counter()
    for load_id in pipeline.list_completed_load_packages():
        for job in pipeline.get_load_package_info(load_id).jobs["completed_jobs"]:
            info = job.job_file_info
            if info.table_name.startswith("messages") and info.file_format == "parquet":
                files[(load_id, info.table_name)] += 1
    return files
