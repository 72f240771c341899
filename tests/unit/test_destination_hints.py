"""The file format the source picks for each destination, from dlt's capabilities alone (no server)."""

import dlt
import pytest

from sources.cometchat import destination_hints
from sources.cometchat.arrow_pages import CHILD_COLUMNS
from sources.cometchat.destination_hints import fast_file_format

DESTINATIONS = {
    "duckdb": (dlt.destinations.duckdb(), "parquet"),
    "filesystem": (dlt.destinations.filesystem("/tmp/cometchat-unused"), "parquet"),
    "bigquery": (dlt.destinations.bigquery(), "parquet"),
    "sqlalchemy": (dlt.destinations.sqlalchemy("sqlite:////tmp/cometchat-unused.db"), "parquet"),
    # The ADBC driver is a dev dependency (the `postgres` extra).
    "postgres": (dlt.destinations.postgres("postgresql://user:password@localhost/db"), "parquet"),
    "mssql": (dlt.destinations.mssql(), "preferred"),
}


@pytest.mark.parametrize("name", DESTINATIONS)
def test_parquet_where_the_destination_loads_it(name):
    destination, expected = DESTINATIONS[name]
    assert fast_file_format(destination.capabilities()) == expected


@pytest.mark.parametrize("name", DESTINATIONS)
def test_only_postgres_asks_whether_a_table_holds_jsonb(name, monkeypatch):
    asked = []

    def holds_jsonb(table: str, data_type: str) -> bool:
        asked.append((table, data_type))
        return True

    monkeypatch.setattr(destination_hints, "_holds_columns_of_type", holds_jsonb)
    destination, expected = DESTINATIONS[name]

    file_format = fast_file_format(destination.capabilities(), "users")

    if name == "postgres":
        assert (file_format, asked) == ("preferred", [("users", "jsonb")])
    else:
        assert (file_format, asked) == (expected, [])


def test_child_tables_have_no_json_columns():
    # `use_child_table_merges` picks their format without asking for stored JSON columns.
    assert [
        (kind, name)
        for kind, columns in CHILD_COLUMNS.items()
        for name, column in columns.items()
        if column["data_type"] == "json"
    ] == []
