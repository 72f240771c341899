"""A slice's package loads on a thread while the next slice is read (pipelines/background_load.py): the loads
overlap the reads, and a load that fails there loses nothing and duplicates nothing. `run_load` no longer
extracts inside `pipeline.run`, so it restores the state from the destination before the extract itself."""

import logging
import threading
import time

import dlt
import pytest
from dlt.load import Load
from dlt.pipeline.exceptions import PipelineStepFailed

from pipelines.background_load import BackgroundLoad
from pipelines.loading import build_pipeline

from .conftest import load_from
from .matching import assert_matches_ground_truth
from .overlap import watch_overlap

SLICE = 25
CAPPED = ("capped_pages",)  # 25 messages a page


@pytest.fixture(autouse=True)
def one_cursor(monkeypatch):
    """One sequential read, so that a slice is short: its page, then at most the 3 pages read ahead meanwhile."""
    monkeypatch.setenv("SOURCES__COMETCHAT__BACKFILL_WINDOWS", "1")


def test_a_slice_loads_on_a_thread_while_the_next_slice_is_read(make_emulator, make_pipeline, monkeypatch):
    emulator = make_emulator(messages=450, profiles=CAPPED)
    pipeline = make_pipeline()
    watch = watch_overlap(monkeypatch)

    summary = load_from(emulator, pipeline, messages_per_load=SLICE)

    assert watch.extracts >= 4
    assert watch.overlapped == [True] * (watch.extracts - 1)
    assert summary.rows_per_table["messages"] >= 450
    assert not pipeline.has_pending_data
    assert_matches_ground_truth(pipeline, emulator.ground_truth())


def test_the_next_package_is_normalized_while_the_thread_loads_its_own_alone(
    make_emulator, make_pipeline, monkeypatch
):
    emulator = make_emulator(messages=450, profiles=CAPPED)
    pipeline = make_pipeline()
    load = BackgroundLoad._load
    normalized_meanwhile, left_pending = [], []

    def load_once_the_next_package_is_normalized(self, step, held):
        (own,) = pipeline.list_normalized_load_packages()
        deadline = time.monotonic() + 30
        while len(pipeline.list_normalized_load_packages()) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        following = set(pipeline.list_normalized_load_packages()) - {own}
        normalized_meanwhile.append(bool(following))
        load(self, step, held)
        # The thread loaded its own package only: the one normalized meanwhile waits for its own load.
        left_pending.append(following <= set(pipeline.list_normalized_load_packages()))

    monkeypatch.setattr(BackgroundLoad, "_load", load_once_the_next_package_is_normalized)

    load_from(emulator, pipeline, messages_per_load=SLICE)

    # Every slice's package loads on the thread: the last one's while the other tables are read.
    assert len(normalized_meanwhile) >= 4
    assert normalized_meanwhile == [True] * len(normalized_meanwhile)
    assert left_pending == [True] * len(left_pending)
    assert not pipeline.has_pending_data
    assert_matches_ground_truth(pipeline, emulator.ground_truth())


def test_a_load_that_failed_on_the_thread_is_loaded_again_on_the_callers(
    make_emulator, make_pipeline, monkeypatch, caplog
):
    emulator = make_emulator(messages=350, profiles=CAPPED)
    pipeline = make_pipeline()
    failures = []
    load_package = Load.load_single_package

    def fails_once_on_the_thread(self, load_id, schema):
        if threading.current_thread() is not threading.main_thread() and not failures:
            failures.append(load_id)
            raise ConnectionError("the destination went away")
        return load_package(self, load_id, schema)

    monkeypatch.setattr(Load, "load_single_package", fails_once_on_the_thread)
    caplog.set_level(logging.WARNING)

    load_from(emulator, pipeline, messages_per_load=SLICE)

    assert len(failures) == 1
    assert "Loading the previous slice failed on the load thread (ConnectionError)" in caplog.text
    assert not pipeline.has_pending_data
    assert_matches_ground_truth(pipeline, emulator.ground_truth())


def test_a_destination_that_keeps_failing_stops_the_run_and_the_next_run_ends_exact(
    make_emulator, make_pipeline, monkeypatch
):
    emulator = make_emulator(messages=350, profiles=CAPPED)
    pipeline = make_pipeline()
    load_package = Load.load_single_package
    calls = []

    def fails_after_the_first_package(self, load_id, schema):
        calls.append(load_id)
        if len(calls) > 1:  # the first is the first slice's
            raise ConnectionError("the destination went away")
        return load_package(self, load_id, schema)

    monkeypatch.setattr(Load, "load_single_package", fails_after_the_first_package)
    with pytest.raises(PipelineStepFailed, match="the destination went away"):
        load_from(emulator, pipeline, messages_per_load=SLICE)
    assert pipeline.has_pending_data

    monkeypatch.setattr(Load, "load_single_package", load_package)
    load_from(emulator, pipeline, messages_per_load=SLICE)

    assert not pipeline.has_pending_data
    assert_matches_ground_truth(pipeline, emulator.ground_truth())


def test_a_new_working_directory_takes_the_cursor_from_the_destination(make_emulator, tmp_path):
    """A run on another machine (or after the pipelines folder was lost) reads only what is new."""
    emulator = make_emulator(messages=300, profiles=CAPPED)
    database = dlt.destinations.duckdb(str(tmp_path / "cometchat.duckdb"))
    first = build_pipeline(destination=database, progress=None, pipelines_dir=str(tmp_path / "machine_a"))
    load_from(emulator, first, messages_per_load=SLICE)
    emulator.add_messages(7)

    second = build_pipeline(destination=database, progress=None, pipelines_dir=str(tmp_path / "machine_b"))
    summary = load_from(emulator, second, messages_per_load=SLICE)

    assert summary.rows_per_table["messages"] < 50  # the new messages and the changes they make, not all 307
    assert_matches_ground_truth(second, emulator.ground_truth())
