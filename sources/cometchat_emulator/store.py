"""The emulator's state: generated data, lookups, per-viewer conversation rows, and the mutations tests drive."""

from __future__ import annotations

import random
import threading
from array import array
from bisect import bisect_left
from collections.abc import Sequence

from .config import EmulatorConfig
from .content import Content
from .generator import generate
from .model import (
    FLAG_MENTION,
    FLAG_REACTIONS,
    FLAG_TAGS,
    KIND_MESSAGE_ACTION,
    KIND_TEXT,
    Conversation,
    Group,
    MessageColumns,
    User,
    ViewerState,
)
from .profiles import Behaviour
from .selection import MessageQuery, select
from .validation import validate_tags

ConversationRow = tuple[int, int]  # (viewer user index, conversation index)


class Store:
    """All data behind one lock. `version` changes on every mutation so caches know when to rebuild."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.behaviour = Behaviour(frozenset(config.profiles))
        self.lock = threading.RLock()
        self.content = Content(config.seed, config.app_id)
        self.data = generate(config)
        self.version = 0
        self.users_by_uid = {u.uid: u for u in self.data.users}
        self.groups_by_guid = {g.guid: g for g in self.data.groups}
        self.conversations_by_id = {c.conversation_id: c for c in self.data.conversations}
        self._rng = random.Random(config.seed * 7919 + 1)
        self._cache_version = -1
        self._changes_version = -1
        self._changes: list[tuple[int, int]] = []  # (updatedAt, index) of the changed messages, ascending
        self._rows: list[ConversationRow] = []
        self._rows_by_viewer: dict[int, list[int]] = {}
        self._rows_by_type: dict[bool, list[ConversationRow]] = {}
        self._user_list: list[User] = []
        self._group_list: list[Group] = []

    # -- lookups ------------------------------------------------------------------------------------------

    @property
    def messages(self) -> MessageColumns:
        return self.data.messages

    def user(self, uid: str) -> User | None:
        user = self.users_by_uid.get(uid.lower())
        return None if user is None or user.deleted else user

    def group(self, guid: str) -> Group | None:
        group = self.groups_by_guid.get(guid.lower())
        return None if group is None or group.deleted else group

    def message_index(self, message_id: str) -> int | None:
        if not message_id.isdigit():
            return None
        index = int(message_id) - 1
        return index if 0 <= index < len(self.data.messages) else None

    def conv_is_group(self, conv_index: int) -> bool:
        return self.data.conversations[conv_index].is_group

    def pair_conversation(self, a: User, b: User) -> Conversation | None:
        low, high = sorted((a.uid, b.uid))
        return self.conversations_by_id.get(f"{low}_user_{high}")

    def is_participant(self, viewer: int, conv: Conversation) -> bool:
        if conv.is_group:
            group = self.data.groups[conv.a]
            return not group.deleted and viewer in group.members
        return viewer in (conv.a, conv.b) and len(conv.messages) > 0

    def viewer_state(self, viewer: int, conv: Conversation) -> ViewerState:
        return self.data.viewers.setdefault((viewer, conv.index), ViewerState())

    def conversation_created_at(self, viewer: int, conv: Conversation) -> int:
        if conv.is_group:
            member = self.data.groups[conv.a].members.get(viewer)
            return member.joined_at if member else self.data.groups[conv.a].created_at
        return self.data.messages.sent[conv.messages[0]]

    def conversation_updated_at(self, viewer: int, conv: Conversation) -> int:
        created = self.conversation_created_at(viewer, conv)
        last = conv.last_eligible
        return max(created, self.data.messages.sent[last]) if last >= 0 else created

    def last_message(self, conv: Conversation) -> int | None:
        last = conv.last_eligible
        return None if last < 0 or last in self.data.deletes else last

    def conversation_with(self, viewer: int, conv: Conversation) -> str:
        if conv.is_group:
            return self.data.groups[conv.a].guid
        return self.data.users[conv.other(viewer)].uid

    def viewer_sources(self, viewer: int) -> list[Sequence[int]]:
        """Message index lists of every conversation the viewer takes part in."""
        self._refresh()
        convs = self.data.conversations
        return [convs[c].messages for c in self._rows_by_viewer.get(viewer, [])]

    # -- cached lists -------------------------------------------------------------------------------------

    def _refresh(self) -> None:
        if self._cache_version == self.version:
            return
        data = self.data
        self._user_list = sorted((u for u in data.users if not u.deleted), key=lambda u: u.uid)
        self._group_list = sorted((g for g in data.groups if not g.deleted), key=lambda g: g.guid)
        rows = [
            (viewer, conv)
            for (viewer, conv), state in data.viewers.items()
            if not data.users[viewer].deleted
            and not state.deleted
            and self.is_participant(viewer, data.conversations[conv])
        ]

        def app_order(row: ConversationRow) -> tuple:
            viewer, conv = data.users[row[0]], data.conversations[row[1]]
            return (
                viewer.uid,
                self.conversation_updated_at(row[0], conv),
                self.conversation_with(row[0], conv),
            )

        rows.sort(key=app_order)
        self._rows = rows
        by_viewer: dict[int, list[int]] = {}
        for viewer, conv in rows:
            by_viewer.setdefault(viewer, []).append(conv)
        self._rows_by_viewer = by_viewer
        self._rows_by_type = {}
        self._cache_version = self.version

    def users(self) -> list[User]:
        self._refresh()
        return self._user_list

    def groups(self) -> list[Group]:
        self._refresh()
        return self._group_list

    def members(self, group: Group) -> list[tuple[int, int]]:
        """(user index, joinedAt) of live members ordered by joinedAt then uid."""
        users = self.data.users
        return sorted(
            ((u, m.joined_at) for u, m in group.members.items() if not users[u].deleted),
            key=lambda item: (item[1], users[item[0]].uid),
        )

    def app_rows_of_type(self, is_group: bool) -> list[ConversationRow]:
        """The app-wide rows of one conversation type, in app-wide order; kept until the next mutation, as a
        list of millions of rows filtered again for every page would cost more than serving the page."""
        self._refresh()
        rows = self._rows_by_type.get(is_group)
        if rows is None:
            convs = self.data.conversations
            rows = self._rows_by_type[is_group] = [
                row for row in self._rows if convs[row[1]].is_group == is_group
            ]
        return rows

    def conversation_rows(self, viewer: int | None = None, listed: bool = False) -> list[ConversationRow]:
        """App-wide rows by (uid, updatedAt, conversationWith); one viewer's rows by updatedAt desc.

        `listed`: in the order the app-wide list serves them (profile conversations_shifting: newest first).
        """
        self._refresh()
        if viewer is None:
            if listed and "conversations_shifting" in self.behaviour:
                convs = self.data.conversations
                rows = sorted(self._rows, key=lambda row: self.data.users[row[0]].uid)
                rows.sort(key=lambda row: self.conversation_updated_at(row[0], convs[row[1]]), reverse=True)
                return rows
            return self._rows
        convs = self.data.conversations
        rows = [(viewer, c) for c in self._rows_by_viewer.get(viewer, [])]
        rows.sort(key=lambda row: self.conversation_with(viewer, convs[row[1]]))
        rows.sort(key=lambda row: self.conversation_updated_at(viewer, convs[row[1]]), reverse=True)
        return rows

    def select_messages(
        self, sources: list[Sequence[int]] | None, query: MessageQuery, extra: int = 0
    ) -> list[int]:
        columns, deletes = self.data.messages, self.data.deletes
        return select(columns, deletes, self.conv_is_group, sources, query, extra, self.changed_messages)

    def message_updated_at(self, index: int, as_of: int | None = None) -> int:
        """`updatedAt`: the latest of sending, edits, the delete, later reactions and later replies."""
        data, sent = self.data, self.data.messages.sent
        updated = sent[index]
        for action, _ in data.edits.get(index, ()):
            if as_of is None or action <= as_of:
                updated = max(updated, sent[action])
        deleted = data.deletes.get(index)
        if deleted is not None and (as_of is None or deleted <= as_of):
            updated = max(updated, sent[deleted])
        if as_of is None and index in data.late_updates:
            updated = max(updated, data.late_updates[index])
        return updated

    def changed_messages(self, after: int) -> dict[int, int]:
        """index -> updatedAt of the messages changed after they were sent, at or after `after`.

        Kept per data version, ordered by updatedAt, as a server's index would be: worked out again for every
        request, this took 0.5 s at 1M messages, a cost the real API does not have."""
        if self._changes_version != self.version:
            data = self.data
            changed = []
            for index in {*data.edits, *data.deletes, *data.late_updates}:
                updated = self.message_updated_at(index)
                if updated > data.messages.sent[index]:
                    changed.append((updated, index))
            changed.sort()
            self._changes, self._changes_version = changed, self.version
        start = bisect_left(self._changes, (after, -1))
        return {index: updated for updated, index in self._changes[start:]}

    def visible_message(self, index: int) -> bool:
        """Whether a stored row is served at all (profile edits_without_actions hides edit/delete rows)."""
        hidden = "edits_without_actions" in self.behaviour
        return not (hidden and self.data.messages.kind[index] == KIND_MESSAGE_ACTION)

    # -- mutations ----------------------------------------------------------------------------------------

    def _touch(self) -> None:
        self.version += 1

    def resolve_conversation(self, conversation_id: str, create: bool = False) -> Conversation:
        conv = self.conversations_by_id.get(conversation_id.lower())
        if conv is not None:
            if conv.is_group and self.data.groups[conv.a].deleted:
                raise LookupError(f"group of {conversation_id} was deleted")
            return conv
        low, sep, high = conversation_id.lower().partition("_user_")
        a, b = self.user(low), self.user(high) if sep else None
        if not (create and a and b and a.uid < b.uid):
            raise LookupError(f"unknown conversation {conversation_id}")
        conv = Conversation(len(self.data.conversations), conversation_id.lower(), False, a.index, b.index)
        self.data.conversations.append(conv)
        self.conversations_by_id[conv.conversation_id] = conv
        return conv

    def _writers(self, conv: Conversation) -> list[int]:
        users = self.data.users
        if conv.is_group:
            return [u for u in self.data.groups[conv.a].members if not users[u].deleted]
        return [u for u in (conv.a, conv.b) if not users[u].deleted]

    def _random_conversation(self) -> Conversation:
        talkative = [c for c in self.data.conversations if len(c.messages) and len(self._writers(c)) >= 1]
        if not talkative:
            raise ValueError("no conversation can receive messages")
        return self._rng.choice(talkative)

    def add_messages(
        self,
        count: int,
        conversation_id: str | None = None,
        sent_at: int | None = None,
        parent_id: str | None = None,
    ) -> list[str]:
        with self.lock:
            columns = self.data.messages
            newest = columns.sent[-1] if len(columns) else int(self.config.end_time)
            if sent_at is None:
                sent_at = newest + 1
            elif sent_at < newest:
                raise ValueError(
                    f"sent_at {sent_at} is older than the newest message ({newest}); ids follow time"
                )
            parent = -1
            conv: Conversation | None = None
            if parent_id is not None:
                index = self.message_index(str(parent_id))
                if index is None:
                    raise LookupError(f"unknown message {parent_id}")
                if columns.parent[index] >= 0 or columns.kind[index] > 4:
                    raise ValueError("replies attach to a top-level, non-action message")
                parent, conv = index, self.data.conversations[columns.conv[index]]
            elif conversation_id is not None:
                conv = self.resolve_conversation(conversation_id, create=True)
            ids = []
            for _ in range(count):
                target = conv or self._random_conversation()
                ids.append(str(self._append_message(target, sent_at, parent) + 1))
            self._touch()
            return ids

    def _append_message(self, conv: Conversation, sent_at: int, parent: int) -> int:
        rng, cfg = self._rng, self.config
        writers = self._writers(conv)
        if not writers:
            raise ValueError(f"nobody can write in {conv.conversation_id}")
        sender = rng.choice(writers)
        kind = 1 + rng.randrange(4) if rng.random() < cfg.attachment_share else KIND_TEXT
        flags, extra = 0, -1
        if rng.random() < cfg.reaction_share:
            flags |= FLAG_REACTIONS
        if rng.random() < cfg.tag_share:
            flags |= FLAG_TAGS
        others = [u for u in writers if u != sender]
        if kind == KIND_TEXT and others and rng.random() < cfg.mention_share:
            flags |= FLAG_MENTION
            extra = rng.choice(others)
        index = self.data.messages.append(conv.index, sender, sent_at, parent, kind, 0, extra, flags)
        conv.messages.append(index)
        if parent >= 0:
            self.data.replies.setdefault(parent, array("i")).append(index)
            self.data.late_updates[parent] = sent_at  # a later reply changes the parent's replyCount
            return index
        conv.last_eligible = index
        for viewer in writers:
            state = self.viewer_state(viewer, conv)
            state.deleted = False
            if viewer != sender:
                state.unread += 1
        return index

    def _append_action(self, target: int, action: int) -> int:
        columns = self.data.messages
        conv = self.data.conversations[columns.conv[target]]
        sent_at = max(columns.sent[-1], columns.sent[target])
        index = columns.append(
            conv.index, columns.sender[target], sent_at, -1, KIND_MESSAGE_ACTION, action, target, 0
        )
        conv.messages.append(index)
        return index

    def _editable(self, message_id: str) -> int:
        index = self.message_index(str(message_id))
        if index is None:
            raise LookupError(f"unknown message {message_id}")
        if self.data.messages.kind[index] > 4:
            raise ValueError("action messages cannot be edited or deleted")
        if index in self.data.deletes:
            raise ValueError(f"message {message_id} is already deleted")
        return index

    def edit_message(self, message_id: str, text: str) -> str:
        with self.lock:
            index = self._editable(message_id)
            action = self._append_action(index, 0)
            self.data.edits.setdefault(index, []).append((action, text))
            self._touch()
            return str(action + 1)

    def delete_message(self, message_id: str) -> str:
        with self.lock:
            index = self._editable(message_id)
            action = self._append_action(index, 1)
            self.data.deletes[index] = action
            self._touch()
            return str(action + 1)

    def replace_tags(self, viewer: int, conv: Conversation, tags: list[str]) -> None:
        """Replace the viewer's whole tag list; updatedAt stays as it is."""
        with self.lock:
            self.viewer_state(viewer, conv).tags = list(tags)
            self._touch()

    def set_conversation_tags(self, viewer_uid: str, conversation_id: str, tags: object) -> list[str]:
        with self.lock:
            viewer = self.user(viewer_uid)
            if viewer is None:
                raise LookupError(f"unknown user {viewer_uid}")
            conv = self.resolve_conversation(conversation_id)
            if not self.is_participant(viewer.index, conv):
                raise LookupError(f"{viewer_uid} does not take part in {conversation_id}")
            problems = validate_tags(tags)
            if problems or not isinstance(tags, list):
                raise ValueError(f"invalid tags: {problems}")
            self.replace_tags(viewer.index, conv, tags)
            return list(tags)

    def react(self, message_id: str, reaction: str) -> int:
        """A later reaction: no message is appended, the message's reactions and updatedAt change."""
        with self.lock:
            index = self._editable(message_id)
            if not reaction or not isinstance(reaction, str):
                raise ValueError("reaction must be a non-empty string")
            self.data.late_reactions.setdefault(index, []).append(reaction)
            self.data.late_updates[index] = max(self.data.messages.sent[-1], self.data.messages.sent[index])
            self._touch()
            return self.data.late_updates[index]

    def delete_member(self, guid: str, uid: str) -> None:
        with self.lock:
            group, user = self.group(guid), self.user(uid)
            if group is None or user is None or user.index not in group.members:
                raise LookupError(f"{uid} is not a member of {guid}")
            del group.members[user.index]
            self._touch()

    def delete_conversation(self, viewer_uid: str, conversation_id: str) -> None:
        """The viewer deletes the conversation for themselves; it comes back with the next message."""
        with self.lock:
            viewer = self.user(viewer_uid)
            if viewer is None:
                raise LookupError(f"unknown user {viewer_uid}")
            conv = self.resolve_conversation(conversation_id)
            state = self.data.viewers.get((viewer.index, conv.index))
            if state is None or state.deleted or not self.is_participant(viewer.index, conv):
                raise LookupError(f"{viewer_uid} has no conversation {conversation_id}")
            state.deleted = True
            self._touch()

    def shift_oldest_conversation(self, rows: list[ConversationRow]) -> None:
        """Profile conversations_shifting: a new message in the listed rows' oldest conversation."""
        with self.lock:
            if not rows:
                return
            conv = self.data.conversations[rows[-1][1]]
            newest = self.data.messages.sent[-1] if len(self.data.messages) else int(self.config.end_time)
            if self._writers(conv):
                self._append_message(conv, newest + 1, -1)
                self._touch()

    def delete_user(self, uid: str) -> None:
        with self.lock:
            user = self.user(uid)
            if user is None:
                raise LookupError(f"unknown user {uid}")
            user.deleted = True
            for group in self.data.groups:
                group.members.pop(user.index, None)
            self._touch()

    def delete_group(self, guid: str) -> None:
        with self.lock:
            group = self.group(guid)
            if group is None:
                raise LookupError(f"unknown group {guid}")
            group.deleted = True
            self._touch()
