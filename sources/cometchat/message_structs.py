"""Messages as compact structs: pages of messages decoded straight into them, and any other message adapted.

A page of 1,000 messages is about 1 MB of JSON. Parsed whole it becomes some 30,000 dicts, most of them the
fields of the sender and receiver entities that no table keeps (a user's `createdAt`, a group's
`description`, ...). msgspec decodes a page into the structs below instead, on the page reader threads: it
skips those entity fields, builds no dict per message, and `MessagePages` reads attributes instead of keys.

Nothing is lost. `Message` and its `data` declare every field the API documents, and refuse any other. A page
with a field they do not declare (one the API added later), or a value of another shape (`data` or an entity
role that is not an object), is parsed whole by orjson as before, and `as_message` adapts each of its messages:
undeclared fields are kept in `unknown` and land as columns of their own, as they did. `on`, which carries the
edited message in an edit action, is kept whole. The messages that action messages carry and `GET
/messages/{id}` returns are dicts, adapted where they are reshaped. One difference from orjson is kept: an
integer past 64 bits stays exact (orjson made it a float); it is written to JSON columns as it is.

The structs answer `get`, `[...]`, `in` and `items()` over the API's field names, for the code that reads a
message's cursor fields whichever way its page was parsed. A field absent or null reads as None; `[...]`
raises KeyError only for a name no field declares.
"""

from collections.abc import Iterator
from operator import attrgetter
from typing import Any, ClassVar, TypeVar

import msgspec
import orjson

_OPTIONS: dict[str, Any] = {"gc": False, "omit_defaults": True}
# The JSON name of the fields that only `as_message` sets (msgspec decodes every field by some name; no API
# answer uses this one).
_ADAPTED_ONLY = "cometchat-connector:adapted-"


class _DictLike(msgspec.Struct, **_OPTIONS):
    """`get`, `[...]`, `in` and `items()` over the JSON names of the fields; an absent field reads as None."""

    _NAMES: ClassVar[dict[str, str]] = {}  # JSON name -> attribute, set by `_named`

    def get(self, key: str, default: Any = None) -> Any:
        attribute = self._NAMES.get(key)
        value = None if attribute is None else getattr(self, attribute)
        return default if value is None else value

    def __getitem__(self, key: str) -> Any:
        attribute = self._NAMES.get(key)
        if attribute is None:
            raise KeyError(key)
        return getattr(self, attribute)

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self.items())

    def items(self) -> Iterator[tuple[str, Any]]:
        """(JSON name, value) of the fields present, in declaration order."""
        for name, attribute in self._NAMES.items():
            value = getattr(self, attribute)
            if value is not None:
                yield name, value


T = TypeVar("T", bound=type[_DictLike])


def _named(cls: T) -> T:
    cls._NAMES = dict(zip(cls.__struct_encode_fields__, cls.__struct_fields__, strict=True))
    return cls


@_named
class Entity(_DictLike, **_OPTIONS):
    """A user or group as a message names it: the fields `messages__entities` keeps; the others are skipped."""

    uid: Any = None
    guid: Any = None
    id: Any = None
    name: Any = None
    avatar: Any = None
    icon: Any = None
    link: Any = None
    status: Any = None
    type: Any = None
    owner: Any = None
    scope: Any = None
    role: Any = None


@_named
class EntityRef(_DictLike, **_OPTIONS):
    entity: Entity | None = None
    entityType: Any = None


@_named
class Entities(_DictLike, **_OPTIONS, forbid_unknown_fields=True):
    """The documented roles, in the documented order: `sender`, `receiver` of a message; `by`, `on`, `for` of an
    action. `on` is kept whole: an edit or delete action carries the changed message there. `others` is set by
    `as_message` only: the roles that are none of these, and a declared one that is not an object."""

    sender: EntityRef | None = None
    receiver: EntityRef | None = None
    by: EntityRef | None = None
    on: Any = None
    for_: EntityRef | None = msgspec.field(default=None, name="for")
    others: dict[str, Any] | None = msgspec.field(default=None, name=_ADAPTED_ONLY + "roles")

    def items(self) -> Iterator[tuple[str, Any]]:
        for name, value in super().items():
            if name.startswith(_ADAPTED_ONLY):
                yield from value.items()
            else:
                yield name, value


# The documented roles of `Entities`, in order: the API's name -> the attribute.
ROLES = {"sender": "sender", "receiver": "receiver", "by": "by", "on": "on", "for": "for_"}


@_named
class MessageData(_DictLike, **_OPTIONS, forbid_unknown_fields=True):
    text: Any = None
    action: Any = None
    metadata: Any = None
    customData: Any = None
    entities: Entities | None = None
    attachments: Any = None
    reactions: Any = None
    mentions: Any = None
    extras: Any = None  # of a member's scope change: {"scope": {"new", "old"}}, as the SDK reads it


# Fields of `data` that no named column holds: each lands as a column `data__<name>` where present.
EXTRA_DATA_FIELDS = ("extras",)
# Fields a message may carry beyond those the message tables hold in named columns: documented conditional
# fields and the SDK's names, whose REST spelling no example shows (cometchat-api.md). Each lands as a column
# of its own where present, as an undeclared field does.
EXTRA_FIELDS = (
    "replyCount", "unreadRepliesCount", "deliveredAt", "readAt", "deliveredToMeAt", "readByMeAt", "muid",
    "receipts", "mentionedUsers", "hasMentionedMe", "quotedMessageId", "quotedMessage", "parentMessageId",
)  # fmt: skip


@_named
class Message(_DictLike, **_OPTIONS, forbid_unknown_fields=True):
    """A message; the field names are the API's."""

    id: Any
    sentAt: Any = None
    conversationId: Any = None
    parentId: Any = None
    sender: Any = None
    receiverType: Any = None
    receiver: Any = None
    category: Any = None
    type: Any = None
    data: MessageData | None = None
    updatedAt: Any = None
    editedAt: Any = None
    editedBy: Any = None
    deletedAt: Any = None
    deletedBy: Any = None
    tags: Any = None
    reactions: Any = None
    replyCount: Any = None
    unreadRepliesCount: Any = None
    deliveredAt: Any = None
    readAt: Any = None
    deliveredToMeAt: Any = None
    readByMeAt: Any = None
    muid: Any = None
    receipts: Any = None
    mentionedUsers: Any = None
    hasMentionedMe: Any = None
    quotedMessageId: Any = None
    quotedMessage: Any = None
    parentMessageId: Any = None
    # Fields of an adapted message that no attribute declares: {name: value}, `data`'s as `data__<name>`.
    unknown: dict[str, Any] | None = msgspec.field(default=None, name=_ADAPTED_ONLY + "fields")


class _Page(msgspec.Struct, **_OPTIONS):
    data: list[Message]
    meta: Any = None


_page_decoder = msgspec.json.Decoder(_Page)


def decode_message_page(content: bytes) -> Any:
    """A list answer of messages, `{"data": [Message, ...], "meta": ...}` as a dict; any other answer (a field
    not declared, another shape, not JSON) parsed whole by orjson, errors and all."""
    try:
        page = _page_decoder.decode(content)
    except (msgspec.MsgspecError, RecursionError):  # msgspec nests less deep than orjson allows
        return orjson.loads(content)
    return {"data": page.data, "meta": page.meta}


_STAMP_NAMES = ("updatedAt", "editedAt", "deletedAt", "sentAt")
_stamps_of = attrgetter(*_STAMP_NAMES)


def stamps(message: Any) -> tuple[Any, Any, Any, Any]:
    """(`updatedAt`, `editedAt`, `deletedAt`, `sentAt`) of a `Message` or a dict (None where absent): one call
    instead of four `get`s, for the checks made on every listed message."""
    return _stamps_of(message) if type(message) is Message else tuple(map(message.get, _STAMP_NAMES))  # type: ignore[return-value]


def plain(message: Any) -> dict[str, Any]:
    """The message as builtins, the same whether it was decoded into a `Message` or parsed whole (then adapted):
    what a digest of it is taken of."""
    return msgspec.to_builtins(as_message(message))


_MESSAGE_FIELDS = frozenset(Message.__struct_fields__) - {"data", "unknown"}
_DATA_FIELDS = frozenset(MessageData.__struct_fields__) - {"entities"}
_ENTITY_FIELDS = frozenset(Entity.__struct_fields__)


def as_message(message: Any) -> Message:
    """A message parsed as a dict, as a `Message`: fields no attribute declares go to `unknown`, so that they still
    land as columns (a `data` that is not an object, as the column `data`). A `Message` is returned as it is.
    Raises KeyError for a message without an id, and ValueError where a field and a field of `data` would land in
    one column (`data__x` and `data.x`)."""
    if isinstance(message, Message):
        return message
    known: dict[str, Any] = {}
    unknown: dict[str, Any] = {}
    for key, value in message.items():
        if key != "data":
            (known if key in _MESSAGE_FIELDS else unknown)[key] = value
    data = message.get("data")
    if isinstance(data, dict):
        data_fields: dict[str, Any] = {}
        for key, value in data.items():
            if key in _DATA_FIELDS:
                data_fields[key] = value
            elif key != "entities":
                if f"data__{key}" in unknown:
                    raise ValueError(
                        f"message {message.get('id')!r} has both a field data__{key} and data.{key}: both would "
                        "land in one column"
                    )
                unknown[f"data__{key}"] = value
        known["data"] = MessageData(**data_fields, entities=_as_entities(data.get("entities")))
    elif data is not None:
        unknown["data"] = data
    if "id" not in known:
        raise KeyError("id")
    return Message(**known, unknown=unknown or None)


def _as_entities(entities: Any) -> Entities | None:
    """`data.entities` of a dict as msgspec decodes it where it can: the declared roles but `on` as `EntityRef`s
    with only the declared entity fields; `on`, the roles not declared and a declared role that is not an object
    in `others` (`_entity_rows` skips what is not an object, as before)."""
    if not isinstance(entities, dict):
        return None
    roles: dict[str, Any] = {}
    others: dict[str, Any] = {}
    for role, wrapper in entities.items():
        if role == "on":
            roles["on"] = wrapper
        elif role in ROLES and isinstance(wrapper, dict):
            roles[ROLES[role]] = EntityRef(
                entity=_as_entity(wrapper.get("entity")), entityType=wrapper.get("entityType")
            )
        elif role not in ROLES or wrapper is not None:  # a declared role that is null is absent, as decoded
            others[role] = wrapper
    return Entities(**roles, others=others or None)


def _as_entity(entity: Any) -> Entity | None:
    if entity is None:
        return None
    entity = entity or {}  # an empty value stands for an entity without fields, as it did
    return Entity(**{key: value for key, value in entity.items() if key in _ENTITY_FIELDS})
