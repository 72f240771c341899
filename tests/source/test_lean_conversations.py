"""The conversation lists decoded field by field shape into exactly the rows a whole parse gives, on the
emulator's conversations of both types (over real HTTP)."""

import pytest

from sources.cometchat.client import CometChatClient
from sources.cometchat.shaping import CONVERSATION_FIELDS, shape_conversation

from .conftest import emulator_credentials


@pytest.mark.parametrize("conversation_type", ["user", "group"])
def test_lean_pages_shape_like_whole_pages(emulator, conversation_type):
    client = CometChatClient(emulator_credentials(emulator), requests_per_minute=1e9)
    params = {"conversationType": conversation_type, "withTags": "true"}
    whole = [row for page in client.pages("conversations", params, ahead=True) for row in page]
    lean = [
        row
        for page in client.pages("conversations", params, ahead=True, decode=CONVERSATION_FIELDS)
        for row in page
    ]
    shaped = [shape_conversation(row["uid"], row) for row in whole]
    assert len(shaped) > 10
    assert any(row.get("tags") for row in shaped) and any(row.get("last_message_id") for row in shaped)
    assert [shape_conversation(row["uid"], row) for row in lean] == shaped
    # It did decode field by field: the rows hold only the fields the shape reads.
    assert all("lastMessage" not in row or set(row["lastMessage"] or {}) <= {"id"} for row in lean)
    assert any(
        len(row.get("lastMessage") or {}) < len(whole_row.get("lastMessage") or {})
        for row, whole_row in zip(lean, whole, strict=True)
    )
