import pyarrow as pa
import pytest

from sources.cometchat.arrow_pages import MessagePages
from sources.cometchat.versions import CURRENT, copy_version, listed_versions

STAMPED = [
    {"sentAt": 100, "updatedAt": 100},
    {"sentAt": 100, "updatedAt": 90, "editedAt": 120},  # a payload whose updatedAt lags its edit
    {"sentAt": 100, "deletedAt": 130},  # no updatedAt
    {"sentAt": "100", "updatedAt": "140"},  # stamps as text
    {"sentAt": 100, "updatedAt": ""},
    {},  # no stamp at all
]


def test_versions_computed_a_column_at_a_time_equal_those_of_each_copy():
    columns = [
        pa.array([None if m.get(key) in (None, "") else int(m[key]) for m in STAMPED], pa.int64())
        for key in ("updatedAt", "editedAt", "deletedAt", "sentAt")
    ]
    assert listed_versions(*columns).to_pylist() == [copy_version(m) for m in STAMPED]
    assert copy_version(STAMPED[1]) == (120 << 30) | CURRENT
    assert copy_version(STAMPED[-1]) == CURRENT


def test_a_listed_copy_gets_the_same_version_as_before_and_an_action_copy_keeps_its_own():
    pages = MessagePages()
    listed = [{"id": str(i), **stamps} for i, stamps in enumerate(STAMPED, start=1)]
    carried = {"id": "1", "sentAt": 100, "updatedAt": 150}
    list(pages.add_listed(listed))
    list(pages.add([(copy_version(carried, 77), carried)], changed=True))
    roots = next(iter(pages.flush()))
    expected = [copy_version(m) for m in listed] + [(150 << 30) | 77]
    assert roots.column("version_id").to_pylist() == expected
    assert roots.column("_dlt_id").to_pylist()[-1] == f"1:{expected[-1]}"


def test_a_stamp_too_large_for_a_version_is_refused_not_wrapped():
    with pytest.raises(pa.ArrowInvalid):
        listed_versions(*(pa.array([value], pa.int64()) for value in (2**40, None, None, 1)))
