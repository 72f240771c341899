"""Time windows of the message history: splitting a range of `sentAt` seconds, and finding the range itself.

A window is a half-open range of Unix seconds `[start, until)`. Windows are independent units: one run reads
several of them concurrently (see `concurrent_windows`), and an orchestrator can load each as a shard with
`cometchat_source(messages_from=start, messages_until=until)`.
"""

from itertools import pairwise

from .client import CometChatClient
from .errors import CometChatConfigError
from .settings import FIRST_TIMESTAMP
from .shaping import as_rows

Window = tuple[int, int]


def split_windows(start: int, until: int, count: int) -> list[Window]:
    """`[start, until)` cut into at most `count` contiguous, non-empty windows of (nearly) equal seconds.

    Fewer than `count` when the range has fewer seconds than that. Raises ValueError for an empty range or a
    count below 1.
    """
    if until <= start:
        raise ValueError(f"the range [{start}, {until}) is empty: until must be after start")
    if count < 1:
        raise ValueError(f"count must be at least 1, not {count}")
    count = min(count, until - start)
    span = until - start
    bounds = [start + span * index // count for index in range(count + 1)]
    return list(pairwise(bounds))


def message_time_range(client: CometChatClient) -> Window | None:
    """`(first message's sentAt, newest message's sentAt + 1)`: the window that holds every message sent so
    far. None when the app has no message. Two requests."""
    oldest = as_rows(
        client.get("messages", {"limit": 1, "affix": "append", "fromTimestamp": FIRST_TIMESTAMP})
    )
    newest = client.newest_message("messages")
    if not oldest or newest is None:
        return None
    return int(oldest[0]["sentAt"]), int(newest["sentAt"]) + 1


def check_message_range(messages_from: int | None, messages_until: int | None) -> None:
    """Raises CometChatConfigError for a message range that is not whole Unix seconds, or is empty."""
    for name, value in (("messages_from", messages_from), ("messages_until", messages_until)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise CometChatConfigError(f"{name} must be Unix seconds (an integer >= 0), not {value!r}")
    if messages_from is not None and messages_until is not None and messages_until <= messages_from:
        raise CometChatConfigError(
            f"messages_until ({messages_until}) must be after messages_from ({messages_from}): the range "
            "[messages_from, messages_until) would hold no message"
        )
