"""API-shaped payloads built from the store. Entity dicts are cached and shared, messages are built on demand."""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

from .model import (
    APP_SYSTEM,
    FLAG_MENTION,
    FLAG_METADATA,
    FLAG_REACTIONS,
    FLAG_TAGS,
    KIND_MEMBER_ACTION,
    KIND_MESSAGE_ACTION,
    KIND_TEXT,
    MEMBER_ACTIONS,
    MESSAGE_ACTIONS,
    MESSAGE_TYPES,
    SCOPES,
    Conversation,
    Group,
)
from .store import Store

APP_SYSTEM_ENTITY = {
    "uid": "app_system",
    "name": "System",
    "role": "default",
    "status": "offline",
    "createdAt": 1596537299,
}
RECEIPTS = {"data": [[]]}


class Renderer:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._version = -1
        self._user_entities: dict[int, dict] = {}
        self._sender_wraps: dict[int, dict] = {}
        self._receiver_wraps: dict[int, tuple[str, dict]] = {}
        self._group_entities: dict[int, dict] = {}
        self._user_items: dict[int, dict] = {}

    def _sync(self) -> None:
        # Entities hold membersCount and membership; rebuild them lazily after any mutation.
        if self._version != self.store.version:
            self._user_entities.clear()
            self._sender_wraps.clear()
            self._receiver_wraps.clear()
            self._group_entities.clear()
            self._user_items.clear()
            self._version = self.store.version

    # -- users and groups ---------------------------------------------------------------------------------

    def uid(self, user: int) -> str:
        return "app_system" if user == APP_SYSTEM else self.store.data.users[user].uid

    def user_entity(self, user: int) -> dict[str, Any]:
        """The compact user object nested in messages (`data.entities.*.entity`, mentions)."""
        if user == APP_SYSTEM:
            return APP_SYSTEM_ENTITY
        entity = self._user_entities.get(user)
        if entity is None:
            u = self.store.data.users[user]
            entity = {"uid": u.uid, "name": u.name, "avatar": u.avatar}
            if u.link:
                entity["link"] = u.link
            entity.update(status=u.status, role=u.role, createdAt=u.created_at)
            if u.updated_at:
                entity["updatedAt"] = u.updated_at
            self._user_entities[user] = entity
        return entity

    def user(self, user: int, with_tags: bool = False) -> dict[str, Any]:
        """A user as GET /users and GET /users/{uid} list it."""
        self._sync()
        item = self._user_items.get(user)
        if item is None:
            u = self.store.data.users[user]
            item = {"uid": u.uid, "name": u.name, "avatar": u.avatar}
            if u.link:
                item["link"] = u.link
            if u.metadata:
                item["metadata"] = u.metadata
            item.update(status=u.status, role=u.role)
            if u.status_message:
                item["statusMessage"] = u.status_message
            item["createdAt"] = u.created_at
            if u.updated_at:
                item["updatedAt"] = u.updated_at
            if u.last_active_at:
                item["lastActiveAt"] = u.last_active_at
            self._user_items[user] = item
        if with_tags and self.store.data.users[user].tags:
            return {**item, "tags": list(self.store.data.users[user].tags)}
        return item

    def group_entity(self, group: int) -> dict[str, Any]:
        entity = self._group_entities.get(group)
        if entity is None:
            g = self.store.data.groups[group]
            entity = {"guid": g.guid, "name": g.name}
            if g.description:
                entity["description"] = g.description
            entity.update(
                icon=g.icon, type=g.type, owner=self.uid(g.owner), membersCount=self._members_count(g)
            )
            entity["createdAt"] = g.created_at
            if g.updated_at:
                entity["updatedAt"] = g.updated_at
            if g.updated_by is not None:
                entity["updatedBy"] = self.uid(g.updated_by)
            entity["conversationId"] = g.conversation_id
            self._group_entities[group] = entity
        return entity

    def _members_count(self, g: Group) -> int:
        users = self.store.data.users
        return sum(1 for u in g.members if not users[u].deleted)

    def group(self, group: int, with_tags: bool = False, viewer: int | None = None) -> dict[str, Any]:
        """A group as GET /groups lists it; with a viewer, also hasJoined (and scope/joinedAt when joined)."""
        self._sync()
        item = self.group_entity(group)
        g = self.store.data.groups[group]
        extra: dict[str, Any] = {}
        if viewer is not None:
            member = g.members.get(viewer)
            extra["hasJoined"] = member is not None
            if member is not None:
                extra.update(scope=member.scope, joinedAt=member.joined_at)
        if with_tags and g.tags:
            extra["tags"] = list(g.tags)
        return {**item, **extra} if extra else item

    def member(self, group: int, user: int, joined_at: int) -> dict[str, Any]:
        self._sync()
        scope = self.store.data.groups[group].members[user].scope
        return {**self.user(user), "scope": scope, "joinedAt": joined_at}

    # -- messages -----------------------------------------------------------------------------------------

    def _sender_wrap(self, user: int) -> dict[str, Any]:
        wrap = self._sender_wraps.get(user)
        if wrap is None:
            wrap = {"entity": self.user_entity(user), "entityType": "user"}
            self._sender_wraps[user] = wrap
        return wrap

    def _receiver_wrap(self, conv: Conversation, sender: int) -> tuple[str, dict[str, Any]]:
        """(receiver id, wrapped receiver entity) of a message in `conv` sent by `sender`."""
        # One cache slot per (conversation, direction): 2*index for group/`a` receives, 2*index+1 for `b`.
        to_b = not conv.is_group and sender == conv.a
        key = 2 * conv.index + to_b
        cached = self._receiver_wraps.get(key)
        if cached is not None:
            return cached
        if conv.is_group:
            group = self.store.data.groups[conv.a]
            cached = group.guid, {"entity": self.group_entity(conv.a), "entityType": "group"}
        else:
            receiver = conv.b if to_b else conv.a
            entity = {**self.user_entity(receiver), "conversationId": conv.conversation_id}
            cached = self.store.data.users[receiver].uid, {"entity": entity, "entityType": "user"}
        self._receiver_wraps[key] = cached
        return cached

    def message(self, index: int, with_tags: bool = False) -> dict[str, Any]:
        """A message as GET /messages lists it."""
        self._sync()
        return self._message(index, with_tags)

    def messages(self, indices: list[int], with_tags: bool = False) -> list[dict[str, Any]]:
        self._sync()
        render = self._message
        return [render(i, with_tags) for i in indices]

    def _message(self, index: int, with_tags: bool) -> dict[str, Any]:
        kind = self.store.data.messages.kind[index]
        if kind == KIND_MEMBER_ACTION:
            return self._member_action(index)
        if kind == KIND_MESSAGE_ACTION:
            return self._message_action(index, with_tags)
        return self._normal(index, kind, with_tags, None)

    def _normal(self, index: int, kind: int, with_tags: bool, as_of: int | None) -> dict[str, Any]:
        """A category-"message" row; `as_of` renders the state a later edit/delete action saw."""
        store = self.store
        columns, content = store.data.messages, store.content
        conv = store.data.conversations[columns.conv[index]]
        sender = columns.sender[index]
        flags = columns.flags[index]
        sent = columns.sent[index]
        receiver, receiver_wrap = self._receiver_wrap(conv, sender)
        edits = store.data.edits.get(index)
        edit = None
        if edits:
            seen = [e for e in edits if as_of is None or e[0] <= as_of]
            edit = seen[-1] if seen else None
        data: dict[str, Any] = {}
        if kind == KIND_TEXT or edit is not None:
            if edit is not None:
                text = edit[1] if edit[1] is not None else content.edited_text(index)
            else:
                text = content.text(index)
            if flags & FLAG_MENTION and (edit is None or edit[1] is None):
                text = f"<@uid:{store.data.users[columns.extra[index]].uid}> {text}"
            data["text"] = text
        if kind != KIND_TEXT:
            data["attachments"] = [content.attachment(index, MESSAGE_TYPES[kind])]
        if flags & FLAG_METADATA:
            data["metadata"] = content.metadata(index)
        if flags & FLAG_MENTION:
            mentioned = columns.extra[index]
            data["mentions"] = {store.data.users[mentioned].uid: self.user_entity(mentioned)}
        reactions = content.reactions(index) if flags & FLAG_REACTIONS else []
        if as_of is None and index in store.data.late_reactions:
            reactions = _add_reactions(reactions, store.data.late_reactions[index])
        if reactions:
            data["reactions"] = reactions
        data["entities"] = {"sender": self._sender_wrap(sender), "receiver": receiver_wrap}
        message: dict[str, Any] = {
            "id": str(index + 1),
            "conversationId": conv.conversation_id,
            "sender": self.uid(sender),
            "receiverType": "group" if conv.is_group else "user",
            "receiver": receiver,
            "category": "message",
            "type": MESSAGE_TYPES[kind],
            "data": data,
            "sentAt": sent,
            "updatedAt": sent,
        }
        parent = columns.parent[index]
        if parent >= 0:
            message["parentId"] = str(parent + 1)
        replies = store.data.replies.get(index)
        if replies:
            count = len(replies) if as_of is None else bisect_right(replies, as_of)
            if count:
                message["replyCount"] = count
        if edit is not None:
            edited_at = columns.sent[edit[0]]
            message.update(editedAt=edited_at, editedBy=self.uid(columns.sender[edit[0]]))
        deleted = store.data.deletes.get(index)
        if deleted is not None and (as_of is None or deleted <= as_of):
            deleted_at = columns.sent[deleted]
            message.update(deletedAt=deleted_at, deletedBy=self.uid(columns.sender[deleted]))
        message["updatedAt"] = store.message_updated_at(index, as_of)
        if with_tags and flags & FLAG_TAGS:
            message["tags"] = content.tags(index)
        return message

    def _action_envelope(self, index: int, conv: Conversation, receiver: str, data: dict, kind: str) -> dict:
        columns = self.store.data.messages
        sent = columns.sent[index]
        return {
            "id": str(index + 1),
            "conversationId": conv.conversation_id,
            "sender": self.uid(columns.sender[index]),
            "receiverType": "group" if conv.is_group else "user",
            "receiver": receiver,
            "category": "action",
            "type": kind,
            "data": data,
            "sentAt": sent,
            "updatedAt": sent,
        }

    def _member_action(self, index: int) -> dict[str, Any]:
        store = self.store
        columns = store.data.messages
        conv = store.data.conversations[columns.conv[index]]
        by, on = columns.sender[index], columns.extra[index]
        on_entity = self.user_entity(on)
        if by not in (on, APP_SYSTEM):
            low, high = sorted((self.uid(by), self.uid(on)))
            on_entity = {**on_entity, "conversationId": f"{low}_user_{high}"}
        action = MEMBER_ACTIONS[columns.sub[index]]
        data: dict[str, Any] = {
            "action": action,
            "entities": {
                "by": self._sender_wrap(by),
                "on": {"entity": on_entity, "entityType": "user"},
                "for": {"entity": self.group_entity(conv.a), "entityType": "group"},
            },
        }
        if action == "scopeChanged":
            flags = columns.flags[index]
            data["extras"] = {"scope": {"new": SCOPES[flags & 3], "old": SCOPES[flags >> 2]}}
        guid = store.data.groups[conv.a].guid
        return self._action_envelope(index, conv, guid, data, "groupMember")

    def _message_action(self, index: int, with_tags: bool) -> dict[str, Any]:
        store = self.store
        columns = store.data.messages
        target = columns.extra[index]
        conv = store.data.conversations[columns.conv[target]]
        receiver, receiver_wrap = self._receiver_wrap(conv, columns.sender[target])
        data = {
            "action": MESSAGE_ACTIONS[columns.sub[index]],
            "entities": {
                "by": self._sender_wrap(columns.sender[index]),
                "for": receiver_wrap,
                "on": {
                    "entity": self._normal(target, columns.kind[target], with_tags, as_of=index),
                    "entityType": "message",
                },
            },
        }
        return self._action_envelope(index, conv, receiver, data, "message")

    # -- conversations ------------------------------------------------------------------------------------

    def conversation(
        self,
        viewer: int,
        conv: Conversation,
        *,
        with_tags: bool,
        receipts: bool,
        include_uid: bool = False,
        entity_tags: bool = False,
    ) -> dict[str, Any]:
        self._sync()
        store = self.store
        state = store.viewer_state(viewer, conv)
        row: dict[str, Any] = {
            "conversationId": conv.conversation_id,
            "conversationType": "group" if conv.is_group else "user",
            "unreadMessageCount": str(state.unread),
            "createdAt": store.conversation_created_at(viewer, conv),
            "updatedAt": store.conversation_updated_at(viewer, conv),
        }
        last = store.last_message(conv)
        if last is not None:
            message = self.message(last)
            row["lastMessage"] = {**message, "receipts": RECEIPTS} if receipts else message
        row["conversationWith"] = self._conversation_with(viewer, conv, entity_tags)
        if with_tags:
            row["tags"] = list(state.tags)
        if include_uid:
            row["uid"] = store.data.users[viewer].uid
        return row

    def _conversation_with(self, viewer: int, conv: Conversation, entity_tags: bool) -> dict[str, Any]:
        data = self.store.data
        if not conv.is_group:
            other = conv.other(viewer)
            item = {**self.user(other), "conversationId": conv.conversation_id}
            if entity_tags and data.users[other].tags:
                item["tags"] = list(data.users[other].tags)
            return item
        g = data.groups[conv.a]
        member = g.members[viewer]
        item = {"guid": g.guid, "name": g.name}
        if g.description:
            item["description"] = g.description
        item.update(
            icon=g.icon,
            type=g.type,
            scope=member.scope,
            membersCount=self._members_count(g),
            joinedAt=member.joined_at,
            conversationId=g.conversation_id,
            hasJoined=True,
            createdAt=g.created_at,
            owner=self.uid(g.owner),
        )
        if g.updated_at:
            item["updatedAt"] = g.updated_at
        if g.updated_by is not None:
            item["updatedBy"] = self.uid(g.updated_by)
        if entity_tags and g.tags:
            item["tags"] = list(g.tags)
        return item

    # -- ground truth -------------------------------------------------------------------------------------

    def truth_without_messages(self) -> dict[str, Any]:
        """Everything the emulator holds except messages, shaped like the API (see README)."""
        self._sync()
        store = self.store
        users = [self.user(u.index, with_tags=True) for u in store.users()]
        groups = [self.group(g.index, with_tags=True) for g in store.groups()]
        members = [
            {"guid": g.guid, "uid": store.data.users[u].uid, "scope": g.members[u].scope, "joinedAt": joined}
            for g in store.groups()
            for u, joined in store.members(g)
        ]
        conversations = []
        for viewer, conv_index in store.conversation_rows():
            conv = store.data.conversations[conv_index]
            state = store.viewer_state(viewer, conv)
            last = store.last_message(conv)
            conversations.append(
                {
                    "viewer": store.data.users[viewer].uid,
                    "conversationId": conv.conversation_id,
                    "conversationType": "group" if conv.is_group else "user",
                    "unreadMessageCount": state.unread,
                    "tags": list(state.tags),
                    "lastMessageId": None if last is None else str(last + 1),
                    "createdAt": store.conversation_created_at(viewer, conv),
                    "updatedAt": store.conversation_updated_at(viewer, conv),
                    "with": store.conversation_with(viewer, conv),
                }
            )
        return {"users": users, "groups": groups, "members": members, "conversations": conversations}


def _add_reactions(reactions: list[dict], added: list[str]) -> list[dict]:
    """The generated reactions plus later ones, one count per later reaction."""
    counts = {item["reaction"]: item["count"] for item in reactions}
    for emoji in added:
        counts[emoji] = counts.get(emoji, 0) + 1
    return [{"reaction": emoji, "count": count} for emoji, count in counts.items()]
