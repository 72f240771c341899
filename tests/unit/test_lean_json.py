"""Decoding only the fields a shape reads (lean_json.py): the same rows as a whole parse, or a whole parse."""

import orjson
import pytest

from sources.cometchat.client import CometChatClient
from sources.cometchat.credentials import CometChatCredentials
from sources.cometchat.errors import CometChatAuthError, CometChatUnreadableError
from sources.cometchat.shaping import CONVERSATION_FIELDS, shape_conversation

from .test_shaping import GROUP_CONVERSATION

BASE = "https://app1.api-us.cometchat.io/v3"
CONVERSATION = {
    **GROUP_CONVERSATION,
    "uid": "cometchat-uid-4",
    "conversationWith": {**GROUP_CONVERSATION["conversationWith"], "icon": "x", "membersCount": 3},
    "unknownField": {"deep": [1, 2, 3]},
}


def page(*rows: object, **envelope: object) -> bytes:
    return orjson.dumps({"data": list(rows), "meta": {"pagination": {"current_page": 1}}, **envelope})


def test_keeps_only_the_fields_the_shape_reads_and_shapes_the_same_row():
    lean = CONVERSATION_FIELDS(page(CONVERSATION))
    row = lean["data"][0]
    assert row["lastMessage"] == {"id": "50"}
    assert row["conversationWith"] == {"guid": "project-group", "name": "Project Group1"}
    assert "unknownField" not in row
    assert lean["meta"] == {"pagination": {"current_page": 1}}
    assert shape_conversation(row["uid"], row) == shape_conversation(CONVERSATION["uid"], CONVERSATION)


def test_a_field_the_answer_lacks_stays_absent():
    # The source tells the app-wide list from one that does not name viewers by `"uid" in row`.
    row = CONVERSATION_FIELDS(page({"conversationId": "a_user_b", "lastMessage": None}))["data"][0]
    assert row == {"conversationId": "a_user_b", "lastMessage": None}


@pytest.mark.parametrize(
    "answer",
    [
        {"data": {"0": CONVERSATION, "1": CONVERSATION}},  # `data` as an object keyed "0", "1", ...
        {"data": [{**CONVERSATION, "lastMessage": "50"}]},  # a field of an unexpected type
        {"data": [{**CONVERSATION, "conversationWith": [1]}]},
        {"meta": {}},  # no `data`: the envelope check names the keys of the whole answer
        [CONVERSATION],
    ],
)
def test_an_answer_of_another_shape_is_parsed_whole(answer):
    assert CONVERSATION_FIELDS(orjson.dumps(answer)) == answer


def test_nesting_deeper_than_msgspec_allows_is_parsed_whole():
    depth = 1_010  # orjson allows 1,024 levels, msgspec fewer
    deep = b"[" * depth + b"]" * depth
    answer = orjson.dumps({"data": [{**CONVERSATION, "lastMessage": {"id": "1", "deep": None}}]})
    answer = answer.replace(b'"deep":null', b'"deep":' + deep)
    row = CONVERSATION_FIELDS(answer)["data"][0]
    assert row.keys() == CONVERSATION.keys() and row["lastMessage"].keys() == {"id", "deep"}  # whole


def test_malformed_json_raises_as_a_whole_parse_does():
    with pytest.raises(orjson.JSONDecodeError):
        CONVERSATION_FIELDS(b'{"data": [{"conversationId": "a"')


@pytest.fixture
def client(requests_mock) -> CometChatClient:
    return CometChatClient(CometChatCredentials(app_id="app1", api_key="k" * 40), requests_per_minute=1e6)


def test_an_error_answer_keeps_its_code(client, requests_mock):
    # With `data` beside it, only the rule that errors are parsed whole keeps `error`: the lean decode drops it.
    body = {"data": [], "error": {"code": "AUTH_ERR_APIKEY_NOT_FOUND"}}
    requests_mock.get(f"{BASE}/conversations", status_code=401, json=body)
    with pytest.raises(CometChatAuthError, match="AUTH_ERR_APIKEY_NOT_FOUND"):
        list(client.pages("conversations", decode=CONVERSATION_FIELDS))


def test_a_success_without_data_is_unreadable_and_names_its_keys(client, requests_mock):
    requests_mock.get(f"{BASE}/conversations", json={"items": [], "meta": {}})
    with pytest.raises(CometChatUnreadableError, match=r"\['items', 'meta'\]"):
        list(client.pages("conversations", ahead=True, decode=CONVERSATION_FIELDS))
