"""Loading one slice's package on a thread while the next slice of messages is extracted.

dlt runs its steps one after the other: while DuckDB loaded a slice, nothing read the API, and while the next
slice was read and reshaped, the destination sat idle. The destination's work runs in DuckDB (or on a server),
not in Python, so here dlt's load step for slice N runs on a thread while slice N+1 is extracted on the caller's.
(dlt's Python between the statements, and some of DuckDB's queries, still wait for the GIL beside the extract;
with the two cores shared, a load on the thread takes about twice its time alone: docs/performance.md, "A slice
loads while the next one is read" and "The CPU floor (round 9)".)

Only dlt's `Load` step runs on the thread, built as `Pipeline.load` builds it but without the pipeline's state
sync and trace, which are not thread-safe (the extract on the caller's thread writes the state). The step
touches the load storage and the destination; the extract writes the extract storage and the state. The thread
loads one package, the oldest: the caller normalizes the next one meanwhile, and starts its load once that one
is joined.

A load that fails on the thread is not reported from there: `wait()` hands the package back to dlt with
`pipeline.load()` (or the caller's `load_again`), which retries it and raises as a run would
(`PipelineStepFailed`), or aborts it where the user configured `auto_abort_on_terminal_error` (the thread's
step never aborts: dlt's clean-up of an aborted package belongs to the pipeline).
"""

import logging
import os
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from functools import partial
from types import TracebackType

import dlt
from dlt.common.pipeline import LoadInfo, NormalizeInfo
from dlt.common.runners import pool_runner
from dlt.common.storages import LoadStorageConfiguration
from dlt.load import Load
from dlt.load.configuration import LoaderConfiguration

from pipelines.held_duckdb import duckdb_client, held_open, load_held_open

logger = logging.getLogger(__name__)


class BackgroundLoad:
    """`normalize_and_start()` normalizes the pipeline's extracted package and loads it on a thread; `wait()`
    joins it. Used as a context manager, so that no load is left running when the block ends, whatever ended
    it."""

    def __init__(self, pipeline: dlt.Pipeline, load_again: Callable[[], LoadInfo] | None = None) -> None:
        """`load_again`: how a package whose load failed on the thread is loaded on the caller's; by default
        `pipeline.load()`, with the DuckDB database held open as for any package."""
        self.pipeline = pipeline
        self._load_again = load_again or partial(load_held_open, pipeline)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def normalize_and_start(self) -> NormalizeInfo:
        """Normalizes the package just extracted while the previous one may still load, then loads it on a
        thread once that one is loaded."""
        normalized = self.pipeline.normalize()
        self.wait()
        # Made on the caller's thread: dlt resolves the step's configuration from the caller's config context,
        # and makes the destination client from the pipeline's schema, which the next extract changes.
        step, held = self._load_step(), held_open(self.pipeline, duckdb_client(self.pipeline))
        self._error = None
        self._thread = threading.Thread(
            target=self._load, args=(step, held), name="cometchat-load", daemon=True
        )
        self._thread.start()
        return normalized

    def wait(self) -> LoadInfo | None:
        """Joins the running load; if it failed, loads the package again with `load_again` (every normalized
        package: the next one too, if the caller normalized it meanwhile) and returns what that returned."""
        if not self._join():
            return None
        error, self._error = self._error, None
        if error is None:
            return None
        logger.warning(
            "Loading the previous slice failed on the load thread (%s); loading it again",
            type(error).__name__,
        )
        return self._load_again()

    def __enter__(self) -> "BackgroundLoad":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if kind is None:
            self.wait()
        elif self._join():
            # The block failed: the package stays pending for the next run (see `run_load`), loaded or not.
            logger.warning("Waited for the load of the previous slice to end before stopping")

    def _join(self) -> bool:
        """Whether a load had been started since the last join."""
        thread, self._thread = self._thread, None
        if thread is None:
            return False
        thread.join()
        return True

    def _load_step(self) -> Load:
        pipeline = self.pipeline
        client, staging_client = pipeline._get_destination_clients()  # as Pipeline.load gets them
        step = Load(
            pipeline.destination,
            staging_destination=pipeline.staging,
            is_storage_owner=False,
            config=LoaderConfiguration(
                _load_storage_config=LoadStorageConfiguration(
                    load_volume_path=os.path.join(pipeline.working_dir, "load")
                )
            ),
            initial_client_config=client.config,
            initial_staging_client_config=staging_client.config if staging_client else None,
        )
        step.config.auto_abort_on_terminal_error = False  # see the module's docstring
        return step

    def _load(self, step: Load, held: AbstractContextManager[None]) -> None:
        started = time.monotonic()
        try:
            with held:
                _load_oldest_package(step)
        except BaseException as error:  # handed to `wait()` on the caller's thread
            logger.debug("The load thread failed", exc_info=True)
            self._error = error
        else:
            logger.info("Loaded a slice's package in %.1f s, on the load thread", time.monotonic() - started)


def _load_oldest_package(step: Load) -> None:
    """One run of the step: it loads the oldest normalized package. Not dlt's `run_pool`, which would go on to
    load the package the caller normalizes meanwhile, with a destination client made for the schema before."""
    pool = pool_runner.create_pool(step.config)
    try:
        step.run(pool)
    finally:
        pool.shutdown(wait=True)
