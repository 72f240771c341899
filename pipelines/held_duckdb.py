"""One DuckDB checkpoint per load package instead of one per load job.

dlt's loader opens the database for each load job and closes it afterwards, and DuckDB writes a checkpoint
(the job's rows, compressed, into the database file) whenever the last connection of a process to a file closes:
about 40 checkpoints per package of the messages, a third of the load step's CPU at 200,000 messages. A
connection held open while the package loads keeps DuckDB's database instance alive (DuckDB shares one instance
among a process's connections to the same file, and dlt's connections open it with the same settings), so the
jobs' closes write nothing and one CHECKPOINT writes the package once it is loaded. The staging tables are
emptied before that checkpoint (dlt's `truncate_staging_dataset`, done here so that it stays with DuckDB), so
their copy of the rows is never written to the file at all; only when no package is left half loaded, which
would still need its staged rows to finish.

Each package is checkpointed when it is done, so the write-ahead log holds at most one package (a connection
held across all of a run's packages let it grow to 400 MB at 5M messages).
"""

import logging
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

import dlt
from dlt.common.destination.client import JobClientBase
from dlt.common.pipeline import LoadInfo
from dlt.destinations.exceptions import DatabaseException
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials
from dlt.destinations.job_client_impl import SqlJobClientBase

logger = logging.getLogger(__name__)
DUCKDB_DESTINATION_TYPE = "dlt.destinations.duckdb"


def duckdb_held_open(pipeline: dlt.Pipeline) -> AbstractContextManager[None]:
    """Holds the pipeline's DuckDB database open for the duration of the block and checkpoints it at its end
    if the block succeeded; does nothing for other destinations and for a connection the caller passed in
    (dlt never closes that one). Meant around one `pipeline.run` / `pipeline.load`, that is one load package."""
    return held_open(pipeline, duckdb_client(pipeline))


def load_held_open(pipeline: dlt.Pipeline) -> LoadInfo:
    """`pipeline.load()` inside `duckdb_held_open`."""
    with duckdb_held_open(pipeline):
        return pipeline.load()


@contextmanager
def held_open(pipeline: dlt.Pipeline, client: SqlJobClientBase | None) -> Iterator[None]:
    """`duckdb_held_open` with the client made beforehand (`duckdb_client`), for a block that runs on another
    thread than the one that made it: dlt makes the client from the pipeline's schema, which that one changes."""
    if client is None:
        yield
        return
    with client:
        yield
        if not _half_loaded(pipeline):
            _empty_staging_tables(client)
        try:
            client.sql_client.execute_sql("CHECKPOINT")
        except DatabaseException as error:
            # The package is committed (in the write-ahead log); DuckDB checkpoints it at a later close.
            logger.warning("DuckDB could not checkpoint the loaded package now: %s", error)


def loads_into_duckdb(pipeline: dlt.Pipeline) -> bool:
    destination = pipeline.destination
    return destination is not None and destination.destination_type == DUCKDB_DESTINATION_TYPE


def duckdb_client(pipeline: dlt.Pipeline) -> SqlJobClientBase | None:
    if not loads_into_duckdb(pipeline):
        return None
    client: JobClientBase = pipeline.destination_client()
    credentials = client.config.credentials  # type: ignore[attr-defined]
    if not isinstance(client, SqlJobClientBase) or not isinstance(credentials, DuckDbCredentials):
        return None
    if credentials.external_conn() is not None:
        return None
    return client


def _half_loaded(pipeline: dlt.Pipeline) -> bool:
    """Whether a normalized package has begun to load: its staged rows are still needed to finish it. (A package
    normalized while the previous one loads has begun nothing.)"""
    return any(
        files and state != "new_jobs"
        for load_id in pipeline.list_normalized_load_packages()
        for state, files in pipeline.get_load_package_info(load_id).jobs.items()
    )


def _empty_staging_tables(client: SqlJobClientBase) -> None:
    sql_client = client.sql_client
    with sql_client.with_staging_dataset():
        tables = sql_client.execute_sql(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_catalog = current_database() AND table_schema = %s AND table_type = 'BASE TABLE'",
            sql_client.dataset_name,
        )
        if tables:
            sql_client.truncate_tables(*(name for (name,) in tables))
