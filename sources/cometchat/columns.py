"""Column types of every table, declared up front.

Declared columns exist even when a first load has only nulls in them, and rows may then omit null
fields, which spares dlt's normalizer most of its per-value work.
"""

from dlt.common.schema.typing import TTableSchemaColumns


def _typed(**types: str) -> TTableSchemaColumns:
    return {
        name: {"name": name, "data_type": data_type, "nullable": True} for name, data_type in types.items()
    }  # type: ignore[misc]


_ENTITY = _typed(
    message_id="bigint",
    role="text",
    entity_type="text",
    entity_id="text",
    name="text",
    avatar="text",
    icon="text",
    link="text",
    status="text",
    type="text",
    owner="text",
    scope="text",
    user_role="text",
)

USER_COLUMNS = _typed(
    uid="text",
    name="text",
    avatar="text",
    link="text",
    role="text",
    status="text",
    status_message="text",
    metadata="json",
    created_at="timestamp",
    updated_at="timestamp",
    last_active_at="timestamp",
    deactivated_at="timestamp",
)

GROUP_COLUMNS = _typed(
    guid="text",
    name="text",
    description="text",
    icon="text",
    type="text",
    owner="text",
    members_count="bigint",
    metadata="json",
    created_at="timestamp",
    updated_at="timestamp",
    updated_by="text",
)

MEMBER_COLUMNS = _typed(guid="text", uid="text", scope="text", joined_at="timestamp", group_version="text")
# A row flagged `removed` deletes its group's rows (the merge's scope is its `guid`) and is not stored itself.
MEMBER_COLUMNS["removed"] = {"name": "removed", "data_type": "bool", "nullable": True, "hard_delete": True}

CONVERSATION_COLUMNS = _typed(
    viewer_uid="text",
    conversation_id="text",
    conversation_type="text",
    unread_message_count="bigint",
    created_at="timestamp",
    updated_at="timestamp",
    last_message_id="bigint",
    with_uid="text",
    with_guid="text",
    with_name="text",
)

MESSAGE_COLUMNS = _typed(
    id="bigint",
    conversation_id="text",
    parent_id="bigint",
    sender="text",
    receiver_type="text",
    receiver="text",
    category="text",
    type="text",
    text="text",
    action="text",
    metadata="json",
    custom_data="json",
    sent_at="timestamp",
    updated_at="timestamp",
    edited_at="timestamp",
    edited_by="text",
    deleted_at="timestamp",
    deleted_by="text",
)
# Which copy of a message wins within one load: its `updatedAt`, then whether it was read as it is now
# (from a list) or carried by an action message, then the action's id (see `versions.py`).
MESSAGE_COLUMNS["version_id"] = {"data_type": "bigint", "nullable": False, "dedup_sort": "desc"}

MESSAGE_NESTED_HINTS = {
    "entities": {"columns": _ENTITY},
    "attachments": {
        "columns": _typed(
            message_id="bigint", url="text", name="text", mime_type="text", extension="text", size="bigint"
        )
    },
    "reactions": {"columns": _typed(message_id="bigint", reaction="text", count="bigint")},
    "mentions": {"columns": _typed(message_id="bigint", uid="text", name="text")},
}
