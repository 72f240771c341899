"""Snapshot lists: repeats are dropped, a shift triggers another pass, and a list loads only when it changed."""

import dlt
import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

from sources.cometchat.errors import CometChatError
from sources.cometchat.snapshots import if_changed, snapshot_hints, stable_read, unique_pages


def key(row: dict) -> str:
    return row["k"]


def test_unique_pages_drops_rows_an_earlier_page_held():
    pages = [[{"k": "a"}, {"k": "b"}], [{"k": "b"}, {"k": "c"}], [{"k": "a"}]]
    assert list(unique_pages(pages, key)) == [[{"k": "a"}, {"k": "b"}], [{"k": "c"}]]


def test_a_stable_list_is_read_once():
    reads = []

    def read():
        reads.append(1)
        return [[{"k": "a"}, {"k": "b"}], [{"k": "c"}]]

    rows = [row["k"] for page in stable_read(read, dict, key, "list") for row in page]
    assert rows == ["a", "b", "c"] and len(reads) == 1


def test_a_shifted_list_is_read_again_and_the_skipped_row_is_added():
    # "d" moved to the front while page 2 was being asked for: "b" came twice and "d" was skipped.
    passes = iter(
        [
            [[{"k": "a"}, {"k": "b"}], [{"k": "b"}, {"k": "c"}]],
            [[{"k": "d"}, {"k": "a"}], [{"k": "b"}, {"k": "c"}]],
        ]
    )
    rows = [row["k"] for page in stable_read(lambda: next(passes), dict, key, "list") for row in page]
    assert sorted(rows) == ["a", "b", "c", "d"] and len(rows) == 4


def test_a_list_that_keeps_moving_stops_with_a_clear_error():
    def read():
        return [[{"k": "a"}], [{"k": "a"}]]

    with pytest.raises(CometChatError, match="kept moving while it was read"):
        list(stable_read(read, dict, key, "GET /conversations"))


def test_a_first_load_streams_the_rows_and_a_later_one_loads_them_only_if_changed(pipeline):
    events: list[str] = []
    last = ["2"]

    def pages():
        for key in ("0", "1", last[0]):
            events.append(f"read {key}")
            yield [{"k": key}]

    @dlt.resource(name="rows", primary_key="k", **snapshot_hints("rows"))
    def rows():
        for page in if_changed(pages(), "rows", dlt.current.resource_state()):
            events.append("loaded")
            yield page

    def stored() -> list[str]:
        with pipeline.sql_client() as client:
            return [row[0] for row in client.execute_sql("SELECT k FROM rows ORDER BY k")]

    pipeline.run(rows())
    # Nothing loaded to compare with: each page loads as it is read, none is held back.
    assert events == ["read 0", "loaded", "read 1", "loaded", "read 2", "loaded"]
    assert stored() == ["0", "1", "2"]

    events.clear()
    pipeline.run(rows())
    assert events == ["read 0", "read 1", "read 2"]  # read whole and digested; the same, so nothing loads

    events.clear()
    last[0] = "3"
    pipeline.run(rows())
    assert events == ["read 0", "read 1", "read 3", "loaded", "loaded", "loaded"]
    assert stored() == ["0", "1", "3"]  # replaced: the row gone from the list left the table


def test_a_first_load_that_fails_half_way_leaves_the_resource_as_declared(pipeline):
    fail = [True]
    loaded: list[str] = []

    def pages():
        yield [{"k": "0"}]
        if fail[0]:
            raise RuntimeError("the API went away")
        yield [{"k": "1"}]

    @dlt.source(name="lists")
    def lists():
        @dlt.resource(name="rows", primary_key="k", **snapshot_hints("rows"))
        def rows():
            for page in if_changed(pages(), "rows", dlt.current.resource_state()):
                loaded.extend(row["k"] for row in page)
                yield page

        return rows

    source = lists()
    declared = source.rows.write_disposition
    with pytest.raises(PipelineStepFailed):
        pipeline.run(source)
    assert source.rows.write_disposition == declared
    fail[0] = False
    pipeline.run(source)
    loaded.clear()
    # The same source object again, nothing changed: dlt kept the digest (it resets a `replace` resource's state).
    pipeline.run(source)
    assert loaded == []
