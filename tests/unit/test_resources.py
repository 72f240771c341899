"""Resource behaviours that the emulator does not exercise: a viewer-less conversation list, vanished groups and
an unreadable destination."""

import logging

import dlt

import sources.cometchat as source
from sources.cometchat import cometchat_source
from sources.cometchat.redaction import register_secret
from tests.unit.conftest import BASE


def listing(rows: list) -> dict:
    pagination = {"total": 0, "count": len(rows), "per_page": 1000, "current_page": 1, "total_pages": 1}
    return {"data": rows, "meta": {"pagination": pagination}}


def conversation(conversation_id: str, with_uid: str, unread: str = "0") -> dict:
    return {
        "conversationId": conversation_id,
        "conversationType": "user",
        "unreadMessageCount": unread,
        "conversationWith": {"uid": with_uid, "name": with_uid.upper()},
        "tags": ["t"],
    }


def test_falls_back_to_per_viewer_lists_when_rows_do_not_name_the_viewer(client, pipeline, requests_mock):
    requests_mock.get(
        f"{BASE}/conversations",
        [
            {"json": listing([conversation("a_user_b", "b")])},  # app-wide, no `uid` field
            {"json": listing([conversation("a_user_b", "b", "2")])},
            {"json": listing([conversation("a_user_b", "a", "5")])},
        ],
    )
    requests_mock.get(f"{BASE}/users", json=listing([{"uid": "a"}, {"uid": "b"}]))
    pipeline.extract(
        cometchat_source(credentials=client.credentials, client=client).with_resources("user_conversations")
    )
    viewers = sorted(
        r.headers.get("onBehalfOf", "")
        for r in requests_mock.request_history
        if r.path.endswith("/conversations")
    )
    assert viewers == ["", "a", "b"]
    pipeline.normalize()
    pipeline.load()
    rows = pipeline.dataset()["user_conversations"].df().sort_values("viewer_uid")
    assert list(rows["viewer_uid"]) == ["a", "b"]
    assert sorted(rows["unread_message_count"]) == [2, 5]


def test_a_group_deleted_during_the_run_is_skipped_with_a_warning(client, pipeline, requests_mock, caplog):
    groups = [
        {"guid": "g1", "membersCount": 1, "updatedAt": 5},
        {"guid": "g2", "membersCount": 1, "updatedAt": 5},
    ]
    requests_mock.get(f"{BASE}/groups", json=listing(groups))
    requests_mock.get(
        f"{BASE}/groups/g1/members", json=listing([{"uid": "a", "scope": "admin", "joinedAt": 1}])
    )
    requests_mock.get(
        f"{BASE}/groups/g2/members",
        status_code=404,
        json={"error": {"code": "ERR_GUID_NOT_FOUND", "message": "The GUID g2 does not exist."}},
    )
    caplog.set_level(logging.WARNING)
    pipeline.run(
        cometchat_source(credentials=client.credentials, client=client).with_resources("group_members")
    )
    assert list(pipeline.dataset()["group_members"].df()["guid"]) == ["g1"]
    assert "g2" in caplog.text and "Skipped" in caplog.text


def test_a_snapshot_is_replaced_when_it_changed_and_left_alone_when_not_even_from_the_same_source(
    client, pipeline, requests_mock
):
    # The same source object run again: switching the disposition to `replace` for a changed snapshot must
    # not make dlt reset the resource's state (its digest) on the next run, which would reload it whole.
    users = requests_mock.get(
        f"{BASE}/users",
        [
            {"json": listing([{"uid": "a", "name": "A"}, {"uid": "b", "name": "B"}])},
            {"json": listing([{"uid": "a", "name": "A"}, {"uid": "b", "name": "B"}])},
            {"json": listing([{"uid": "a", "name": "A2"}])},
        ],
    )
    source = cometchat_source(credentials=client.credentials, client=client).with_resources("users")
    pipeline.run(source)
    pipeline.run(source)
    assert users.call_count == 2
    assert pipeline.last_trace.last_normalize_info.row_counts.get("users", 0) == 0
    assert pipeline.default_schema.tables["users"]["write_disposition"] == "replace"
    pipeline.run(source)
    rows = pipeline.dataset()["users"].df()
    assert list(rows["uid"]) == ["a"] and list(rows["name"]) == ["A2"]


def test_unreadable_stored_member_versions_are_a_warning_naming_the_error(monkeypatch, caplog):
    register_secret("not-a-real-key-0123456789")

    class UnreadableDestination:
        def dataset(self) -> None:
            raise RuntimeError("cannot open the lake (token not-a-real-key-0123456789)")

    monkeypatch.setattr(dlt.current, "pipeline", UnreadableDestination)
    with caplog.at_level(logging.WARNING, logger="sources.cometchat"):
        assert source._loaded_group_versions() is None

    assert "could not be read (RuntimeError: cannot open the lake (token ***))" in caplog.text
    assert "not-a-real-key" not in caplog.text
