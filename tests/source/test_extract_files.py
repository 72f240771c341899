"""The project's dlt config (.dlt/config.toml) writes the source's extracted files uncompressed (they are read
once, on this machine) and keeps dlt's compression for the load files, which a destination may keep."""

from collections import Counter

from dlt.common.data_writers.buffered import BufferedDataWriter

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
