"""`/__admin/...` routes used by the Python API: ground truth, stats, knobs and data mutations.

They need no apikey, are not counted in stats, and are never rate limited, slowed or faulted.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

import orjson

from .operational import Operations, RequestStats
from .render import Renderer
from .store import Store

TRUTH_BATCH = 2000


class AdminError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Admin:
    def __init__(
        self, store: Store, renderer: Renderer, ops: Operations, stats: RequestStats, identity: dict
    ) -> None:
        self.store = store
        self.render = renderer
        self.ops = ops
        self.stats = stats
        self.identity = identity

    def handle(self, method: str, segments: list[str], query: dict[str, list[str]], body: Any) -> Any:
        """The JSON-able answer, or an iterator of byte chunks for the streamed ground truth."""
        try:
            return self._dispatch(method, segments, query, body or {})
        except LookupError as error:
            raise AdminError(404, str(error).strip("'\"")) from None
        except (ValueError, TypeError) as error:
            raise AdminError(400, str(error)) from None

    def _dispatch(self, method: str, segments: list[str], query: dict[str, list[str]], body: dict) -> Any:
        route = (method, *segments)
        match route:
            case ("GET", "health"):
                return {"ok": True, **self.identity}
            case ("GET", "ground_truth"):
                with_messages = query.get("messages", ["1"])[-1].lower() not in ("0", "false")
                return self.ground_truth(with_messages)
            case ("GET", "message_count"):
                return {"count": len(self.store.messages)}
            case ("GET", "stats"):
                return self.stats.snapshot()
            case ("POST", "stats", "reset"):
                self.stats.reset()
                return {"ok": True}
            case ("GET", "settings"):
                return asdict(self.ops.settings)
            case ("POST", "configure"):
                return asdict(self.ops.configure(**body))
            case ("POST", "messages"):
                ids = self.store.add_messages(
                    int(body.get("count", 1)),
                    conversation_id=body.get("conversation_id"),
                    sent_at=body.get("sent_at"),
                    parent_id=body.get("parent_id"),
                )
                return {"ids": ids}
            case ("POST", "messages", message_id, "edit"):
                return {"id": self.store.edit_message(message_id, str(body["text"]))}
            case ("POST", "messages", message_id, "delete"):
                return {"id": self.store.delete_message(message_id)}
            case ("POST", "messages", message_id, "react"):
                return {"updatedAt": self.store.react(message_id, body.get("reaction"))}
            case ("PUT", "conversation_tags"):
                tags = self.store.set_conversation_tags(body["viewer"], body["conversation_id"], body["tags"])
                return {"tags": tags}
            case ("DELETE", "users", uid):
                self.store.delete_user(uid)
                return {"ok": True}
            case ("DELETE", "groups", guid):
                self.store.delete_group(guid)
                return {"ok": True}
            case ("DELETE", "groups", guid, "members", uid):
                self.store.delete_member(guid, uid)
                return {"ok": True}
            case ("DELETE", "conversations", viewer, conversation_id):
                self.store.delete_conversation(viewer, conversation_id)
                return {"ok": True}
        raise AdminError(404, f"unknown admin route {method} /__admin/{'/'.join(segments)}")

    def ground_truth(self, with_messages: bool) -> dict[str, Any] | Iterator[bytes]:
        with self.store.lock:
            head = self.render.truth_without_messages()
            count = len(self.store.messages)
        if not with_messages:
            return head
        return self._stream(head, count)

    def _stream(self, head: dict[str, Any], count: int) -> Iterator[bytes]:
        """The same JSON object with `messages` appended, rendered batch by batch to bound memory."""
        yield orjson.dumps(head)[:-1] + b',"messages":['
        separator = b""
        for start in range(0, count, TRUTH_BATCH):
            with self.store.lock:
                visible = [
                    i for i in range(start, min(count, start + TRUTH_BATCH)) if self.store.visible_message(i)
                ]
                batch = self.render.messages(visible, with_tags=True)
            if batch:
                yield separator + orjson.dumps(batch)[1:-1]
                separator = b","
        yield b"]}"
