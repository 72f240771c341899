"""Reading tag changes from a CSV file or a DataFrame into change rows, each validated on its own.

A file that cannot be used at all raises `UnusableChangesFile`; a row that cannot be used gets a
rejection reason and the other rows go on. Rules that need the API's current state (a final list
over 25 tags, rows that contradict each other, a viewer outside the conversation) live in plan.py.
"""

import csv
import io
import json
import math
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import pandas as pd

from .. import ids
from ..client import group_path, user_path
from ..errors import CometChatError

REQUIRED_COLUMNS = ("on_behalf_of", "conversation_id", "tags")
MODE_COLUMN = "mode"
ROW_COLUMN = "row"
MODES = ("set", "add", "remove")
DEFAULT_MODE = "set"
TAG_SEPARATOR = ";"
# The API keeps at most 25 tags per conversation, each at most 100 characters.
MAX_TAGS = 25
MAX_TAG_LENGTH = 100
GROUP_PREFIX = "group_"
USER_SEPARATOR = "_user_"
# A row-level problem found while reading the file, carried to validation in a private column.
_SHAPE_ERROR = "__shape_error"
_REPEATED = (MODE_COLUMN,)


class UnusableChangesFile(CometChatError):
    """The changes cannot be used at all (unreadable, wrong encoding, a required column missing, empty)."""


@dataclass(frozen=True, slots=True)
class ConversationRef:
    """The conversation a row addresses, as the viewer's PUT path needs it."""

    conversation_type: str  # "user" or "group"
    conversation_id: (
        str  # canonical: `group_<guid>`, or `<uidA>_user_<uidB>` with the uids in ascending order
    )
    target: str  # the other user's uid, or the guid

    @property
    def path(self) -> str:
        if self.conversation_type == "group":
            return group_path(self.target, "conversation")
        return user_path(self.target, "conversation")


@dataclass(slots=True)
class ChangeRow:
    """One input row: what it asks for, or why it cannot be used."""

    row: int
    on_behalf_of: str
    conversation_id: str
    mode: str
    tags: list[str] = field(default_factory=list)
    ref: ConversationRef | None = None
    error: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        """(viewer, canonical conversation id): conversation tags are per viewer."""
        assert self.ref is not None
        return self.on_behalf_of, self.ref.conversation_id


def read_changes_csv(path: str | PathLike[str]) -> pd.DataFrame:
    """The rows of a changes CSV as strings, with `row` = the file line each record starts on.

    UTF-8 with or without a BOM; Windows or Unix line endings; comma-separated with a header.
    Column names are matched case-insensitively; unknown columns are ignored.

    Raises:
        UnusableChangesFile: the file is unreadable, not UTF-8, not a CSV, lacks a required column or has no rows.
    """
    name = Path(path).name
    try:
        raw = Path(path).read_bytes()
    except OSError as error:
        raise UnusableChangesFile(f"cannot read {path}: {error.strerror or error}") from None
    if raw.startswith(b"PK\x03\x04"):
        raise UnusableChangesFile(f"{name} is a zip file (an Excel workbook?): save it as 'CSV UTF-8' first")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UnusableChangesFile(
            f"{name} is not UTF-8 text (byte 0x{raw[error.start]:02x} at offset {error.start}): "
            "save it as 'CSV UTF-8'"
        ) from None
    if "\x00" in text:
        raise UnusableChangesFile(f"{name} contains NUL bytes (UTF-16?): save it as 'CSV UTF-8'")
    if not text.strip():
        raise UnusableChangesFile(f"{name} is empty")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    del raw, text
    try:
        header = next(reader)
        try:
            columns = _header_columns(header, name)
        except UnusableChangesFile:
            for _ in reader:  # a broken CSV is reported before a missing column
                pass
            raise
        data, shape_errors = _columns(reader, columns)
    except csv.Error as error:
        raise UnusableChangesFile(
            f"{name} is not a valid CSV file (line {reader.line_num}): {error}"
        ) from None
    if not data[ROW_COLUMN]:
        raise UnusableChangesFile(f"{name} has a header but no data rows")
    frame = pd.DataFrame(data, dtype=object)
    if any(shape_errors):
        frame[_SHAPE_ERROR] = shape_errors
    return frame


def _columns(reader: Any, columns: list[str]) -> tuple[dict[str, list[Any]], list[str | None]]:
    """The cells of every non-blank record, column by column, and each record's shape error or None.

    Read record by record: a 100,000-row file is never held as a list of rows besides its columns.
    """
    data: dict[str, list[Any]] = {ROW_COLUMN: [], **{column: [] for column in columns if column}}
    # Trailing optional cells (mode, unknown columns) may be left out; required ones may not.
    needed = max(columns.index(column) for column in REQUIRED_COLUMNS) + 1
    shape_errors: list[str | None] = []
    line = reader.line_num + 1
    for cells in reader:
        start, line = line, reader.line_num + 1
        if not any(cell.strip() for cell in cells):
            continue
        data[ROW_COLUMN].append(start)
        for position, column in enumerate(columns):
            if column:
                # Interned: the same few modes and tag lists repeat over thousands of rows.
                cell = cells[position] if position < len(cells) else ""
                data[column].append(sys.intern(cell) if column in _REPEATED else cell)
        if len(cells) > len(columns):
            shape_errors.append(
                f"the row has {len(cells)} fields but the header has {len(columns)} (quote cells that hold commas)"
            )
        elif len(cells) < needed:
            shape_errors.append(f"the row has {len(cells)} fields; the required columns need {needed}")
        else:
            shape_errors.append(None)
    return data, shape_errors


def _header_columns(header: list[str], name: str) -> list[str]:
    columns = [cell.strip().lower() for cell in header]
    known = [column for column in columns if column in (*REQUIRED_COLUMNS, MODE_COLUMN)]
    duplicated = sorted({column for column in known if known.count(column) > 1})
    if duplicated:
        raise UnusableChangesFile(f"{name} has the column(s) {', '.join(duplicated)} more than once")
    missing = [column for column in REQUIRED_COLUMNS if column not in columns]
    if missing:
        hint = " (the file must be comma-separated)" if len(header) == 1 and ";" in header[0] else ""
        raise UnusableChangesFile(
            f"{name} lacks the required column(s) {', '.join(missing)}{hint}; "
            f"the header must name {', '.join(REQUIRED_COLUMNS)} and optionally {MODE_COLUMN}"
        )
    # Unknown columns (say, the rest of an exported conversation table) are read past.
    return [column if column in (*REQUIRED_COLUMNS, MODE_COLUMN) else "" for column in columns]


def changes_from_frame(
    changes: pd.DataFrame, default_mode: str = DEFAULT_MODE, managed_prefix: str | None = None
) -> list[ChangeRow]:
    """One `ChangeRow` per DataFrame row, in order; rows that cannot be used carry `error`.

    `row` comes from a `row` column when present (read_changes_csv sets it), else the 1-based position.
    `tags` cells may be strings (`a;b` or a JSON array) or lists of strings. With `managed_prefix`, a row
    is the complete set of that prefix's tags for its conversation: only `set` rows whose tags all carry it.

    Raises:
        UnusableChangesFile: a required column is missing or there are no rows.
        ValueError: `default_mode` is not one of set, add, remove.
    """
    if default_mode not in MODES:
        raise ValueError(f"default_mode must be one of {', '.join(MODES)}, not {default_mode!r}")
    frame = changes.rename(columns=lambda column: str(column).strip().lower())
    missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
    if missing:
        raise UnusableChangesFile(f"the changes lack the required column(s) {', '.join(missing)}")
    if frame.columns.duplicated().any():
        raise UnusableChangesFile("the changes name a column more than once")
    if frame.empty and managed_prefix is None:
        # In mirror mode no rows is a complete answer: no conversation keeps a managed tag.
        raise UnusableChangesFile("the changes have no rows")
    rows = []
    names = list(frame.columns)
    tag_lists: dict[str, list[str]] = {}  # one parsed list per distinct cell: the same few repeat
    for position, values in enumerate(zip(*(frame[name].tolist() for name in names), strict=True), start=1):
        record = dict(zip(names, values, strict=True))
        change = _change_row(record, _row_number(record.get(ROW_COLUMN), position), default_mode, tag_lists)
        if managed_prefix is not None and change.error is None:
            change.error = _unmanaged(change, managed_prefix)
        rows.append(change)
    return rows


def _unmanaged(change: ChangeRow, prefix: str) -> str | None:
    if change.mode != "set":
        return f"mode {change.mode} in mirror mode: a row is the complete set of {prefix!r} tags (set)"
    outside = [tag for tag in change.tags if not tag.startswith(prefix)]
    if outside:
        return f"tag {outside[0]!r} lacks the managed prefix {prefix!r}"
    return None


def id_problem(value: str, what: str, in_header: bool = False) -> str | None:
    """Why `value` cannot be sent as a uid or guid (in a URL path, or also in the onBehalfOf header), or None.

    The rule is the client's (sources/cometchat/ids.py): dot segments, slashes, control characters, over-long
    ids, and in a header also characters outside Latin-1; the row carrying one is rejected alone.
    """
    problem = ids.id_problem(value, in_header=in_header)
    return None if problem is None else f"{what} {ids.safe_repr(value)} {problem}"


def _row_number(value: Any, position: int) -> int:
    try:
        return position if _is_missing(value) else int(value)
    except (TypeError, ValueError):
        return position


def _change_row(
    record: dict[str, Any], number: int, default_mode: str, tag_lists: dict[str, list[str]]
) -> ChangeRow:
    # Interned: each uid and conversation id recurs (as viewer, as the other side, for both viewers).
    viewer = sys.intern(_lowered(_text(record.get("on_behalf_of"))))
    conversation_id = sys.intern(_lowered(_text(record.get("conversation_id"))))
    mode_cell = _text(record.get(MODE_COLUMN)).lower()
    mode = mode_cell or default_mode
    change = ChangeRow(number, viewer, conversation_id, mode)
    shape_error = record.get(_SHAPE_ERROR)
    if isinstance(shape_error, str) and shape_error:
        change.error = shape_error
        return change
    if not viewer:
        change.error = "missing value: on_behalf_of"
    elif not conversation_id:
        change.error = "missing value: conversation_id"
    elif mode not in MODES:
        change.error = f"unknown mode {mode_cell!r} (use {', '.join(MODES)})"
    else:
        change.error = id_problem(viewer, "on_behalf_of", in_header=True)
    if change.error:
        return change
    try:
        change.tags = _shared_tags(record.get("tags"), tag_lists)
        change.ref = parse_conversation_id(conversation_id, viewer)
    except ValueError as error:
        change.error = str(error)
        return change
    target_problem = id_problem(change.ref.target, "the conversation's " + _target_name(change.ref))
    if target_problem:
        change.error = target_problem
        change.ref = None
        return change
    if mode != "set" and not change.tags:
        change.error = (
            f"missing value: tags ({mode} needs at least one tag; an empty cell only clears with set)"
        )
    elif len(change.tags) > MAX_TAGS:
        change.error = f"{len(change.tags)} tags; a conversation holds at most {MAX_TAGS}"
    return change


def _shared_tags(value: Any, tag_lists: dict[str, list[str]]) -> list[str]:
    """`parse_tags`, parsed once per distinct cell; the list is shared, so nothing may change it in place."""
    if not isinstance(value, str):
        return parse_tags(value)
    tags = tag_lists.get(value)
    if tags is None:
        tags = tag_lists[value] = parse_tags(value)
    return tags


def parse_tags(value: Any) -> list[str]:
    """Tags from a cell: `a; b` or a JSON array `["a;1", "b"]`, or a list; empty means no tags.

    Each tag is trimmed; duplicates are dropped keeping the first; a blank tag or one over 100
    characters raises ValueError naming it.
    """
    if _is_missing(value):
        return []
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return []
        if text.startswith("["):
            try:
                items = json.loads(text)
            except json.JSONDecodeError as error:
                raise ValueError(
                    f"tags start with '[' but are not a JSON array ({error.msg} at character {error.pos + 1})"
                ) from None
            if not isinstance(items, list):
                raise ValueError("tags start with '[' but are not a JSON array")
        else:
            items = text.split(TAG_SEPARATOR)
    elif isinstance(value, Iterable) and not isinstance(value, bytes | dict):
        items = list(value)
    else:
        items = [str(value)]
    return _clean_tags(items)


def _clean_tags(items: list[Any]) -> list[str]:
    tags: list[str] = []
    for position, item in enumerate(items, start=1):
        if not isinstance(item, str):
            raise ValueError(f"tag {position} is not a string: {item!r}")
        # Interned: the same few tags repeat over thousands of rows, one copy each is enough.
        tag = sys.intern(item.strip())
        if not tag:
            raise ValueError(f"tag {position} is blank")
        if len(tag) > MAX_TAG_LENGTH:
            raise ValueError(
                f"tag {position} has {len(tag)} characters; at most {MAX_TAG_LENGTH} are allowed"
            )
        if tag not in tags:
            tags.append(tag)
    return tags


def _target_name(ref: ConversationRef) -> str:
    return "guid" if ref.conversation_type == "group" else "uid"


def parse_conversation_id(conversation_id: str, viewer: str) -> ConversationRef:
    """`group_<guid>` or `<uidA>_user_<uidB>` as the loaded tables hold it.

    Split on the literal `_user_`, because uids may hold `_`; when the id holds `_user_` more than
    once, the split that puts the viewer on one side wins. A user conversation the viewer is not on
    either side of raises ValueError, as does an id of neither form.
    """
    sides = _user_sides(conversation_id)
    for low, high in sides:
        if viewer in (low, high):
            first, second = sorted((low, high))
            canonical = conversation_id if first == low else sys.intern(f"{first}{USER_SEPARATOR}{second}")
            return ConversationRef("user", canonical, sys.intern(high if viewer == low else low))
    if conversation_id.startswith(GROUP_PREFIX) and len(conversation_id) > len(GROUP_PREFIX):
        return ConversationRef("group", conversation_id, sys.intern(conversation_id[len(GROUP_PREFIX) :]))
    if sides:
        raise ValueError(f"{viewer} is not a participant of the user conversation {conversation_id}")
    raise ValueError(
        f"unparsable conversation_id {conversation_id!r} (expected group_<guid> or <uidA>_user_<uidB>)"
    )


def _user_sides(conversation_id: str) -> list[tuple[str, str]]:
    sides = []
    start = conversation_id.find(USER_SEPARATOR)
    while start != -1:
        low, high = conversation_id[:start], conversation_id[start + len(USER_SEPARATOR) :]
        if low and high:
            sides.append((low, high))
        start = conversation_id.find(USER_SEPARATOR, start + 1)
    return sides


def _lowered(text: str) -> str:
    """Lowercased; the same string object when it already is (100,000 rows need not hold two copies)."""
    lowered = text.lower()
    return text if lowered == text else lowered


def _text(value: Any) -> str:
    return "" if _is_missing(value) else str(value).strip()


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    try:
        return bool(pd.isna(value)) if not isinstance(value, list | tuple | str) else False
    except (TypeError, ValueError):
        return False
