"""Narrow unit tests of the HTTP client against requests_mock: retries, errors, paging, secrets."""

import logging
import threading

import pytest
import requests
import tenacity
from dlt.common import jsonpath

from sources.cometchat.client import CometChatClient, _after_cursor, group_path, user_path
from sources.cometchat.credentials import CometChatCredentials
from sources.cometchat.errors import (
    CometChatApiError,
    CometChatAuthError,
    CometChatError,
    CometChatNotFoundError,
)
from sources.cometchat.settings import LIST_PAGES_AHEAD

BASE = "https://app1.api-eu.cometchat.io/v3"
KEY = "f" * 40


@pytest.fixture
def client(monkeypatch, requests_mock) -> CometChatClient:
    monkeypatch.setattr("sources.cometchat.client.BACKOFF_FACTOR_SECONDS", 0.0)
    client = CometChatClient(
        CometChatCredentials(app_id="app1", api_key=KEY, region="eu"), requests_per_minute=1e6
    )
    return client


def error(code: str, message: str = "nope") -> dict:
    return {"error": {"code": code, "message": message, "devMessage": message, "source": "chat-api"}}


def test_sends_key_and_app_id_headers_and_builds_the_regional_url(client, requests_mock):
    requests_mock.get(f"{BASE}/users/a%40b", json={"data": {"uid": "a@b"}})
    assert client.get(user_path("a@b")) == {"uid": "a@b"}
    sent = requests_mock.last_request
    assert sent.headers["apikey"] == KEY
    assert sent.headers["appId"] == "app1"


def test_percent_encodes_path_segments():
    assert user_path("x y?z", "conversation") == "users/x%20y%3Fz/conversation"
    assert group_path("g#1", "members") == "groups/g%231/members"


def test_retries_server_errors_and_resets_a_bounded_number_of_times(client, requests_mock):
    requests_mock.get(
        f"{BASE}/groups/g1",
        [
            {"status_code": 503, "json": error("ERR_MISSION_FAILED")},
            {"exc": requests.exceptions.ConnectionError("reset")},
            {"status_code": 200, "json": {"data": {"guid": "g1"}}},
        ],
    )
    assert client.get(group_path("g1")) == {"guid": "g1"}
    assert client.stats.retries == 2


def test_gives_up_after_max_attempts(client, requests_mock):
    requests_mock.get(f"{BASE}/groups/g1", status_code=502, json=error("ERR_BAD_GATEWAY"))
    with pytest.raises(CometChatApiError) as raised:
        client.get(group_path("g1"))
    assert raised.value.status == 502
    assert requests_mock.call_count == client.max_attempts


def test_honours_retry_after_on_429(client, requests_mock, monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr("time.sleep", waits.append)
    requests_mock.get(
        f"{BASE}/users",
        [
            {"status_code": 429, "json": error("ERR_TOO_MANY_REQUESTS"), "headers": {"Retry-After": "3"}},
            {"status_code": 200, "json": {"data": [], "meta": {}}},
        ],
    )
    assert client.get("users") == []
    assert 3.0 in waits


def test_a_4xx_names_endpoint_and_code_without_retrying(client, requests_mock):
    requests_mock.get(f"{BASE}/messages", status_code=400, json=error("ERR_BAD_REQUEST", "limit too big"))
    with pytest.raises(CometChatApiError) as raised:
        client.get("messages", {"limit": 5000})
    assert "GET /v3/messages" in str(raised.value) and "ERR_BAD_REQUEST" in str(raised.value)
    assert requests_mock.call_count == 1


def test_auth_and_not_found_errors_have_their_own_types(client, requests_mock):
    requests_mock.get(f"{BASE}/users", status_code=401, json=error("AUTH_ERR_APIKEY_NOT_FOUND"))
    requests_mock.get(f"{BASE}/users/ghost", status_code=404, json=error("ERR_UID_NOT_FOUND"))
    with pytest.raises(CometChatAuthError):
        client.get("users")
    with pytest.raises(CometChatNotFoundError) as raised:
        client.get(user_path("ghost"))
    assert raised.value.code == "ERR_UID_NOT_FOUND"


def test_page_number_lists_stop_on_the_has_more_flag(client, requests_mock, monkeypatch):
    monkeypatch.setattr("sources.cometchat.client.PAGE_SIZE", 2)

    def page(number: int, rows: list, more: bool) -> dict:
        pagination = {"total": 0, "count": len(rows), "per_page": 2, "current_page": number}
        pagination["total_pages"] = number + 1 if more else number
        return {"json": {"data": rows, "meta": {"pagination": pagination}}}

    requests_mock.get(f"{BASE}/users", [page(1, [1, 2], True), page(2, [3, 4], False)])
    assert list(client.pages("users")) == [[1, 2], [3, 4]]
    assert [r.qs["page"] for r in requests_mock.request_history] == [["1"], ["2"]]
    assert requests_mock.request_history[0].qs["perpage"] == ["2"]


def test_a_list_asks_for_no_more_than_list_pages_ahead_at_once_however_many_workers(
    requests_mock, monkeypatch
):
    """Sixteen workers, a 20-page list: pages are asked for 1, 2, 4, then 8 at a time, so at most seven past
    its end (with sixteen at a time it would be fifteen)."""
    monkeypatch.setattr("sources.cometchat.client.PAGE_SIZE", 1)
    credentials = CometChatCredentials(app_id="app1", api_key=KEY, region="eu")
    client = CometChatClient(credentials, requests_per_minute=1e6, max_workers=16)

    def answer(request, context) -> dict:
        number = int(request.qs["page"][0])
        rows = [number] if number <= 20 else []
        pagination = {"total": 0, "count": len(rows), "per_page": 1, "current_page": number}
        pagination["total_pages"] = number + 1 if number < 20 else number
        return {"data": rows, "meta": {"pagination": pagination}}

    requests_mock.get(f"{BASE}/users", json=answer)
    assert [row for page in client.pages("users", ahead=True) for row in page] == list(range(1, 21))
    asked = sorted(int(r.qs["page"][0]) for r in requests_mock.request_history)
    assert asked[:20] == list(range(1, 21)) and 20 < len(asked) <= 20 + LIST_PAGES_AHEAD - 1


def test_long_lists_read_ahead_ask_for_each_page_by_number(client, requests_mock, monkeypatch):
    monkeypatch.setattr("sources.cometchat.client.PAGE_SIZE", 2)

    def answer(request, context) -> dict:
        number = int(request.qs["page"][0])
        rows = [2 * number - 1, 2 * number] if number <= 3 else []
        pagination = {"total": 0, "count": len(rows), "per_page": 2, "current_page": number}
        pagination["total_pages"] = number + 1 if number < 3 else number
        return {"data": rows, "meta": {"pagination": pagination}}

    requests_mock.get(f"{BASE}/users", json=answer)
    assert list(client.pages("users", {"withTags": "true"}, ahead=True)) == [[1, 2], [3, 4], [5, 6]]
    asked = sorted(int(r.qs["page"][0]) for r in requests_mock.request_history)
    assert asked[:3] == [1, 2, 3] and len(asked) <= 3 + client.max_workers - 1
    assert all(
        r.qs["perpage"] == ["2"] and r.qs["withtags"] == ["true"] for r in requests_mock.request_history
    )


def msg(message_id: int, sent_at: int) -> dict:
    return {"id": str(message_id), "sentAt": sent_at}


def test_message_paging_drops_repeats_from_a_server_that_ignores_the_id_anchor(
    client, requests_mock, monkeypatch
):
    monkeypatch.setattr("sources.cometchat.client.MESSAGE_PAGE_SIZE", 3)
    pages = [
        [msg(1, 10), msg(2, 11), msg(3, 11)],
        [msg(2, 11), msg(3, 11), msg(4, 11)],  # re-anchored on second 11: repeats 2 and 3
        [msg(4, 11), msg(5, 12)],
    ]
    requests_mock.get(f"{BASE}/messages", [{"json": {"data": p, "meta": {}}} for p in pages])
    ids = [int(m["id"]) for page in client.messages() for m in page]
    assert ids == [1, 2, 3, 4, 5]
    second = requests_mock.request_history[1].qs
    assert second["fromtimestamp"] == ["11"] and second["id"] == ["3"] and second["affix"] == ["append"]


@pytest.mark.parametrize("cursor", [(-1, -1), (10, 2), (10, 3), (11, 0), (11, 5), (12, 9)])
def test_a_page_keeps_the_messages_after_the_cursor_in_page_order(cursor):
    # Out of order on purpose, ids as text and as numbers, several in the cursor's second.
    page = [msg(5, 11), msg(2, 10), msg(3, 10), {"id": 4, "sentAt": "11"}, msg(1, 9), msg(6, 12), msg(7, 11)]
    kept = [m for m in page if (int(m["sentAt"]), int(m["id"])) > cursor]
    assert _after_cursor(page, cursor) == kept


def test_message_paging_refuses_to_loop_forever(client, requests_mock):
    pages = [[msg(1, 9), msg(2, 10)], [msg(2, 10), msg(3, 10)], [msg(2, 10), msg(3, 10)]]
    requests_mock.get(f"{BASE}/messages", [{"json": {"data": p, "meta": {}}} for p in pages])
    with pytest.raises(CometChatError, match="ignores the id anchor"):
        [page for page in client.messages()]


def test_message_paging_resumes_after_the_cursor_without_a_sent_at_anchor(client, requests_mock):
    pages = [[msg(7, 20), msg(8, 21)], []]
    requests_mock.get(f"{BASE}/messages", [{"json": {"data": p, "meta": {}}} for p in pages])
    pages = list(client.messages(after=(20, 6)))
    assert [m["id"] for m in pages[0]] == ["7", "8"]
    first, second = (r.qs for r in requests_mock.request_history)
    assert "sentat" not in first and first["id"] == ["6"] and first["fromtimestamp"] == ["20"]
    assert "sentat" not in second and second["id"] == ["8"] and second["fromtimestamp"] == ["21"]


def test_message_paging_starts_at_a_positive_timestamp_and_reads_past_short_pages(client, requests_mock):
    pages = [[msg(1, 5)], [msg(2, 6)], [msg(2, 6)]]  # short pages; then an inclusive anchor repeats the last
    requests_mock.get(f"{BASE}/messages", [{"json": {"data": p, "meta": {}}} for p in pages])
    assert [m["id"] for page in client.messages() for m in page] == ["1", "2"]
    assert requests_mock.request_history[0].qs["fromtimestamp"] == ["1"]
    assert len(requests_mock.request_history) == 3


def test_page_number_lists_read_past_short_pages_and_take_keyed_data(client, requests_mock):
    def page(number: int, data, more: bool) -> dict:
        pagination = {"total": 0, "count": 1, "per_page": 1, "current_page": number}
        pagination["total_pages"] = number + 1 if more else number
        return {"json": {"data": data, "meta": {"pagination": pagination}}}

    pages = [page(1, {"0": {"guid": "a"}, "1": {"guid": "b"}}, True), page(2, [{"guid": "c"}], False)]
    requests_mock.get(f"{BASE}/groups", pages)
    assert list(client.pages("groups")) == [[{"guid": "a"}, {"guid": "b"}], [{"guid": "c"}]]


def test_page_number_lists_without_meta_end_on_an_empty_page(client, requests_mock):
    pages = [{"json": {"data": [1]}}, {"json": {"data": [2]}}, {"json": {"data": []}}]
    requests_mock.get(f"{BASE}/users", pages)
    assert list(client.pages("users")) == [[1], [2]]


def test_key_never_appears_in_logs_or_errors(client, requests_mock, caplog):
    caplog.set_level(logging.DEBUG)
    requests_mock.get(f"{BASE}/users", status_code=403, json=error("AUTH_ERR_NO_ACCESS"))
    with pytest.raises(CometChatAuthError) as raised:
        client.get("users")
    assert KEY not in str(raised.value) and KEY not in repr(raised.value)
    assert KEY not in caplog.text
    assert KEY not in repr(CometChatCredentials(app_id="a", api_key=KEY))


def test_paging_parses_the_data_selector_once_not_per_page(client, requests_mock, monkeypatch):
    # dlt parses a selector given as text again, into a new parser (a few hundred objects in reference cycles),
    # for every page; the client hands it one compiled path.
    parsed: list[str] = []
    parse = jsonpath._parse
    monkeypatch.setattr(jsonpath, "_parse", lambda path: parsed.append(path) or parse(path))
    pages = [[msg(n, 10 + n)] for n in range(1, 6)] + [[]]
    requests_mock.get(f"{BASE}/messages", [{"json": {"data": p, "meta": {}}} for p in pages])
    assert [m["id"] for page in client.messages() for m in page] == ["1", "2", "3", "4", "5"]
    assert len(requests_mock.request_history) == 6
    assert parsed == []


def test_a_request_keeps_its_retry_state_while_another_thread_starts_one(client, requests_mock, monkeypatch):
    """The session is shared by the page readers' threads. tenacity 9.1+ shares one statistics dict among the
    calls of a `wraps`-wrapped function, and each call clears it as it starts: a request retrying on one thread
    then failed with a KeyError. Here a second request starts (and is held just after that point) while the
    first one's attempt is answered with a 503."""
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    second_started, release_second = threading.Event(), threading.Event()
    begin = tenacity.Retrying.begin

    def held_begin(retrying: tenacity.Retrying) -> None:
        if threading.current_thread().name == "second":
            second_started.set()
            release_second.wait(5)
        begin(retrying)

    monkeypatch.setattr(tenacity.Retrying, "begin", held_begin)
    second = threading.Thread(target=lambda: client.get(group_path("g2")), name="second")

    def unavailable_once_the_second_began(request, context):
        second.start()
        assert second_started.wait(5)
        context.status_code = 503
        return error("ERR_MISSION_FAILED")

    requests_mock.get(
        f"{BASE}/groups/g1",
        [{"json": unavailable_once_the_second_began}, {"status_code": 200, "json": {"data": {"guid": "g1"}}}],
    )
    requests_mock.get(f"{BASE}/groups/g2", json={"data": {"guid": "g2"}})
    try:
        assert client.get(group_path("g1")) == {"guid": "g1"}
    finally:
        release_second.set()
        second.join(5)
    assert client.stats.retries == 1
