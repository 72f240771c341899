"""The project's dlt config (.dlt/config.toml) writes the source's extracted files uncompressed (they are read
once, on this machine) and keeps dlt's compression for the load files, which a destination may keep; a slice of
messages comes as one file per table."""

from collections import Counter

from dlt.common.data_writers.buffered import BufferedDataWriter

from pipelines.loading import table_row_counts

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
    """The source's own rotation (`[sources.cometchat.data_writer] file_max_items`) wins over the project's
    50,000 rows: each package holds one file per message table, which DuckDB takes in one statement. (A slice of
    40,000 messages has more than 80,000 entity rows, handed to dlt 20,000 or so at a time.)"""
    emulator = make_emulator(messages=40_000)
    pipeline = make_pipeline()
    load_from(emulator, pipeline, messages_per_load=40_000)

    assert_matches_ground_truth(pipeline, emulator.ground_truth())
    files: Counter[tuple[str, str]] = Counter()
    for load_id in pipeline.list_completed_load_packages():
        for job in pipeline.get_load_package_info(load_id).jobs["completed_jobs"]:
            files[(load_id, job.job_file_info.table_name)] += 1
    message_files = {key: count for key, count in files.items() if key[1].startswith("messages")}
    assert set(message_files.values()) == {1}
    assert table_row_counts(pipeline)["messages__entities"] > 80_000
