"""The columnar message path: changed copies replace child rows exactly, new fields become columns, and the
dlt limitation it works around is still there."""

from typing import Any

import dlt
import pyarrow as pa
import pytest
from dlt.common.schema import Schema
from dlt.common.schema.utils import new_table
from dlt.pipeline.exceptions import PipelineStepFailed

from sources.cometchat import cometchat_source
from sources.cometchat.arrow_pages import CHILD_KINDS, CHILD_MERGE, MessagePages, restore_message_merges
from sources.cometchat.client import CometChatClient
from tests.unit.conftest import BASE


def message(message_id: int, sent_at: int, text: str, tags=(), reactions=(), **extra) -> dict:
    return {
        "id": str(message_id),
        "conversationId": "a_user_b",
        "sender": "a",
        "receiverType": "user",
        "receiver": "b",
        "category": "message",
        "type": "text",
        "data": {
            "text": text,
            "reactions": [{"reaction": r, "count": 1} for r in reactions],
            "entities": {"sender": {"entity": {"uid": "a", "name": "A"}, "entityType": "user"}},
        },
        "tags": list(tags),
        "sentAt": sent_at,
        "updatedAt": sent_at,
        **extra,
    }


def edit(action_id: int, sent_at: int, target: dict) -> dict:
    return {
        "id": str(action_id),
        "conversationId": "a_user_b",
        "sender": "a",
        "receiverType": "user",
        "receiver": "b",
        "category": "action",
        "type": "message",
        "data": {"action": "edited", "entities": {"on": {"entity": target, "entityType": "message"}}},
        "sentAt": sent_at,
        "updatedAt": sent_at,
    }


def run(pipeline: dlt.Pipeline, client: CometChatClient, requests_mock, page: list[dict], **options) -> None:
    requests_mock.get(f"{BASE}/messages", json={"data": page, "meta": {}})
    source = cometchat_source(credentials=client.credentials, client=client).with_resources("messages")
    pipeline.run(source, loader_file_format="parquet", **options)


def stored(pipeline: dlt.Pipeline, kind: str, value: str) -> list[tuple]:
    with pipeline.sql_client() as sql:
        return sql.execute_sql(f"SELECT message_id, {value} FROM messages__{kind} ORDER BY 1, _dlt_list_idx")


def test_a_changed_copy_in_the_same_load_replaces_the_original_child_rows(pipeline, client, requests_mock):
    original = message(10, 100, "hi", tags=["a", "b", "c"], reactions=["x", "y"])
    changed = message(10, 100, "hi (edited)", tags=["a"], editedAt=101, editedBy="a")
    run(pipeline, client, requests_mock, [original, edit(11, 101, changed)])

    assert stored(pipeline, "tags", "value") == [(10, "a")]
    assert stored(pipeline, "reactions", "reaction") == []
    with pipeline.sql_client() as sql:
        rows = sql.execute_sql("SELECT id, text, _dlt_id FROM messages ORDER BY id")
        parents = sql.execute_sql("SELECT DISTINCT _dlt_parent_id FROM messages__tags")
        flagged = sql.execute_sql("SELECT count(*) FROM messages__tags WHERE _superseded")
    assert [r[:2] for r in rows] == [(10, "hi (edited)"), (11, None)]
    assert parents == [(rows[0][2],)]  # tags point at the stored copy of their message
    assert flagged == [(0,)]


def test_a_changed_copy_in_a_later_load_replaces_or_clears_the_stored_child_rows(
    pipeline, client, requests_mock
):
    run(pipeline, client, requests_mock, [message(10, 100, "hi", tags=["a", "b"], reactions=["x"])])
    run(pipeline, client, requests_mock, [edit(11, 101, message(10, 100, "v2", tags=["z"], reactions=["y"]))])
    assert stored(pipeline, "tags", "value") == [(10, "z")]
    assert stored(pipeline, "reactions", "reaction") == [(10, "y")]

    run(pipeline, client, requests_mock, [edit(12, 102, message(10, 100, "v3"))])
    assert stored(pipeline, "tags", "value") == []
    assert stored(pipeline, "reactions", "reaction") == []
    assert [row for row in stored(pipeline, "entities", "role") if row[0] == 10] == [(10, "sender")]


def test_child_rows_are_replaced_by_message_id_also_in_a_dataset_stored_with_the_old_merge_key(
    pipeline, client, requests_mock
):
    # Earlier versions declared `message_id` the child tables' merge key; the stored key is dropped (dlt would
    # warn on every load that it ignores it beside the destination scope) and child rows still replace whole.
    run(pipeline, client, requests_mock, [message(10, 100, "hi", tags=["a", "b"])])
    schema = pipeline.default_schema
    for kind in ("tags", "entities"):
        assert schema.tables[f"messages__{kind}"].get("x-merge-destination-scope")
        schema.tables[f"messages__{kind}"]["columns"]["message_id"]["merge_key"] = True
    pipeline.sync_schema()

    run(pipeline, client, requests_mock, [edit(11, 101, message(10, 100, "v2", tags=["z"]))])
    assert stored(pipeline, "tags", "value") == [(10, "z")]
    columns = pipeline.default_schema.tables["messages__tags"]["columns"]
    assert not columns["message_id"].get("merge_key")


def test_a_field_that_appears_later_lands_as_a_new_column(pipeline, client, requests_mock):
    run(pipeline, client, requests_mock, [message(10, 100, "hi")])
    assert "priority" not in pipeline.default_schema.get_table_columns("messages")

    later = message(11, 200, "urgent", priority=3, data_extra={"k": [1, 2]})
    later["data"]["poll"] = {"options": ["yes", "no"]}
    run(pipeline, client, requests_mock, [later])

    columns = pipeline.default_schema.get_table_columns("messages")
    assert columns["priority"]["data_type"] == "bigint"
    with pipeline.sql_client() as sql:
        rows = sql.execute_sql("SELECT id, priority, data_extra, data__poll FROM messages ORDER BY id")
    assert rows == [(10, None, None, None), (11, 3, '{"k":[1,2]}', '{"options":["yes","no"]}')]


def test_every_child_table_is_an_arrow_table_with_the_documented_links():
    pages = MessagePages()
    assert (
        list(pages.add([(10, message(10, 100, "hi", tags=["a"], reactions=["x"]))])) == []
    )  # batch not full
    tables = list(pages.flush())
    assert isinstance(tables[0], pa.Table)
    assert tables[0].column("sent_at").type == pa.timestamp("us", tz="UTC")
    names = [t.meta.table_name for t in tables[1:]]
    assert names == ["messages__entities", "messages__reactions", "messages__tags"]
    assert set(names) <= {f"messages__{kind}" for kind in CHILD_KINDS}
    tags = tables[-1].data.to_pylist()
    assert tags[0]["_dlt_parent_id"] == tables[0].column("_dlt_id")[0].as_py()


def test_a_sparse_child_table_is_held_until_it_has_table_rows_rows():
    # dlt's work per arrow table is fixed: tags on one message in four would otherwise come one row at a time.
    pages = MessagePages(batch_size=4, table_rows=4)
    copies = [(i, message(i, 100 + i, "hi", tags=["t"] if i % 4 == 0 else ())) for i in range(1, 21)]
    during = [table for i in range(0, 20, 2) for table in pages.add(copies[i : i + 2])]
    at_end = list(pages.flush())
    named = [(getattr(t, "meta", None) and t.meta.table_name, t) for t in during + at_end]
    tag_tables = [item.data for name, item in named if name == "messages__tags"]
    entity_tables = [item.data for name, item in named if name == "messages__entities"]
    assert [table.num_rows for table in tag_tables] == [4, 1]  # released at 4 rows, the rest at flush
    assert [row["message_id"] for table in tag_tables for row in table.to_pylist()] == [4, 8, 12, 16, 20]
    assert [table.num_rows for table in entity_tables] == [4] * 5  # one per message: a batch's worth each
    assert sum(table.num_rows for name, table in named if name is None) == 20


def test_the_rows_of_several_batches_make_one_table():
    pages = MessagePages(batch_size=4, table_rows=10)
    copies = [(i, message(i, 100 + i, "hi")) for i in range(1, 21)]
    during = [table for i in range(0, 20, 2) for table in pages.add(copies[i : i + 2])]
    at_end = list(pages.flush())
    named = [(getattr(t, "meta", None) and t.meta.table_name, t) for t in during + at_end]
    assert [t.num_rows for name, t in named if name is None] == [12, 8]
    entity_tables = [item.data for name, item in named if name == "messages__entities"]
    # Three batches' rows, then the rest at flush.
    assert [table.num_rows for table in entity_tables] == [12, 8]
    assert [row["message_id"] for table in entity_tables for row in table.to_pylist()] == list(range(1, 21))


def test_a_field_that_appears_in_a_later_batch_is_a_column_of_the_held_table():
    pages = MessagePages(batch_size=2, table_rows=10)
    copies = [(i, message(i, 100 + i, "hi", **({"mood": "calm"} if i > 2 else {}))) for i in range(1, 5)]
    tables = [*pages.add(copies[:2]), *pages.add(copies[2:]), *pages.flush()]
    (messages,) = [table for table in tables if isinstance(table, pa.Table)]
    assert messages.column("mood").to_pylist() == [None, None, "calm", "calm"]


def test_links_and_flagged_rows_come_from_each_rows_copy_in_the_batch():
    pages = MessagePages()
    original = message(10, 100, "hi", tags=["a", "b", "c"])
    other = message(12, 100, "yo", tags=["q"])
    changed = message(10, 100, "hi (edited)", tags=["a"], editedAt=101)
    list(pages.add([(5, original), (6, other)]))
    list(pages.add([(7, changed)], changed=True))
    roots, *children = list(pages.flush())
    assert roots.column("_dlt_id").to_pylist() == ["10:5", "12:6", "10:7"]
    tags = {t.meta.table_name: t.data for t in children}["messages__tags"]
    columns = ("message_id", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id", "version_id")
    assert [tuple(row[c] for c in (*columns, "_superseded", "value")) for row in tags.to_pylist()] == [
        (10, "10:5", "10:5", 0, "10:5:0", 5, None, "a"),
        (10, "10:5", "10:5", 1, "10:5:1", 5, None, "b"),
        (10, "10:5", "10:5", 2, "10:5:2", 5, None, "c"),
        (12, "12:6", "12:6", 0, "12:6:0", 6, None, "q"),
        (10, "10:7", "10:7", 0, "10:7:0", 7, None, "a"),
        (10, None, None, 1, "10:7:1", 7, True, None),
        (10, None, None, 2, "10:7:2", 7, True, None),
    ]


def test_integers_sent_as_numbers_or_as_text_convert_alike_and_an_empty_id_is_refused():
    pages = MessagePages()
    as_text = message(10, 100, "hi", parentId="", size=None)
    as_text.update(id="10", sentAt="100", updatedAt=" 101")
    as_number = message(11, 102, "yo", parentId=10)
    as_number["id"] = 11
    list(pages.add([(1, as_text), (2, as_number)]))
    roots = next(iter(pages.flush()))
    assert roots.column("id").to_pylist() == [10, 11]
    assert roots.column("parent_id").to_pylist() == [None, 10]
    assert [t.timestamp() for t in roots.column("updated_at").to_pylist()] == [101, 102]
    assert roots.column("_dlt_id").to_pylist() == ["10:1", "11:2"]

    list(pages.add([(3, {**as_number, "id": ""})]))
    with pytest.raises(ValueError):
        list(pages.flush())


def test_dlt_still_refuses_arrow_tables_for_a_nested_table(tmp_path):
    """The limitation the child tables work around (dlt 1.31): if this starts passing, nested tables can
    take arrow data and the workaround in arrow_pages can go."""

    @dlt.resource(name="parents", primary_key="id", write_disposition="merge")
    def parents():
        yield pa.table({"id": [1], "_dlt_id": ["p1"]})
        children = pa.table(
            {"value": ["v"], "_dlt_parent_id": ["p1"], "_dlt_list_idx": [0], "_dlt_id": ["c"]}
        )
        yield dlt.mark.with_hints(
            children,
            dlt.mark.make_hints(table_name="parents__children", parent_table_name="parents"),
            create_table_variant=True,
        )

    pipeline = dlt.pipeline("nested", destination="duckdb", pipelines_dir=str(tmp_path))
    with pytest.raises(PipelineStepFailed) as failure:
        pipeline.extract(parents())
    assert isinstance(failure.value.exception, KeyError)
    assert failure.value.exception.args == ("resource",)


def test_a_schema_with_nested_child_tables_from_an_earlier_version_is_refused_clearly(
    pipeline, client, requests_mock
):
    @dlt.resource(name="messages", primary_key="id", write_disposition="merge")
    def old_messages():  # as the earlier, row-wise version loaded them: tags as a dlt nested table
        yield {"id": 1, "tags": ["a"]}

    pipeline.run(dlt.source(lambda: old_messages, name="cometchat")())
    assert pipeline.default_schema.tables["messages__tags"]["parent"] == "messages"
    with pytest.raises(PipelineStepFailed, match="--full-refresh --resources messages"):
        run(pipeline, client, requests_mock, [message(10, 100, "hi")])

    run(pipeline, client, requests_mock, [message(10, 100, "hi", tags=["b"])], refresh="drop_resources")
    assert "parent" not in pipeline.default_schema.tables["messages__tags"]
    assert stored(pipeline, "tags", "value") == [(10, "b")]


def test_restore_message_merges_sets_the_appended_message_tables_back_to_merge():
    schema = Schema("cometchat")
    kept = {"resource": "messages", "file_format": "parquet", "table_format": "delta"}
    for name, disposition in (("messages", "append"), ("messages__tags", "append"), ("users", "append")):
        schema.update_table(new_table(name, write_disposition=disposition, **kept))
    schema.tables["messages__tags"]["x-stage-data-deduplicated"] = True  # type: ignore[typeddict-unknown-key]
    schema.update_table(new_table("messages__entities", write_disposition="merge", resource="messages"))

    assert restore_message_merges(schema)

    tables = schema.tables
    dispositions = {
        name: tables[name]["write_disposition"] for name in ("messages", "messages__tags", "users")
    }
    assert dispositions == {"messages": "merge", "messages__tags": "merge", "users": "append"}
    # The child table's merge as declared (delete-insert of the stored rows of its messages), nothing else lost.
    tags: dict[str, Any] = dict(tables["messages__tags"])
    assert tags["x-merge-strategy"] == CHILD_MERGE["strategy"]
    assert tags["x-merge-destination-scope"] == CHILD_MERGE["destination_scope"]
    assert tags["x-stage-data-deduplicated"] is True
    assert {key: tags[key] for key in kept} == kept
    assert "x-merge-strategy" not in tables["messages"]  # the root merges on its primary key, as declared
    assert "x-merge-strategy" not in tables["messages__entities"]  # merged already: left as it is
    assert not restore_message_merges(schema)  # nothing left to restore
