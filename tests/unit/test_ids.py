"""Ids the API would not accept never reach a URL: they are refused with a warning naming them."""

import logging

import dlt
import pytest

from sources.cometchat import cometchat_source
from sources.cometchat.client import CometChatClient, group_path, user_path
from sources.cometchat.credentials import CometChatCredentials
from sources.cometchat.ids import UnsafeIdError, check_id, id_problem

from .test_resources import listing

BASE = "https://app1.api-us.cometchat.io/v3"


@pytest.mark.parametrize(
    "value",
    [
        "cometchat-uid-1",
        "group_7",
        "UPPER",
        "john.doe@example.com",
        "a b",
        "résolu",
        "用户",
        "x" * 100,
        "..a",
    ],
)
def test_tolerates_what_real_data_holds(value):
    assert id_problem(value) is None
    assert check_id(value) == value


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (".", "dot segment"),
        ("..", "dot segment"),
        ("a/b", "slash"),
        ("a\\b", "slash"),
        ("line\nbreak", "control character"),
        ("nul\x00", "control character"),
        ("zero\u200bwidth", "control character"),
        ("", "empty"),
        ("   ", "empty"),
        ("x" * 101, "100 characters"),
        (7, "not a string"),
    ],
)
def test_refuses_what_cannot_be_a_path_segment(value, reason):
    assert reason in id_problem(value)
    with pytest.raises(UnsafeIdError, match=reason) as caught:
        check_id(value, "guid")
    assert str(caught.value).startswith(f"guid {value!r}"[:20])
    assert "\n" not in str(caught.value) and "\x00" not in str(caught.value)


def test_headers_also_refuse_surrounding_whitespace_and_non_latin1():
    assert id_problem(" a", in_header=True) is not None
    assert id_problem("用户", in_header=True) is not None
    assert id_problem("résolu", in_header=True) is None


@pytest.mark.parametrize("value", [".", "..", "a/b", "a\r\nX-Injected: 1"])
def test_paths_are_never_built_from_unsafe_ids(value):
    with pytest.raises(UnsafeIdError):
        user_path(value, "conversation")
    with pytest.raises(UnsafeIdError):
        group_path(value, "members")


def test_a_group_whose_guid_is_a_dot_is_reported_not_dropped_as_deleted(tmp_path, requests_mock, caplog):
    client = CometChatClient(CometChatCredentials(app_id="app1", api_key="k" * 40), requests_per_minute=1e6)
    groups = [
        {"guid": ".", "membersCount": 1, "updatedAt": 1},
        {"guid": "g1", "membersCount": 1, "updatedAt": 1},
    ]
    requests_mock.get(f"{BASE}/groups", json=listing(groups))
    requests_mock.get(f"{BASE}/groups/g1/members", json=listing([{"uid": "u1", "scope": "admin"}]))
    # Where `groups/./members` lands once the dot segment is dropped: a 404 that reads as "deleted".
    not_found = {"error": {"code": "ERR_GUID_NOT_FOUND", "message": "no such group"}}
    requests_mock.get(f"{BASE}/groups/members", status_code=404, json=not_found)
    pipeline = dlt.pipeline(
        "ids", destination=dlt.destinations.duckdb(str(tmp_path / "ids.duckdb")), pipelines_dir=str(tmp_path)
    )
    with caplog.at_level(logging.WARNING, logger="sources"):
        pipeline.extract(
            cometchat_source(credentials=client.credentials, client=client).with_resources("group_members")
        )

    paths = [request.path for request in requests_mock.request_history if request.path.startswith("/v3")]
    assert paths == ["/v3/groups", "/v3/groups/g1/members"]
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert any("guid '.'" in line and "dot segment" in line for line in warnings), warnings
    assert not any("deleted" in line for line in warnings), warnings


def test_a_viewer_whose_uid_cannot_be_a_header_is_reported(tmp_path, requests_mock, caplog):
    client = CometChatClient(CometChatCredentials(app_id="app1", api_key="k" * 40), requests_per_minute=1e6)
    viewerless = {"conversationId": "a_user_b", "conversationType": "user", "conversationWith": {"uid": "b"}}
    requests_mock.get(f"{BASE}/conversations", json=listing([viewerless]))
    requests_mock.get(f"{BASE}/users", json=listing([{"uid": "a\nb"}]))
    pipeline = dlt.pipeline(
        "ids", destination=dlt.destinations.duckdb(str(tmp_path / "ids.duckdb")), pipelines_dir=str(tmp_path)
    )
    with caplog.at_level(logging.WARNING, logger="sources"):
        pipeline.extract(
            cometchat_source(credentials=client.credentials, client=client).with_resources(
                "user_conversations"
            )
        )
    assert all("onBehalfOf" not in request.headers for request in requests_mock.request_history)
    assert any("uid 'a\\nb'" in record.getMessage() for record in caplog.records)
