"""Narrow unit tests of the sender against requests_mock: how each kind of answer to a PUT is settled.

The emulator answers every PUT well; these are the answers a server may give instead (the emulator's
behaviour profiles cover the same cases over HTTP)."""

import pytest
import requests

from sources.cometchat.client import CometChatClient
from sources.cometchat.credentials import CometChatCredentials
from sources.cometchat.errors import CometChatAuthError
from sources.cometchat.reverse_etl.changes import ConversationRef
from sources.cometchat.reverse_etl.journal import Journal, read_journal
from sources.cometchat.reverse_etl.plan import Current, Update, read_one
from sources.cometchat.reverse_etl.send import send_updates

BASE = "https://app1.api-eu.cometchat.io/v3"
PUT_URL = f"{BASE}/groups/team/conversation"
LIST_URL = f"{BASE}/conversations"
TEAM = ConversationRef("group", "group_team", "team")
UPDATE = Update("alice", TEAM, ["old", "keep"], ["new"], [0])


@pytest.fixture
def client(monkeypatch, requests_mock) -> CometChatClient:
    monkeypatch.setattr("sources.cometchat.client.BACKOFF_FACTOR_SECONDS", 0.0)
    credentials = CometChatCredentials(app_id="app1", api_key="f" * 40, region="eu")
    return CometChatClient(credentials, requests_per_minute=1e6, max_attempts=2)


def conversation(tags: list[str] | None) -> dict:
    data = {"conversationId": "group_team", "conversationType": "group", "conversationWith": {"guid": "team"}}
    return data if tags is None else {**data, "tags": tags}


def outcome(client, update=UPDATE):
    report = send_updates(client, [update], max_workers=1)
    assert report.puts_sent == 1
    return report.outcomes[0], report


def test_an_answer_showing_the_list_sent_is_applied_without_reading_again(client, requests_mock):
    requests_mock.put(PUT_URL, json={"data": [conversation(["new"])]})  # data as a one-element array
    result, report = outcome(client)
    assert (result.status, result.error, report.rereads) == ("applied", "", 0)
    assert requests_mock.last_request.json() == {"tags": ["new"]}
    assert requests_mock.last_request.headers["onBehalfOf"] == "alice"


def test_an_answer_that_merged_instead_of_replacing_is_failed_with_the_reason(client, requests_mock):
    requests_mock.put(PUT_URL, json={"data": conversation(["old", "keep", "new"])})
    result, _ = outcome(client)
    assert result.status == "failed"
    assert "merged into the old list instead of replacing it" in result.error
    assert "['old', 'keep', 'new']" in result.error


@pytest.mark.parametrize(
    "answer",
    [
        {"text": "<html>502 from a proxy, yet the PUT went through</html>", "status_code": 200},
        {"json": {"data": conversation(None)}},  # the answer does not show the tags
        {"json": {"data": {}}},
        {"exc": requests.exceptions.ConnectionError("reset")},  # lost, also on the client's retry
        {"json": {"error": {"code": "ERR_BAD_GATEWAY", "message": "x"}}, "status_code": 502},
    ],
    ids=["unparseable", "no-tags", "empty", "lost", "5xx"],
)
def test_an_unclear_answer_is_settled_by_reading_the_conversation_again(client, requests_mock, answer):
    requests_mock.put(PUT_URL, **answer)
    reads = requests_mock.get(f"{BASE}/groups/team/conversation", json={"data": conversation(["new"])})
    result, report = outcome(client)
    assert (result.status, result.error, report.rereads, reads.call_count) == ("applied", "", 1, 1)

    reads = requests_mock.get(
        f"{BASE}/groups/team/conversation", json={"data": conversation(["old", "keep"])}
    )
    result, _ = outcome(client)
    assert result.status == "failed"
    assert "the conversation read again holds ['old', 'keep'], not the list sent" in result.error


def test_a_re_read_that_fails_too_leaves_the_row_failed_with_both_reasons(client, requests_mock):
    requests_mock.put(PUT_URL, text="not json")
    requests_mock.get(f"{BASE}/groups/team/conversation", exc=requests.exceptions.ConnectionError("down"))
    result, _ = outcome(client)
    assert result.status == "failed"
    assert (
        result.error.startswith("CometChatUnreadableError")
        and "reading the conversation again failed too" in result.error
    )


def test_a_refusal_is_failed_with_the_api_code_and_not_read_again(client, requests_mock):
    requests_mock.put(
        PUT_URL, status_code=400, json={"error": {"code": "ERR_BAD_REQUEST", "message": "tags"}}
    )
    reads = requests_mock.get(f"{BASE}/groups/team/conversation", json={"data": conversation(["new"])})
    result, _ = outcome(client)
    assert (result.status, result.error, reads.call_count) == ("failed", "ERR_BAD_REQUEST: tags", 0)


def test_a_credentials_error_stops_the_sending(client, requests_mock):
    requests_mock.put(
        PUT_URL, status_code=401, json={"error": {"code": "AUTH_ERR_APIKEY_NOT_FOUND", "message": "k"}}
    )
    with pytest.raises(CometChatAuthError):
        send_updates(client, [UPDATE, UPDATE], max_workers=1)
    assert requests_mock.call_count == 1


def test_a_get_without_tags_means_unknown_and_the_viewers_list_decides(client, requests_mock):
    requests_mock.get(f"{BASE}/groups/team/conversation", json={"data": [conversation(None)]})
    listing = requests_mock.get(
        LIST_URL,
        json={
            "data": [conversation(["from-list"])],
            "meta": {"pagination": {"current_page": 1, "total_pages": 1}},
        },
    )
    assert read_one(client, "alice", TEAM) == Current(["from-list"], TEAM)
    assert listing.last_request.headers["onBehalfOf"] == "alice"
    assert listing.last_request.qs["withtags"] == ["true"]


def test_each_put_is_journaled_before_it_is_sent_and_when_answered(client, requests_mock, tmp_path):
    requests_mock.put(PUT_URL, json={"data": conversation(["new"])})
    journal = Journal(tmp_path, "run")
    journal.start([[2, "alice", "group_team", "set"]], "2026-01-01T00:00:00+00:00")
    send_updates(client, [UPDATE], max_workers=1, journal=journal)
    journal.close()
    run = read_journal(journal.path)
    assert run.sent == {0} and run.answers[0]["status"] == "applied"
