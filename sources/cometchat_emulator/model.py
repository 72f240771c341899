"""In-memory records: small objects for users, groups and conversations; parallel int arrays for messages."""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

APP_SYSTEM = -1  # sender index of messages sent by the system user `app_system`

# Message kinds (the `kind` column). 0-4 are category "message" with the matching type.
MESSAGE_TYPES = ("text", "image", "file", "audio", "video")
KIND_TEXT = 0
KIND_MEMBER_ACTION = 5  # category "action", type "groupMember"
KIND_MESSAGE_ACTION = 6  # category "action", type "message" (edited / deleted)
MEMBER_ACTIONS = ("joined", "added", "kicked", "left", "scopeChanged", "banned", "unbanned")
MESSAGE_ACTIONS = ("edited", "deleted")
SCOPES = ("participant", "moderator", "admin")

# Bits of the `flags` column for normal messages.
FLAG_METADATA = 1
FLAG_REACTIONS = 2
FLAG_TAGS = 4
FLAG_MENTION = 8  # `extra` holds the mentioned user's index


@dataclass
class User:
    index: int
    uid: str
    name: str
    avatar: str
    role: str
    status: str
    created_at: int
    link: str | None = None
    metadata: dict[str, Any] | None = None
    status_message: str | None = None
    updated_at: int | None = None
    last_active_at: int | None = None
    tags: list[str] = field(default_factory=list)
    deleted: bool = False


@dataclass
class Member:
    scope: str
    joined_at: int


@dataclass
class Group:
    index: int
    guid: str
    name: str
    description: str
    icon: str
    type: str
    owner: int  # user index
    created_at: int
    updated_at: int | None = None
    updated_by: int | None = None
    tags: list[str] = field(default_factory=list)
    members: dict[int, Member] = field(default_factory=dict)  # user index -> membership, in join order
    deleted: bool = False

    @property
    def conversation_id(self) -> str:
        return f"group_{self.guid}"


@dataclass(slots=True)  # no per-instance dict: millions of them in a conversation-rich app
class Conversation:
    """A 1-on-1 pair (`a`, `b` user indices, uid(a) < uid(b)) or a group (`a` = group index, `b` = -1)."""

    index: int
    conversation_id: str
    is_group: bool
    a: int
    b: int = -1
    messages: array = field(default_factory=lambda: array("i"))
    last_eligible: int = -1  # newest message that may be `lastMessage`: top level, not an edit/delete action

    def other(self, viewer: int) -> int:
        return self.b if viewer == self.a else self.a


@dataclass(slots=True)
class ViewerState:
    """Per (viewer, conversation): the unread count and the viewer's own conversation tags."""

    unread: int = 0
    # Replaced whole, never changed in place: the shared empty tuple saves a list per row of a large app.
    tags: Sequence[str] = ()
    deleted: bool = False  # the viewer deleted the conversation; a new message brings it back


class MessageColumns:
    """Messages as parallel arrays; index i is the message with id str(i + 1), sorted by (sentAt, id)."""

    __slots__ = ("conv", "extra", "flags", "kind", "parent", "sender", "sent", "sub")

    def __init__(self) -> None:
        self.conv = array("i")
        self.sender = array("i")
        self.sent = array("q")
        self.parent = array("i")
        self.kind = array("b")
        self.sub = array("b")  # action code (MEMBER_ACTIONS / MESSAGE_ACTIONS index)
        self.extra = array("i")  # mention target, action target user, or edited/deleted message index
        self.flags = array("b")  # FLAG_* bits, or old<<2|new scope codes for scopeChanged

    def __len__(self) -> int:
        return len(self.sent)

    def append(
        self, conv: int, sender: int, sent: int, parent: int, kind: int, sub: int, extra: int, flags: int
    ) -> int:
        self.conv.append(conv)
        self.sender.append(sender)
        self.sent.append(sent)
        self.parent.append(parent)
        self.kind.append(kind)
        self.sub.append(sub)
        self.extra.append(extra)
        self.flags.append(flags)
        return len(self.sent) - 1


@dataclass
class Dataset:
    users: list[User]
    groups: list[Group]
    conversations: list[Conversation]
    messages: MessageColumns
    # message index -> [(action message index, replacement text or None for the generated edit text)]
    edits: dict[int, list[tuple[int, str | None]]] = field(default_factory=dict)
    deletes: dict[int, int] = field(default_factory=dict)  # message index -> delete action index
    replies: dict[int, array] = field(default_factory=dict)  # parent index -> reply indices
    viewers: dict[tuple[int, int], ViewerState] = field(default_factory=dict)  # (user, conversation)
    # Changes that append no message: later reactions (message index -> emoji list) and the time of the
    # newest later reaction or reply (message index -> updatedAt).
    late_reactions: dict[int, list[str]] = field(default_factory=dict)
    late_updates: dict[int, int] = field(default_factory=dict)
