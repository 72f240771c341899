"""The file format the source picks for each destination, from dlt's capabilities alone (no server)."""

import dlt
import pytest

from sources.cometchat.destination_hints import fast_file_format


@pytest.mark.parametrize(
    ("destination", "expected"),
    [
        (dlt.destinations.duckdb(), "parquet"),
        (dlt.destinations.filesystem("/tmp/cometchat-unused"), "parquet"),
        (dlt.destinations.bigquery(), "parquet"),
        # The ADBC driver is a dev dependency (the `postgres` extra); without a table, no stored columns are read.
        (dlt.destinations.postgres("postgresql://user:password@localhost/db"), "parquet"),
        (dlt.destinations.mssql(), "preferred"),
    ],
)
def test_parquet_where_the_destination_loads_it(destination, expected):
    assert fast_file_format(destination.capabilities()) == expected
