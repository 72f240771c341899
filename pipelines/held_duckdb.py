"""One DuckDB checkpoint per load package instead of one per load job.

dlt's loader opens the database for each load job and closes it afterwards, and DuckDB writes a checkpoint
(the job's rows, compressed, into the database file) whenever the last connection of a process to a file closes:
about 40 checkpoints per package of the messages, a third of the load step's CPU at 200,000 messages. A
connection held open while the package loads keeps DuckDB's database instance alive (DuckDB shares one instance
among a process's connections to the same file, and dlt's connections open it with the same settings), so the
jobs' closes write nothing and one CHECKPOINT writes the package once it is loaded. With `[load]
truncate_staging_dataset` (.dlt/config.toml) dlt empties the staging tables before that checkpoint, so their
copy of the rows is never written to the file at all.

Each package is checkpointed when it is done, so the write-ahead log holds at most one package (a connection
held across all of a run's packages let it grow to 400 MB at 5M messages).
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import dlt
from dlt.common.destination.client import JobClientBase
from dlt.destinations.exceptions import DatabaseException
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials
from dlt.destinations.job_client_impl import SqlJobClientBase

logger = logging.getLogger(__name__)
DUCKDB_DESTINATION_TYPE = "dlt.destinations.duckdb"


@contextmanager
def duckdb_held_open(pipeline: dlt.Pipeline) -> Iterator[None]:
    """Holds the pipeline's DuckDB database open for the duration of the block and checkpoints it at its end
    if the block succeeded; does nothing for other destinations and for a connection the caller passed in
    (dlt never closes that one). Meant around one `pipeline.run` / `pipeline.load`, that is one load package."""
    client = _duckdb_client(pipeline)
    if client is None:
        yield
        return
    with client:
        yield
        try:
            client.sql_client.execute_sql("CHECKPOINT")
        except DatabaseException as error:
            # The package is committed (in the write-ahead log); DuckDB checkpoints it at a later close.
            logger.warning("DuckDB could not checkpoint the loaded package now: %s", error)


def _duckdb_client(pipeline: dlt.Pipeline) -> SqlJobClientBase | None:
    destination = pipeline.destination
    if destination is None or destination.destination_type != DUCKDB_DESTINATION_TYPE:
        return None
    client: JobClientBase = pipeline.destination_client()
    credentials = client.config.credentials  # type: ignore[attr-defined]
    if not isinstance(client, SqlJobClientBase) or not isinstance(credentials, DuckDbCredentials):
        return None
    if credentials.external_conn() is not None:
        return None
    return client
