"""Building and running the CometChat pipeline, shared by the CLI, the tests and the benchmark."""

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt
from dlt.common.destination import Destination
from dlt.common.destination.reference import TDestinationReferenceArg
from dlt.common.pipeline import LoadInfo
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

from sources.cometchat import CometChatClient, cometchat_source, more_messages
from sources.cometchat.errors import CometChatConfigError
from sources.cometchat.throttle import RequestStats

logger = logging.getLogger(__name__)

PIPELINE_NAME = "cometchat"
DATASET_NAME = "cometchat"
# DuckDB names a database's catalog after its file, and a catalog named like the dataset (schema)
# makes every query ambiguous ("Ambiguous reference to catalog or schema"), so the file is not `cometchat.duckdb`.
DUCKDB_FILE = "cometchat_data.duckdb"
# DuckDB takes up to 80% of RAM and a thread per core by default; capped (and one thread, each holds its own
# buffers), the load's merge spills to disk and the whole load stays within README, Performance's budget.
DUCKDB_MEMORY_LIMIT = "128MB"
DUCKDB_THREADS = 1


@dataclass
class LoadSummary:
    load_info: LoadInfo
    rows_per_table: dict[str, int]
    requests: RequestStats
    seconds: float
    tables_in_destination: dict[str, int] = field(default_factory=dict)


def build_pipeline(
    destination: TDestinationReferenceArg = "duckdb",
    dataset_name: str = DATASET_NAME,
    pipeline_name: str = PIPELINE_NAME,
    progress: str | None = "log",
    pipelines_dir: str | None = None,
) -> dlt.Pipeline:
    if destination == "duckdb":
        destination = duckdb_destination(dataset_name)
    options: dict[str, Any] = {
        "pipeline_name": pipeline_name,
        "destination": destination,
        "dataset_name": dataset_name,
    }
    if progress and progress != "none":
        options["progress"] = progress
    if pipelines_dir:
        options["pipelines_dir"] = pipelines_dir
    return dlt.pipeline(**options)


def duckdb_destination(dataset_name: str) -> Destination:
    """DuckDB at `destination.duckdb.credentials` if configured, else ./cometchat_data.duckdb."""
    configured = dlt.config.get("destination.duckdb.credentials", str)
    path = Path(configured or DUCKDB_FILE)
    if path.stem == dataset_name:
        raise CometChatConfigError(
            f"the DuckDB file {path.name} and the dataset {dataset_name!r} share a name, which DuckDB cannot "
            "tell apart; choose another file (destination.duckdb.credentials) or --dataset-name"
        )
    return dlt.destinations.duckdb(duckdb_credentials(path))


def duckdb_credentials(path: str | Path) -> DuckDbCredentials:
    """A DuckDB file whose memory is capped (DUCKDB_MEMORY_LIMIT), so that big merges spill to disk."""
    return DuckDbCredentials(
        str(path), global_config={"memory_limit": DUCKDB_MEMORY_LIMIT, "threads": DUCKDB_THREADS}
    )


def preferred_file_format(pipeline: dlt.Pipeline) -> str | None:
    """Parquet where the destination takes it: about 7x faster than insert_values into DuckDB (README, Performance)."""
    capabilities = pipeline.destination.capabilities()
    formats = set(capabilities.supported_loader_file_formats or ())
    if capabilities.supported_staging_file_formats:
        formats |= set(capabilities.supported_staging_file_formats)
    return "parquet" if "parquet" in formats else None


def run_load(
    pipeline: dlt.Pipeline,
    client: CometChatClient,
    resources: list[str] | None = None,
    full_refresh: bool = False,
) -> LoadSummary:
    """One incremental load; a full refresh first drops the tables and cursors of the resources it loads.

    Only those: other tables of the dataset, such as the reverse ETL's `tag_changes`, are kept.
    Messages arrive in slices (`messages_per_load`), one dlt run each, until the cursor is caught up.
    """
    source = cometchat_source(client=client)
    if resources:
        source = source.with_resources(*resources)
    started = time.monotonic()
    if pipeline.has_pending_data:
        # dlt finishes a package left by an interrupted run and would ignore new data in the same call.
        logger.warning("Finishing the load package of an interrupted run first")
        pipeline.run()
    file_format = preferred_file_format(pipeline)
    load_info = pipeline.run(
        source, loader_file_format=file_format, refresh="drop_resources" if full_refresh else None
    )
    rows = _rows_of_last_run(pipeline)
    while "messages" in source.selected_resources and more_messages(pipeline):
        logger.info("Loading the next slice of messages")
        load_info = pipeline.run(
            cometchat_source(client=client).with_resources("messages"), loader_file_format=file_format
        )
        for table, count in _rows_of_last_run(pipeline).items():
            rows[table] = rows.get(table, 0) + count
    seconds = time.monotonic() - started
    return LoadSummary(
        load_info=load_info, rows_per_table=dict(sorted(rows.items())), requests=client.stats, seconds=seconds
    )


def _rows_of_last_run(pipeline: dlt.Pipeline) -> dict[str, int]:
    normalize_info = pipeline.last_trace.last_normalize_info if pipeline.last_trace else None
    row_counts = normalize_info.row_counts if normalize_info else {}
    return {table: count for table, count in row_counts.items() if not table.startswith("_dlt")}


def table_row_counts(pipeline: dlt.Pipeline) -> dict[str, int]:
    """Rows per data table as stored in the destination, read back through `pipeline.dataset()`."""
    frame = pipeline.dataset().row_counts().df()
    return dict(sorted(zip(frame["table_name"], frame["row_count"].astype(int), strict=True)))
