"""The PUTs: sent concurrently through the shared client, each journaled before it goes and when answered.

Every update gets exactly one outcome, `applied` or `failed`:
- the answer shows the tags: `applied` when they are exactly the list sent, else `failed` (the API merged
  or changed them instead of replacing the list);
- the answer does not show them, or is lost or unparseable, or a 5xx after the retries: the conversation
  is read again and the tags the API holds decide;
- a 4xx refusal (say `ERR_BAD_REQUEST`): `failed` with the API's code; a credentials error stops sending.
The client retries a lost answer (reset, cut short) once more with the same full list: the only way a
PUT goes out twice, and `retries` counts it.
"""

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from requests.exceptions import RequestException

from ..client import CometChatClient
from ..errors import CometChatApiError, CometChatAuthError, CometChatUnreadableError
from .journal import Journal
from .plan import Current, Update, read_one, single_conversation
from .status import Status, now

logger = logging.getLogger(__name__)

SLICE_PER_WORKER = 64  # updates handed to the pool at a time, per worker


@dataclass(frozen=True, slots=True)
class PutOutcome:
    status: Status  # applied or failed
    error: str
    at: datetime


@dataclass
class SendReport:
    outcomes: dict[int, PutOutcome] = field(default_factory=dict)  # by position in the updates
    puts_sent: int = 0
    retries: int = 0  # requests the client repeated during the send (lost answers, 429s, 5xx)
    rereads: int = 0  # conversations read again to settle an unclear outcome


class _Stop(Exception):
    """Sending must stop: the credentials fail, or the journal cannot be written."""


def send_updates(
    client: CometChatClient, updates: Sequence[Update], max_workers: int, journal: Journal | None = None
) -> SendReport:
    """Sends every update at most once (see above); returns each one's outcome.

    Raises:
        CometChatAuthError: the credentials stopped working (the updates not sent are not in the outcomes).
        OSError: the journal could not be written (nothing more was sent).
    """
    report = SendReport()
    lock = threading.Lock()
    stopped: list[BaseException] = []
    retries_before = client.stats.retries

    def send(index: int) -> None:
        if stopped:
            return
        update = updates[index]
        try:
            if journal is not None:
                journal.sending(index)
            with lock:
                report.puts_sent += 1
            outcome, reread = _put(client, update)
            if journal is not None:
                journal.answered(index, outcome.status, outcome.error, outcome.at.isoformat())
        except (CometChatAuthError, OSError) as error:
            with lock:
                stopped.append(error)
            return
        with lock:
            report.outcomes[index] = outcome
            report.rereads += reread

    workers = max(1, max_workers)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tag-put") as pool:
        # In slices: a future per update of a 100,000-row run at once would cost about 2 KB each.
        step = workers * SLICE_PER_WORKER
        for start in range(0, len(updates), step):
            list(pool.map(send, range(start, min(start + step, len(updates)))))
    report.retries = client.stats.retries - retries_before
    if stopped:
        raise stopped[0]
    return report


def _put(client: CometChatClient, update: Update) -> tuple[PutOutcome, int]:
    """The outcome of one PUT, and whether the conversation had to be read again to know it."""
    try:
        data = client.put(update.ref.path, {"tags": update.tags}, on_behalf_of=update.viewer)
    except CometChatAuthError:
        raise
    except CometChatApiError as error:
        if error.status < 500:
            return PutOutcome(Status.FAILED, f"{error.code}: {error.api_message}", now()), 0
        return _settle(client, update, f"{error.code}: {error.api_message}"), 1
    except (RequestException, CometChatUnreadableError, ValueError) as error:
        # Retries ran out on a lost answer, or the answer was not JSON: the PUT may or may not have landed.
        return _settle(client, update, f"{type(error).__name__}: {error}"), 1
    stored = single_conversation(data)
    if stored is None or not isinstance(stored.get("tags"), list):
        return _settle(client, update, "the answer does not show the tags"), 1
    return _judge(update, [str(tag) for tag in stored["tags"]], "the answer"), 0


def _settle(client: CometChatClient, update: Update, why: str) -> PutOutcome:
    """Reads the conversation again: the tags the API holds now say whether the PUT took effect."""
    try:
        state = read_one(client, update.viewer, update.ref)
    except CometChatAuthError:
        raise
    except Exception as error:
        logger.warning("Could not read %s for %s again: %s", update.ref.conversation_id, update.viewer, error)
        return PutOutcome(Status.FAILED, f"{why}; reading the conversation again failed too: {error}", now())
    if not isinstance(state, Current):
        return PutOutcome(Status.FAILED, f"{why}; reading the conversation again: {state.reason}", now())
    outcome = _judge(update, state.tags, "the conversation read again")
    if outcome.status == Status.FAILED:
        return PutOutcome(Status.FAILED, f"{why}; {outcome.error}", outcome.at)
    return outcome


def _judge(update: Update, held: list[str], where: str) -> PutOutcome:
    if held == update.tags:
        return PutOutcome(Status.APPLIED, "", now())
    merged = set(update.tags) < set(held) and set(update.old_tags) & set(held) - set(update.tags)
    how = "merged into the old list instead of replacing it" if merged else "not the list sent"
    return PutOutcome(Status.FAILED, f"{where} holds {held}, {how} (sent {update.tags})", now())
