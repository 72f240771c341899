"""Reading lists that may shift while they are read: repeats are dropped, a shift triggers another pass."""

import pytest

from sources.cometchat.errors import CometChatError
from sources.cometchat.snapshots import stable_read, unique_pages


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
