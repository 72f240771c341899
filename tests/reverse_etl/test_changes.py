"""Reading and validating change rows, without HTTP."""

import math

import pandas as pd
import pytest

from sources.cometchat.errors import CometChatError
from sources.cometchat.ids import UnsafeIdError
from sources.cometchat.reverse_etl import UnusableChangesFile, read_changes_csv
from sources.cometchat.reverse_etl.changes import (
    ConversationRef,
    changes_from_frame,
    parse_conversation_id,
    parse_tags,
)

HEADER = "on_behalf_of,conversation_id,tags,mode"


def write(tmp_path, content: bytes | str, name: str = "changes.csv"):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


# -- the file -----------------------------------------------------------------------------------------


def test_bom_and_windows_line_endings_are_fine(tmp_path):
    path = write(
        tmp_path, "\ufeffOn_Behalf_Of,conversation_id,TAGS\r\nalice,group_team,vip;new\r\nbob,group_team,\r\n"
    )
    frame = read_changes_csv(path)
    assert list(frame["on_behalf_of"]) == ["alice", "bob"]
    assert list(frame["tags"]) == ["vip;new", ""]
    assert list(frame["row"]) == [2, 3]


def test_row_numbers_are_file_lines_past_blank_lines_and_multiline_cells(tmp_path):
    path = write(tmp_path, f'{HEADER}\n\na,group_g,"x\ny",set\n,,,\nb,group_g,z,\n')
    frame = read_changes_csv(path)
    assert list(frame["row"]) == [3, 6]
    assert list(frame["on_behalf_of"]) == ["a", "b"]


def test_unknown_columns_are_ignored_and_mode_is_optional(tmp_path):
    path = write(tmp_path, "note,conversation_id,tags,on_behalf_of\nhello,group_g,vip,alice\n")
    frame = read_changes_csv(path)
    assert "note" not in frame.columns
    rows = changes_from_frame(frame)
    assert (rows[0].on_behalf_of, rows[0].mode, rows[0].tags, rows[0].error) == (
        "alice",
        "set",
        ["vip"],
        None,
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b" \r\n\r\n", "is empty"),
        (HEADER.encode() + b"\r\n", "no data rows"),
        (HEADER.encode() + b"\n\n,,,\n", "no data rows"),
        (b"on_behalf_of,tags\nalice,vip\n", "lacks the required column(s) conversation_id"),
        (b"on_behalf_of;conversation_id;tags\nalice;group_g;vip\n", "must be comma-separated"),
        (b"on_behalf_of,conversation_id,tags,Tags\na,group_g,x,y\n", "more than once"),
        (f"{HEADER}\nrené,group_g,été,set\n".encode("latin-1"), "is not UTF-8"),
        (f"{HEADER}\nalice,group_g,vip,set\n".encode("utf-16"), "is not UTF-8"),
        (f"{HEADER}\nalice,group_g,vip,set\n".encode("utf-16-le"), "NUL bytes"),
        (b"PK\x03\x04\x14\x00\x06\x00", "Excel workbook"),
        (f'{HEADER}\nalice,"group_g"x,vip,set\n'.encode(), "not a valid CSV"),
    ],
)
def test_unusable_files_raise_one_clear_error(tmp_path, content, message):
    with pytest.raises(UnusableChangesFile, match=None) as raised:
        read_changes_csv(write(tmp_path, content))
    assert message in str(raised.value)
    assert isinstance(raised.value, CometChatError)


def test_missing_and_unreadable_paths_are_unusable(tmp_path):
    with pytest.raises(UnusableChangesFile, match="cannot read"):
        read_changes_csv(tmp_path / "nope.csv")
    with pytest.raises(UnusableChangesFile, match="cannot read"):
        read_changes_csv(tmp_path)


def test_ragged_rows_are_rejected_alone(tmp_path):
    content = f"{HEADER}\na,group_g,x,y,set\nb,group_g\nc,group_g,z\nd,group_g,w,add\n"
    rows = changes_from_frame(read_changes_csv(write(tmp_path, content)))
    assert [row.row for row in rows] == [2, 3, 4, 5]
    assert "5 fields but the header has 4" in rows[0].error
    assert "required columns need 3" in rows[1].error
    # a left-out trailing mode cell is only the default mode
    assert (rows[2].error, rows[2].mode, rows[2].tags) == (None, "set", ["z"])
    assert (rows[3].error, rows[3].mode) == (None, "add")


# -- tags -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "tags"),
    [
        ("vip", ["vip"]),
        (" vip ; new;vip ;  old ", ["vip", "new", "old"]),
        ("", []),
        ("   ", []),
        (None, []),
        (math.nan, []),
        ('["a;b", " c ", "a;b"]', ["a;b", "c"]),
        ("[]", []),
        (["x", " y", "x"], ["x", "y"]),
        (("x",), ["x"]),
        ("🔥 hot;résolu", ["🔥 hot", "résolu"]),
        ("x" * 100, ["x" * 100]),
        (2024, ["2024"]),
    ],
)
def test_tags_are_trimmed_and_deduplicated_in_order(cell, tags):
    assert parse_tags(cell) == tags


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("a;;b", "tag 2 is blank"),
        ("a; ", "tag 2 is blank"),
        ('["a", "  "]', "tag 2 is blank"),
        ("a;" + "x" * 101, "tag 2 has 101 characters"),
        ('["a", 1]', "tag 2 is not a string"),
        ('["a", "b"', "not a JSON array"),
        ("[urgent]", "not a JSON array"),
        (["a", None], "tag 2 is not a string"),
    ],
)
def test_bad_tags_name_the_problem(cell, message):
    with pytest.raises(ValueError, match=None) as raised:
        parse_tags(cell)
    assert message in str(raised.value)


# -- conversation ids -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("conversation_id", "viewer", "ref"),
    [
        ("group_team-1", "alice", ConversationRef("group", "group_team-1", "team-1")),
        ("group_data_eng-5", "alice", ConversationRef("group", "group_data_eng-5", "data_eng-5")),
        ("alice_user_bob", "alice", ConversationRef("user", "alice_user_bob", "bob")),
        ("alice_user_bob", "bob", ConversationRef("user", "alice_user_bob", "alice")),
        # the other order is the same conversation; the canonical id sorts the uids
        ("bob_user_alice", "alice", ConversationRef("user", "alice_user_bob", "bob")),
        (
            "data_eng_11_user_qa_bot-9",
            "data_eng_11",
            ConversationRef("user", "data_eng_11_user_qa_bot-9", "qa_bot-9"),
        ),
        # `_user_` inside a uid: the split that puts the viewer on one side wins
        ("power_user_x_user_zed", "zed", ConversationRef("user", "power_user_x_user_zed", "power_user_x")),
        ("power_user_x_user_zed", "power", ConversationRef("user", "power_user_x_user_zed", "x_user_zed")),
        (
            "group_power_user_club",
            "alice",
            ConversationRef("group", "group_power_user_club", "power_user_club"),
        ),
    ],
)
def test_conversation_ids_split_on_user_token(conversation_id, viewer, ref):
    assert parse_conversation_id(conversation_id, viewer) == ref


def test_paths_percent_encode_ids():
    assert ConversationRef("user", "a_user_b c", "b c").path == "users/b%20c/conversation"
    assert ConversationRef("group", "group_x?y", "x?y").path == "groups/x%3Fy/conversation"


@pytest.mark.parametrize("guid", [".", "..", "x/y"])
def test_paths_are_never_built_from_ids_a_url_cannot_hold(guid):
    with pytest.raises(UnsafeIdError):
        _ = ConversationRef("group", f"group_{guid}", guid).path


@pytest.mark.parametrize(
    ("conversation_id", "message"),
    [
        ("alice", "unparsable"),
        ("group_", "unparsable"),
        ("_user_bob", "unparsable"),
        ("alice_user_", "unparsable"),
        ("user_alice", "unparsable"),
        ("carol_user_dave", "alice is not a participant of the user conversation carol_user_dave"),
    ],
)
def test_bad_conversation_ids(conversation_id, message):
    with pytest.raises(ValueError, match=None) as raised:
        parse_conversation_id(conversation_id, "alice")
    assert message in str(raised.value)


# -- rows -----------------------------------------------------------------------------------------------


def frame(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


def test_rows_are_validated_one_by_one():
    rows = changes_from_frame(
        frame(
            {"on_behalf_of": " Alice ", "conversation_id": "GROUP_Team", "tags": "vip", "mode": ""},
            {"on_behalf_of": "", "conversation_id": "group_team", "tags": "vip", "mode": None},
            {"on_behalf_of": "alice", "conversation_id": None, "tags": "vip", "mode": "add"},
            {"on_behalf_of": "alice", "conversation_id": "group_team", "tags": "vip", "mode": "replace"},
            {"on_behalf_of": "alice", "conversation_id": "group_team", "tags": "", "mode": "add"},
            {"on_behalf_of": "alice", "conversation_id": "group_team", "tags": None, "mode": " Remove "},
            {"on_behalf_of": "alice", "conversation_id": "group_team", "tags": ";".join(map(str, range(26)))},
            {"on_behalf_of": "alice", "conversation_id": "nonsense", "tags": "x"},
            {"on_behalf_of": "alice", "conversation_id": "group_team", "tags": "", "mode": "set"},
        ),
        default_mode="set",
    )
    assert [row.row for row in rows] == list(range(1, 10))
    first = rows[0]
    assert (first.on_behalf_of, first.conversation_id, first.mode, first.tags, first.error) == (
        "alice",
        "group_team",
        "set",
        ["vip"],
        None,
    )
    assert rows[1].error == "missing value: on_behalf_of"
    assert rows[2].error == "missing value: conversation_id"
    assert rows[3].error.startswith("unknown mode 'replace'")
    assert rows[4].error.startswith("missing value: tags (add needs at least one tag")
    assert rows[5].error.startswith("missing value: tags (remove needs")
    assert rows[6].error == "26 tags; a conversation holds at most 25"
    assert rows[7].error.startswith("unparsable conversation_id 'nonsense'")
    assert (rows[8].error, rows[8].tags) == (None, [])


def test_default_mode_applies_to_empty_mode_cells_only():
    rows = changes_from_frame(
        frame(
            {"on_behalf_of": "a", "conversation_id": "group_g", "tags": "x"},
            {"on_behalf_of": "a", "conversation_id": "group_h", "tags": "x", "mode": "set"},
        ),
        default_mode="add",
    )
    assert [row.mode for row in rows] == ["add", "set"]


def test_a_row_column_numbers_the_rows():
    rows = changes_from_frame(
        frame({"row": 7, "on_behalf_of": "a", "conversation_id": "group_g", "tags": "x"}),
    )
    assert rows[0].row == 7


def test_unusable_frames():
    with pytest.raises(UnusableChangesFile, match="lack the required column"):
        changes_from_frame(frame({"on_behalf_of": "a", "tags": "x"}))
    with pytest.raises(UnusableChangesFile, match="no rows"):
        changes_from_frame(pd.DataFrame(columns=["on_behalf_of", "conversation_id", "tags"]))
    with pytest.raises(ValueError, match="default_mode"):
        changes_from_frame(frame({"on_behalf_of": "a", "conversation_id": "group_g", "tags": "x"}), "merge")


@pytest.mark.parametrize(
    ("viewer", "conversation_id", "message"),
    [
        ("ユーザー", "group_team", "on_behalf_of 'ユーザー' cannot be sent in an HTTP header"),
        ("bad\r\nuid", "group_team", "contains a control character"),
        ("tab\tuid", "group_team", "contains a control character"),
        ("zero\u200bwidth", "group_team", "contains a control character"),
        (".", "group_team", "on_behalf_of '.' is a dot segment"),
        ("alice", "group_.", "the conversation's guid '.' is a dot segment"),
        ("alice", "alice_user_..", "the conversation's uid '..' is a dot segment"),
        ("alice", "group_te\x07am", "contains a control character"),
        ("alice", "group_a/b", "the conversation's guid 'a/b' contains a slash"),
        ("alice", "alice_user_b\\c", "contains a slash"),
        ("alice", "group_" + "g" * 101, "the conversation's guid 'ggg"),
    ],
)
def test_ids_that_cannot_be_sent_reject_their_row_only(viewer, conversation_id, message):
    rows = changes_from_frame(
        frame(
            {"on_behalf_of": viewer, "conversation_id": conversation_id, "tags": "x"},
            {"on_behalf_of": "alice", "conversation_id": "group_team", "tags": "x"},
        )
    )
    assert message in rows[0].error and rows[0].ref is None
    assert rows[1].error is None


@pytest.mark.parametrize("viewer", ["café", "a@b", "user.name"])
def test_ids_outside_the_documented_alphabet_that_a_request_can_carry_are_kept(viewer):
    # older apps hold such uids; the API decides, row by row, whether they exist
    [row] = changes_from_frame(frame({"on_behalf_of": viewer, "conversation_id": "group_team", "tags": "x"}))
    assert row.error is None and row.on_behalf_of == viewer
