"""Shared fixtures: an emulator process per test module, a factory for tests that need their own, and the
pipeline a CLI run left behind."""

import atexit
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import dlt
import pytest

from pipelines.loading import DATASET_NAME, PIPELINE_NAME
from sources.cometchat_emulator import Emulator, EmulatorConfig

# The tests reach only loopback; dlt's anonymous telemetry (and its CLI processes started here) stays off.
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
# No test may leave pipelines in dlt's global folder (~/.dlt, or /var/dlt as root): a `cometchat` pipeline
# left there remembers the test's folder as its DuckDB location, and the user's next `make demo` fails on it.
os.environ["DLT_DATA_DIR"] = tempfile.mkdtemp(prefix="cometchat-tests-dlt-")
atexit.register(shutil.rmtree, os.environ["DLT_DATA_DIR"], ignore_errors=True)


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    """The default (small, fast) emulator, shared by the tests of one module; do not mutate it."""
    with Emulator(EmulatorConfig()) as emu:
        yield emu


@pytest.fixture
def make_emulator() -> Iterator[Callable[..., Emulator]]:
    """`make_emulator(**knobs)` starts an emulator with EmulatorConfig(**knobs); all are stopped after the test."""
    started: list[Emulator] = []

    def make(**knobs) -> Emulator:
        emu = Emulator(EmulatorConfig(**knobs)).start()
        started.append(emu)
        return emu

    yield make
    for emu in started:
        emu.stop()


@pytest.fixture
def cli_pipeline() -> Callable[..., dlt.Pipeline]:
    """`cli_pipeline(workdir, dataset_name)`: the loader pipeline that a CLI run in `workdir` wrote to
    (the CLI tests point DLT_DATA_DIR at `workdir/dlt`)."""

    def attach(workdir: Path, dataset_name: str = DATASET_NAME) -> dlt.Pipeline:
        return dlt.pipeline(
            PIPELINE_NAME,
            destination=dlt.destinations.duckdb(str(workdir / f"{PIPELINE_NAME}.duckdb")),
            dataset_name=dataset_name,
            pipelines_dir=str(workdir / "dlt" / "pipelines"),
        )

    return attach
