"""`python pipelines/run.py --check`: validate the credentials, then probe, read-only and in about ten requests,
how this CometChat app behaves where the documents leave it open. One line per behaviour; each names what it
found in brackets: `[documented]` for the documented reading, else the emulator profile that plays the same
behaviour (sources/cometchat_emulator/README.md), or `[unknown]` when the data cannot tell.
"""

from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from requests.exceptions import RequestException

from sources.cometchat import CometChatClient
from sources.cometchat.client import group_path, user_path
from sources.cometchat.errors import CometChatAuthError, CometChatError
from sources.cometchat.settings import FIRST_TIMESTAMP, MESSAGE_PAGE_SIZE, PAGE_SIZE
from sources.cometchat.shaping import as_rows

DOCUMENTED = "documented"
UNKNOWN = "unknown"
EXIT_OK = 0
EXIT_UNUSABLE = 2


@dataclass
class Finding:
    behaviour: str
    verdict: str  # DOCUMENTED, UNKNOWN, or the name of the emulator profile that behaves the same
    detail: str

    def line(self) -> str:
        return f"{self.behaviour:<22}[{self.verdict}] {self.detail}"


@dataclass
class Samples:
    """What the probes read, shared between them."""

    users: list[dict[str, Any]]
    users_more: bool
    messages: list[dict[str, Any]]
    conversations: list[dict[str, Any]]


def run_check(client: CometChatClient, out: Callable[[str], None] = print) -> int:
    """Prints one line per behaviour; 0 when the app is usable, 2 when the credentials or host are not."""
    try:
        samples = _read_samples(client)
    except CometChatAuthError as error:
        out(Finding("credentials", "unusable", f"rejected ({error.code}): {error.api_message}").line())
        return EXIT_UNUSABLE
    except RequestException as error:
        out(
            Finding(
                "credentials",
                "unusable",
                f"cannot reach the API host ({type(error).__name__}): check the app id and the region",
            ).line()
        )
        return EXIT_UNUSABLE
    out(Finding("credentials", "ok", f"key accepted; {len(samples.users)} user(s) on the first page").line())
    for probe in PROBES:
        try:
            finding = probe(client, samples)
        except (CometChatError, RequestException) as error:
            finding = Finding(
                probe.__name__.removeprefix("probe_").replace("_", " "), UNKNOWN, f"probe failed: {error}"
            )
        out(finding.line())
    return EXIT_OK


def _read_samples(client: CometChatClient) -> Samples:
    users_body = client.get_body("users", {"perPage": PAGE_SIZE})
    pagination = (users_body.get("meta") or {}).get("pagination") or {}
    users_more = int(pagination.get("total_pages") or 0) > int(pagination.get("current_page") or 0)
    messages = as_rows(client.get("messages", _oldest(MESSAGE_PAGE_SIZE)))
    conversations = as_rows(client.get("conversations", {"perPage": 100, "withTags": "true"}))
    return Samples(as_rows(users_body.get("data")), users_more, messages, conversations)


def _oldest(limit: int) -> dict[str, Any]:
    return {"limit": limit, "affix": "append", "fromTimestamp": FIRST_TIMESTAMP}


def probe_first_request(client: CometChatClient, samples: Samples) -> Finding:
    name = "first request"
    if not samples.messages:
        return Finding(name, UNKNOWN, "the app has no message yet")
    zero = as_rows(client.get("messages", {"limit": 1, "affix": "append", "fromTimestamp": 0}))
    if zero and str(zero[0]["id"]) == str(samples.messages[0]["id"]):
        return Finding(name, DOCUMENTED, "fromTimestamp=0 starts at the oldest message")
    return Finding(
        "first request",
        "unanchored_newest",
        "fromTimestamp=0 does not start at the oldest message (no anchor starts at the newest page); "
        f"the connector starts at fromTimestamp={FIRST_TIMESTAMP}",
    )


def probe_message_anchor(client: CometChatClient, samples: Samples) -> Finding:
    name = "message anchor"
    pair = next((p for p in pairwise(samples.messages) if int(p[0]["sentAt"]) == int(p[1]["sentAt"])), None)
    if pair is None:
        return Finding(name, UNKNOWN, "no two of the oldest messages share a second: nothing to probe with")
    first, second = pair
    params = {"limit": 1, "affix": "append", "sentAt": first["sentAt"], "id": first["id"]}
    rows = as_rows(client.get("messages", params))
    if not rows:
        return Finding(name, UNKNOWN, "the (sentAt, id) anchor answered nothing")
    got = str(rows[0]["id"])
    if got == str(second["id"]):
        return Finding(name, DOCUMENTED, "sentAt + id is one exclusive (sentAt, id) anchor")
    if got == str(first["id"]):
        return Finding(
            name, "anchor_inclusive", "the anchor row itself comes again; the connector drops repeats"
        )
    return Finding(
        name,
        "anchor_ignores_id",
        "id is ignored and sentAt is strictly after its second; the connector anchors on fromTimestamp + id "
        "and stops with an error if more than a page of messages share one second",
    )


def probe_page_size(client: CometChatClient, samples: Samples) -> Finding:
    name = "page size"
    if len(samples.users) < PAGE_SIZE and samples.users_more:
        return Finding(
            name,
            "capped_pages",
            f"perPage={PAGE_SIZE} served {len(samples.users)} rows with more to come; "
            "the connector reads until the API says there is no more",
        )
    served = len(samples.messages)
    if 0 < served < MESSAGE_PAGE_SIZE:
        last = samples.messages[-1]
        following = as_rows(
            client.get("messages", {**_oldest(1), "fromTimestamp": last["sentAt"], "id": last["id"]})
        )
        fresh = [
            m for m in following if (int(m["sentAt"]), int(m["id"])) > (int(last["sentAt"]), int(last["id"]))
        ]
        if fresh:
            return Finding(
                name,
                "capped_pages",
                f"limit={MESSAGE_PAGE_SIZE} served {served} messages with more "
                "to come; the connector reads until a page brings nothing new",
            )
    if len(samples.users) < PAGE_SIZE and served < MESSAGE_PAGE_SIZE:
        return Finding(name, UNKNOWN, "fewer rows than one page: a cap would not show")
    return Finding(name, DOCUMENTED, f"pages of {PAGE_SIZE} are served whole")


def probe_conversation_list(client: CometChatClient, samples: Samples) -> Finding:
    name = "conversation list"
    rows = samples.conversations
    if not rows:
        return Finding(name, UNKNOWN, "the app has no conversation yet")
    if all("uid" in row for row in rows):
        return Finding(name, DOCUMENTED, "app-wide rows name their viewer (uid)")
    return Finding(
        name,
        "conversations_without_uid",
        "app-wide rows do not name their viewer; the connector "
        "reads each user's list instead (one request per user)",
    )


def probe_conversation_order(client: CometChatClient, samples: Samples) -> Finding:
    name = "conversation order"
    stamps = [int(row.get("updatedAt") or 0) for row in samples.conversations]
    if len(set(stamps)) < 2:
        return Finding(name, UNKNOWN, "too few conversations to see an order")
    if all(a >= b for a, b in pairwise(stamps)):
        return Finding(
            name,
            "conversations_shifting",
            "newest first: rows move between pages under traffic; the "
            "connector reads a list again when a row comes twice",
        )
    return Finding(name, DOCUMENTED, "not ordered by updatedAt: rows stay in place while the list is read")


def probe_single_conversation(client: CometChatClient, samples: Samples) -> Finding:
    name = "single conversation"
    row, viewer = _a_conversation(client, samples)
    if row is None:
        return Finding(name, UNKNOWN, "no conversation to read")
    partner = row.get("conversationWith") or {}
    if row.get("conversationType") == "group":
        path = group_path(str(partner.get("guid")), "conversation")
    else:
        path = user_path(str(partner.get("uid")), "conversation")
    data = client.get(path, on_behalf_of=viewer)
    found = []
    if isinstance(data, list):
        found.append(("conversation_as_array", "data is a list"))
        data = data[0] if data else {}
    if "tags" not in (data or {}):
        found.append(
            ("conversation_without_tags", "no tags (the reverse ETL reads them from the viewer's list)")
        )
    if not found:
        return Finding(name, DOCUMENTED, "data is an object with the viewer's tags")
    return Finding(name, ",".join(v for v, _ in found), "; ".join(d for _, d in found))


def _a_conversation(client: CometChatClient, samples: Samples) -> tuple[dict[str, Any] | None, str | None]:
    for row in samples.conversations:
        if "uid" in row:
            return row, row["uid"]
    for user in samples.users[:3]:
        rows = as_rows(client.get("conversations", {"perPage": 1}, on_behalf_of=user["uid"]))
        if rows:
            return rows[0], user["uid"]
    return None, None


def probe_tag_put(client: CometChatClient, samples: Samples) -> Finding:
    return Finding(
        "tag PUT",
        UNKNOWN,
        "not probed: it would write; the reverse ETL verifies the effect of every "
        "PUT and reports a merge instead of a replace as failed",
    )


def probe_edits(client: CometChatClient, samples: Samples) -> Finding:
    name = "edits and deletes"
    actions = as_rows(client.get("messages", {**_oldest(1), "category": "action", "type": "message"}))
    if actions:
        return Finding(name, DOCUMENTED, "edits and deletes appear as action messages")
    changed = as_rows(
        client.get("messages", {**_oldest(100), "updatedAt": FIRST_TIMESTAMP, "onlyUpdates": "true"})
    )
    if any(m.get("editedAt") or m.get("deletedAt") for m in changed):
        return Finding(
            name,
            "edits_without_actions",
            "edited or deleted messages exist but no action message "
            "lists them; the connector's updates pass (late_changes=updates) picks them up",
        )
    return Finding(name, UNKNOWN, "no edited or deleted message to tell by")


def probe_late_changes(client: CometChatClient, samples: Samples) -> Finding:
    name = "late changes"
    if not samples.messages:
        return Finding(name, UNKNOWN, "the app has no message yet")
    last = client.newest_message()
    newest = int(last.get("updatedAt") or last["sentAt"]) if last else FIRST_TIMESTAMP
    params = {**_oldest(100), "updatedAt": newest, "onlyUpdates": "true"}
    rows = as_rows(client.get("messages", params))
    if any(int(m.get("updatedAt") or 0) < newest for m in rows):
        return Finding(
            name, "updates_ignored", "updatedAt/onlyUpdates are ignored: set late_changes = 'lookback'"
        )
    return Finding(
        name, DOCUMENTED, "updatedAt + onlyUpdates filter changed messages (late_changes=updates works)"
    )


def probe_shapes(client: CometChatClient, samples: Samples) -> Finding:
    found = []
    groups = client.get_body("groups", {"perPage": 1}).get("data")
    if isinstance(groups, dict):
        found.append(("keyed_group_data", 'GET /groups data is an object keyed "0"'))
    numeric_ids = any(isinstance(m.get("id"), int) for m in samples.messages)
    numeric_counts = any(isinstance(r.get("unreadMessageCount"), int) for r in samples.conversations)
    if numeric_ids or numeric_counts:
        found.append(("numeric_ids", "message ids / unreadMessageCount are integers"))
    if not found:
        return Finding("shapes", DOCUMENTED, "data lists, string ids and string unread counts")
    return Finding(
        "shapes", ",".join(v for v, _ in found), "; ".join(d for _, d in found) + " (both are read)"
    )


PROBES: tuple[Callable[[CometChatClient, Samples], Finding], ...] = (
    probe_first_request,
    probe_message_anchor,
    probe_page_size,
    probe_conversation_list,
    probe_conversation_order,
    probe_single_conversation,
    probe_tag_put,
    probe_edits,
    probe_late_changes,
    probe_shapes,
)
