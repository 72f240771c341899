"""Reads what a pipeline loaded, through `pipeline.dataset()`, into plain Python shapes for comparison."""

from collections.abc import Iterator
from contextlib import contextmanager

import dlt
import pandas as pd

from .expected import epoch

_open_datasets: dict[int, dlt.Dataset] = {}


@contextmanager
def reading(pipeline: dlt.Pipeline) -> Iterator[None]:
    """Reads of `pipeline` inside the block share one dataset with its connection open: a fresh
    `pipeline.dataset()` per table reads the stored schemas and opens the database again (about 0.1 s each,
    several seconds per comparison with the ground truth). Blocks nest."""
    if id(pipeline) in _open_datasets:
        yield
        return
    with pipeline.dataset() as dataset:
        _open_datasets[id(pipeline)] = dataset
        try:
            yield
        finally:
            del _open_datasets[id(pipeline)]


def table(pipeline: dlt.Pipeline, name: str) -> pd.DataFrame:
    dataset = _open_datasets.get(id(pipeline))
    return (pipeline.dataset() if dataset is None else dataset)[name].df()


def child_lists(pipeline: dlt.Pipeline, parent: str, child: str, key_columns: list[str]) -> dict[tuple, list]:
    """Parent key -> ordered list of a scalar child table's values (e.g. conversation tags)."""
    parents = table(pipeline, parent)
    values = table(pipeline, f"{parent}__{child}") if f"{parent}__{child}" in tables(pipeline) else None
    by_parent: dict[str, list] = {}
    if values is not None:
        for row in values.sort_values("_dlt_list_idx").to_dict("records"):
            by_parent.setdefault(row["_dlt_parent_id"], []).append(row["value"])
    return {
        tuple(row[c] for c in key_columns): by_parent.get(row["_dlt_id"], [])
        for row in parents.to_dict("records")
    }


def tables(pipeline: dlt.Pipeline) -> set[str]:
    return set(pipeline.default_schema.data_table_names())


def loaded_messages(pipeline: dlt.Pipeline) -> dict[int, dict]:
    frame = table(pipeline, "messages")
    assert frame["id"].is_unique, "duplicate message ids in the messages table"
    return {
        int(row.id): {
            "conversation_id": row.conversation_id,
            "parent_id": None if pd.isna(row.parent_id) else int(row.parent_id),
            "category": row.category,
            "type": row.type,
            "text": None if pd.isna(row.text) else row.text,
            "action": None if pd.isna(row.action) else row.action,
            "sent_at": epoch(row.sent_at),
            "edited_at": epoch(row.edited_at),
            "deleted_at": epoch(row.deleted_at),
            "updated_at": epoch(row.updated_at),
            "reply_count": None if pd.isna(row.reply_count) else int(row.reply_count),
        }
        for row in frame.itertuples()
    }


def loaded_conversations(pipeline: dlt.Pipeline, conversation_type: str) -> dict[tuple[str, str], dict]:
    name = f"{conversation_type}_conversations"
    frame = table(pipeline, name)
    tags = child_lists(pipeline, name, "tags", ["viewer_uid", "conversation_id"])
    return {
        (row.viewer_uid, row.conversation_id): {
            "unread_message_count": int(row.unread_message_count),
            "tags": tags[(row.viewer_uid, row.conversation_id)],
            "last_message_id": None if pd.isna(row.last_message_id) else int(row.last_message_id),
        }
        for row in frame.itertuples()
    }


def loaded_child_rows(pipeline: dlt.Pipeline, kind: str) -> set[tuple]:
    name = f"messages__{kind}"
    if name not in tables(pipeline):
        return set()
    frame = table(pipeline, name)
    if kind == "entities":
        return {(int(r.message_id), r.role, r.entity_type, r.entity_id) for r in frame.itertuples()}
    if kind == "attachments":
        return {(int(r.message_id), r.url, int(r.size)) for r in frame.itertuples()}
    if kind == "reactions":
        return {(int(r.message_id), r.reaction, int(r.count)) for r in frame.itertuples()}
    if kind == "mentions":
        return {(int(r.message_id), r.uid) for r in frame.itertuples()}
    messages = table(pipeline, "messages").set_index("_dlt_id")["id"]
    return {(int(messages[r["_dlt_parent_id"]]), r["value"]) for r in frame.to_dict("records")}
