"""Building and running the CometChat pipeline, shared by the CLI, the tests and the benchmark."""

import json
import logging
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import dlt
from dlt.common.destination import Destination
from dlt.common.destination.client import WithStateSync
from dlt.common.destination.exceptions import DestinationUndefinedEntity
from dlt.common.destination.reference import TDestinationReferenceArg
from dlt.common.pipeline import LoadInfo, NormalizeInfo
from dlt.common.schema import Schema
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials
from dlt.extract import DltSource

from pipelines.background_load import BackgroundLoad
from pipelines.held_duckdb import duckdb_held_open, loads_into_duckdb
from pipelines.lake import install_delta_extension
from pipelines.pandas_hidden import pandas_hidden
from pipelines.threaded_parquet import parquet_written_on_a_thread
from sources.cometchat import CometChatClient, cometchat_source, more_messages, restore_message_merges
from sources.cometchat.arrow_pages import MOST_ROWS_PER_MESSAGE
from sources.cometchat.errors import CometChatError
from sources.cometchat.memory import share_malloc_arenas
from sources.cometchat.settings import MESSAGES_PER_LOAD
from sources.cometchat.throttle import RequestStats

logger = logging.getLogger(__name__)

# dlt's own defaults then find the same data as run.py: `dlt pipeline cometchat info`, `dlt.attach("cometchat")`,
# and DuckDB's default file `cometchat.duckdb` in the working directory. The dataset is not called `cometchat`:
# DuckDB names the catalog after the file, and a schema named like the catalog makes queries ambiguous.
PIPELINE_NAME = "cometchat"
DATASET_NAME = "cometchat_data"
# DuckDB takes up to 80% of RAM and a thread per core by default; capped (and one thread: each holds its own
# buffers), a big merge spills to disk and the whole load stays within the memory budget (docs/performance.md).
# Set here rather than in .dlt/config.toml, where dlt accepts no `destination.duckdb.credentials` keys (secret).
DUCKDB_MEMORY_LIMIT = "64MB"
DUCKDB_THREADS = 1
# How many rows the source writes to one file before it starts another (dlt's `file_max_items`).
SOURCE_FILE_ROWS = "sources.cometchat.data_writer.file_max_items"


class LoadIncompleteError(CometChatError):
    """A run ended with a load package of this pipeline still pending: not everything was loaded."""


@dataclass
class LoadSummary:
    load_info: LoadInfo
    rows_per_table: dict[str, int]
    requests: RequestStats
    seconds: float


def build_pipeline(
    destination: TDestinationReferenceArg = "duckdb",
    dataset_name: str = DATASET_NAME,
    pipeline_name: str = PIPELINE_NAME,
    progress: str | None = "log",
    pipelines_dir: str | None = None,
) -> dlt.Pipeline:
    """The pipeline; the destination's settings (a DuckDB file, Postgres credentials, ...) come from dlt config."""
    if destination == "duckdb":
        destination = capped_duckdb()
    options: dict[str, Any] = {
        "pipeline_name": pipeline_name,
        "destination": destination,
        "dataset_name": dataset_name,
    }
    if progress and progress != "none":
        options["progress"] = progress
    if pipelines_dir:
        options["pipelines_dir"] = pipelines_dir
    pipeline = dlt.pipeline(**options)
    if pipeline.destination and pipeline.destination.destination_type.endswith(".filesystem"):
        install_delta_extension()  # the summary and the analysts read the lake through pipeline.dataset()
    return pipeline


def capped_duckdb(path: str | Path | None = None) -> Destination:
    """DuckDB at `path`, else where dlt would put it (`destination.duckdb.credentials`, else
    `<pipeline_name>.duckdb`), with its memory capped at DUCKDB_MEMORY_LIMIT and DUCKDB_THREADS threads."""
    database = str(path) if path else dlt.secrets.get("destination.duckdb.credentials", str)
    return dlt.destinations.duckdb(
        DuckDbCredentials(
            database, global_config={"memory_limit": DUCKDB_MEMORY_LIMIT, "threads": DUCKDB_THREADS}
        )
    )


def run_load(
    pipeline: dlt.Pipeline,
    client: CometChatClient,
    resources: list[str] | None = None,
    full_refresh: bool = False,
    messages_per_load: int | None = MESSAGES_PER_LOAD,
    messages_from: int | None = None,
) -> LoadSummary:
    """One incremental load; a full refresh first drops the tables and cursors of the resources it loads.

    Only those: other tables of the dataset, such as the reverse ETL's `tag_changes`, are kept. Messages are
    loaded first, in slices of `messages_per_load`, one load package each, until the cursor is caught up, so
    that the destination's merge stays small; each slice's package loads on a thread while the next slice is
    read (`background_load.py`), and the last one while the other resources are read, into a package of their
    own that loads as `pipeline.run` loads it. `messages_from`: where a new pipeline's messages start, after a
    backfill that ended there (see pipelines/backfill.py); ignored once the pipeline has a cursor.
    Into DuckDB, each package is checkpointed once, when it is loaded (`held_duckdb.py`), and pandas stays out of
    the process (`pandas_hidden.py`). The slices' parquet files are written on a thread (`threaded_parquet.py`).
    Raises LoadIncompleteError when a package of the pipeline is still pending afterwards.
    """
    started = time.monotonic()
    share_malloc_arenas()  # before this run starts any thread (the messages resource sets it too, later)
    with pandas_hidden() if loads_into_duckdb(pipeline) else nullcontext():
        load_info, rows = _load_slices(
            pipeline, client, resources, full_refresh, messages_per_load, messages_from
        )
    check_nothing_pending(pipeline)
    seconds = time.monotonic() - started
    return LoadSummary(
        load_info=load_info, rows_per_table=dict(sorted(rows.items())), requests=client.stats, seconds=seconds
    )


def _load_slices(
    pipeline: dlt.Pipeline,
    client: CometChatClient,
    resources: list[str] | None,
    full_refresh: bool,
    messages_per_load: int | None,
    messages_from: int | None,
) -> tuple[LoadInfo, dict[str, int]]:
    if pipeline.has_pending_data:
        # A package left by an interrupted run, or by `dlt pipeline drop`: finished before the source runs.
        logger.warning("Finishing a pending load package of this pipeline first")
    with duckdb_held_open(pipeline):
        # With no data, `run` does what it does before it extracts: it loads pending packages and, once per
        # pipeline object, takes the state and schemas from the destination where the working directory has none.
        pipeline.run()
    source = _source(client, messages_per_load, resources, messages_from)
    schema = stored_schema(pipeline, source.name) if messages_from is not None else None
    refresh = "drop_resources" if full_refresh else None
    others = [name for name in source.selected_resources if name != "messages"]
    rows: dict[str, int] = {}
    # A first load's last slice of messages is appended like the others where the other tables' package follows
    # it: that package carries the schema with the merge taken back on.
    slices = partial(
        _source, client, messages_per_load, ["messages"], messages_from, append_last_slice=bool(others)
    )
    restored = False
    with BackgroundLoad(pipeline) as loads:
        if "messages" in source.selected_resources:
            extract_slice(pipeline, slices(), messages_per_load, refresh=refresh, schema=schema)
            schema = None  # the pipeline has it now
            while more_messages(pipeline):
                # This slice's package loads on a thread while the next slice is read.
                _add_rows(rows, loads.normalize_and_start())
                logger.info("Loading the next slice of messages")
                extract_slice(pipeline, slices(), messages_per_load)
            if others:
                # The other tables are read while the last slice of messages loads.
                _add_rows(rows, loads.normalize_and_start())
                restored = restore_message_merges(pipeline.schemas[source.name])
        if others:
            pipeline.extract(source.with_resources(*others), refresh=refresh, schema=schema)
        _add_rows(rows, pipeline.normalize())  # while the previous package may still load
    # The last package loads as `pipeline.run` loads a pending one, so that dlt's trace of the run holds its load.
    with duckdb_held_open(pipeline):
        load_info = pipeline.run()
        if restored:
            # That package stores the restored schema in the destination, unless dlt dropped it for holding no
            # row (the other tables unchanged since an earlier run): then it is stored here.
            pipeline.sync_schema(source.name)
    return load_info, rows


def extract_slice(
    pipeline: dlt.Pipeline, source: DltSource, messages_per_load: int | None, **options: Any
) -> None:
    """One slice of messages extracted: each table to one file, the parquet written on a thread."""
    with one_file_per_slice(pipeline, messages_per_load), parquet_written_on_a_thread():
        pipeline.extract(source, **options)


def one_file_per_slice(pipeline: dlt.Pipeline, messages_per_load: int | None) -> AbstractContextManager[None]:
    """Around the extract of one slice of `messages_per_load` messages into DuckDB: the source writes each of its
    tables to one file, unless `SOURCE_FILE_ROWS` is configured (under that key, or as an environment variable).
    DuckDB then takes each table's rows in one statement and writes them straight into full row groups, instead
    of a write-ahead log per file that its checkpoint compresses again (docs/performance.md, round 17). The
    messages' parquet files are the load files.

    The other tables, and a package that holds the whole history (one `pipeline.run`), keep the project's
    rotation: with larger files, one `pipeline.run` over 1M messages peaked at 561 MB instead of 490 MB. The
    value is set in dlt's process-wide config, so not for two runs at once in one process."""
    if (
        not loads_into_duckdb(pipeline)
        or messages_per_load is None
        or dlt.config.get(SOURCE_FILE_ROWS) is not None
    ):
        return nullcontext()
    return dlt.config.values({SOURCE_FILE_ROWS: messages_per_load * MOST_ROWS_PER_MESSAGE})


def _source(
    client: CometChatClient,
    messages_per_load: int | None,
    resources: list[str] | None,
    messages_from: int | None = None,
    append_last_slice: bool = False,
) -> DltSource:
    # Passed only when given: an explicit None would hide `messages_from` set in dlt config.
    takeover = {"messages_from": messages_from} if messages_from is not None else {}
    source = cometchat_source(
        credentials=client.credentials,
        client=client,
        messages_per_load=messages_per_load,
        append_last_slice=append_last_slice,
        **takeover,
    )
    return source.with_resources(*resources) if resources else source


def stored_schema(pipeline: dlt.Pipeline, schema_name: str) -> Schema | None:
    """For a new pipeline joining a dataset that others loaded (the shards of a backfill), the newest schema of
    that name stored there; else None. Without it the new pipeline's schema, and `pipeline.dataset()`, would
    know only the columns of the rows it loads itself."""
    if schema_name in pipeline.schema_names:
        return None
    try:
        with pipeline.destination_client() as client:
            stored = client.get_stored_schema(schema_name) if isinstance(client, WithStateSync) else None
    except DestinationUndefinedEntity:  # the dataset does not exist yet
        return None
    return Schema.from_dict(json.loads(stored.schema)) if stored else None


def check_nothing_pending(pipeline: dlt.Pipeline) -> None:
    pending = [*pipeline.list_extracted_load_packages(), *pipeline.list_normalized_load_packages()]
    if pending:
        raise LoadIncompleteError(
            f"{len(pending)} load package(s) of pipeline {pipeline.pipeline_name} are still pending: {pending}"
        )


def _add_rows(rows: dict[str, int], normalize_info: NormalizeInfo | None) -> None:
    for table, count in (normalize_info.row_counts if normalize_info else {}).items():
        if not table.startswith("_dlt"):
            rows[table] = rows.get(table, 0) + count


def table_row_counts(pipeline: dlt.Pipeline) -> dict[str, int]:
    """Rows per data table as stored in the destination, read back through `pipeline.dataset()`."""
    frame = pipeline.dataset().row_counts().df()
    return dict(sorted(zip(frame["table_name"], frame["row_count"].astype(int), strict=True)))
