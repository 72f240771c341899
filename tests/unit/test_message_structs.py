"""Message pages decoded into structs (message_structs.py): the tables MessagePages makes from them are those it
makes from the same page parsed whole, and a page the structs do not declare is parsed whole."""

import json
from typing import Any

import orjson
import pyarrow as pa
import pytest

from sources.cometchat.arrow_pages import MessagePages
from sources.cometchat.message_structs import Message, as_message, decode_message_page, plain
from sources.cometchat.snapshots import row_digest

USER = {"uid": "a", "name": "Ann", "avatar": "https://x/a.png", "status": "online", "role": "default",
        "createdAt": 1700000000, "metadata": {"k": 1}}  # fmt: skip
GROUP = {"guid": "g", "name": "Gee", "icon": "https://x/g.png", "type": "public", "owner": "a",
         "membersCount": 3, "description": "skipped", "conversationId": "group_g"}  # fmt: skip


def rich_page() -> list[dict[str, Any]]:
    """Messages with every field the tables read, entity fields they skip, and fields that become columns."""
    plain = {
        "id": "1", "conversationId": "group_g", "sender": "a", "receiverType": "group", "receiver": "g",
        "category": "message", "type": "image", "sentAt": 100, "updatedAt": 150, "editedAt": 150, "editedBy": "a",
        "parentId": "0", "replyCount": 2, "tags": ["x", "y"], "reactions": [{"reaction": "👍", "count": 2}],
        "data": {
            "text": "héllo ✅", "metadata": {"@injected": {"a": [1, 2]}}, "customData": {"c": None},
            "attachments": [{"url": "https://x/f.gif", "name": "f.gif", "mimeType": "image/gif",
                             "extension": "gif", "size": "123"}],
            "mentions": {"b": {"uid": "b", "name": "Bo"}},
            "entities": {"sender": {"entity": USER, "entityType": "user"},
                         "receiver": {"entity": GROUP, "entityType": "group"}},
        },
    }  # fmt: skip
    edit = {
        "id": "2", "conversationId": "group_g", "sender": "a", "receiverType": "group", "receiver": "g",
        "category": "action", "type": "message", "sentAt": 150, "updatedAt": 150,
        "data": {"action": "edited", "entities": {
            "by": {"entity": USER, "entityType": "user"},
            "on": {"entity": {**plain, "data": {**plain["data"], "text": "edited"}}, "entityType": "message"},
            "for": {"entity": GROUP, "entityType": "group"},
        }},
    }  # fmt: skip
    scope = {
        "id": "3", "conversationId": "group_g", "sender": "a", "receiverType": "group", "receiver": "g",
        "category": "action", "type": "groupMember", "sentAt": 160, "updatedAt": 160, "deletedAt": 170,
        "deletedBy": "a",
        "data": {"action": "scopeChanged", "extras": {"scope": {"new": "admin", "old": "participant"}},
                 "entities": {"by": {"entity": USER, "entityType": "user"},
                              "on": {"entity": {**USER, "uid": "b"}, "entityType": "user"},
                              "for": {"entity": GROUP, "entityType": "group"}}},
    }  # fmt: skip
    return [plain, edit, scope]


def tables_of(messages: list[Any]) -> dict[str, list[dict[str, Any]]]:
    pages = MessagePages()
    items = [*pages.add_listed(messages), *pages.flush()]
    named = {"messages" if isinstance(item, pa.Table) else item.meta.table_name: item for item in items}
    return {name: getattr(item, "data", item).to_pylist() for name, item in named.items()}


def test_a_page_decoded_into_structs_makes_the_tables_of_the_page_parsed_whole():
    body = orjson.dumps({"data": rich_page(), "meta": {"next": 1}})
    decoded = decode_message_page(body)
    assert all(type(message) is Message for message in decoded["data"])
    assert decoded["meta"] == {"next": 1}

    as_structs = tables_of(decoded["data"])
    parsed_whole = tables_of(orjson.loads(body)["data"])

    assert as_structs == parsed_whole
    assert set(as_structs) == {f"messages{kind}" for kind in
                               ("", "__entities", "__attachments", "__reactions", "__mentions", "__tags")}  # fmt: skip
    messages = as_structs["messages"]
    assert [m["reply_count"] for m in messages] == [2, None, None]
    assert messages[2]["data__extras"] == '{"scope":{"new":"admin","old":"participant"}}'
    entities = [
        (e["message_id"], e["role"], e["entity_id"], e["name"]) for e in as_structs["messages__entities"]
    ]
    assert entities == [(1, "sender", "a", "Ann"), (1, "receiver", "g", "Gee"), (2, "by", "a", "Ann"),
                        (2, "on", "1", None), (2, "for", "g", "Gee"), (3, "by", "a", "Ann"),
                        (3, "on", "b", "Ann"), (3, "for", "g", "Gee")]  # fmt: skip


def test_a_message_reads_as_its_dict_did():
    page = rich_page()
    decoded = decode_message_page(orjson.dumps({"data": page}))["data"]
    for message, struct in zip(page, decoded, strict=True):
        for key, value in message.items():
            assert key in struct
            if key != "data":
                assert struct[key] == struct.get(key) == value
        # Only the scope change has a deletedAt: `in` tells present from absent both ways.
        assert ("deletedAt" in struct) == (message.get("deletedAt") is not None)
        assert struct.get("nope", 7) == 7
        with pytest.raises(KeyError):
            struct["nope"]
    on = decoded[1]["data"]["entities"]["on"]
    assert on == page[1]["data"]["entities"]["on"]  # kept whole: the edited message


@pytest.mark.parametrize(
    "change",
    [
        lambda m: m.update(priority=3),  # a field the API added
        lambda m: m["data"].update(poll={"options": ["yes"]}),  # one inside `data`
        lambda m: m["data"]["entities"].update(parent={"entity": USER, "entityType": "user"}),  # a new role
        lambda m: m["data"]["entities"]["sender"].update(entity="a"),  # an entity that is not an object
    ],
)
def test_a_page_the_structs_do_not_declare_is_parsed_whole(change):
    page = rich_page()
    change(page[0])
    body = orjson.dumps({"data": page})
    decoded = decode_message_page(body)
    assert decoded == orjson.loads(body)


def test_an_adapted_message_keeps_the_fields_no_struct_declares_as_columns():
    message = rich_page()[0]
    message["priority"] = 3
    message["data"]["poll"] = {"options": ["yes", "no"]}
    message["data"]["entities"]["parent"] = {"entity": {"id": "9"}, "entityType": "message"}

    adapted = as_message(message)
    tables = tables_of([message])

    assert adapted.unknown == {"priority": 3, "data__poll": {"options": ["yes", "no"]}}
    row = tables["messages"][0]
    assert (row["priority"], row["data__poll"]) == (3, '{"options":["yes","no"]}')
    roles = [(e["role"], e["entity_id"]) for e in tables["messages__entities"]]
    assert roles == [("sender", "a"), ("receiver", "g"), ("parent", "9")]


def test_a_message_without_an_id_is_refused_as_its_dict_was():
    with pytest.raises(KeyError, match="id"):
        as_message({"sentAt": 1, "data": {}})


def test_a_message_reads_the_same_as_builtins_decoded_into_a_struct_or_parsed_whole():
    body = orjson.dumps({"data": rich_page()})
    decoded, parsed = decode_message_page(body)["data"], orjson.loads(body)["data"]
    assert [plain(m) for m in decoded] == [plain(m) for m in parsed]
    assert "createdAt" not in plain(parsed[0])["data"]["entities"]["sender"]["entity"]  # skipped, as decoded


def test_the_same_message_reads_the_same_as_builtins_whatever_shape_its_entities_take():
    page = rich_page()
    entities = page[0]["data"]["entities"]
    entities["sender"] = {"entityType": "user"}  # no entity
    entities["receiver"] = {"entity": None, "entityType": "group"}
    entities["by"] = {}
    entities["for"] = None
    body = orjson.dumps({"data": page})
    decoded, parsed = decode_message_page(body)["data"], orjson.loads(body)["data"]
    assert type(decoded[0]) is Message
    assert [plain(m) for m in decoded] == [plain(m) for m in parsed]
    assert tables_of(decoded) == tables_of(parsed)


def test_an_integer_past_64_bits_is_kept_exact_and_loads():
    page = rich_page()
    page[0]["data"]["customData"] = {"orderId": 123456789012345678901234}
    page[0]["replyCount"] = 2**70
    body = json.dumps({"data": page}).encode()  # orjson refuses such an integer
    decoded = decode_message_page(body)["data"]

    tables = tables_of(decoded)

    row = tables["messages"][0]
    assert row["custom_data"] == '{"orderId":123456789012345678901234}'
    assert row["reply_count"] == str(2**70)
    assert row_digest(plain(decoded[0])) == row_digest(plain(decoded[0]))  # digestible


def test_a_data_that_is_not_an_object_lands_as_a_column():
    page = rich_page()
    page[0]["data"] = "just text"
    body = orjson.dumps({"data": page})
    decoded = decode_message_page(body)["data"]
    assert decoded == orjson.loads(body)["data"]  # parsed whole
    row = tables_of(decoded)["messages"][0]
    assert (row["text"], row["data"]) == (None, "just text")


def test_a_field_and_a_field_of_data_that_would_share_a_column_are_refused():
    message = rich_page()[0]
    message["data__poll"] = 1
    message["data"]["poll"] = 2
    with pytest.raises(ValueError, match=r"data__poll and data\.poll"):
        as_message(message)
