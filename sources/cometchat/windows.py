"""Time windows of the message history: splitting a range of `sentAt` seconds, and finding the range itself.

A window is a half-open range of Unix seconds `[start, until)`. Windows are independent units: one run reads
several of them concurrently (see `ForwardRead`), and an orchestrator can load each as a shard with
`cometchat_source(messages_from=start, messages_until=until)`.
"""

import logging
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from itertools import pairwise
from typing import Any, TypeVar

from .client import CometChatClient
from .errors import CometChatConfigError
from .read_ahead import read_ahead
from .settings import FIRST_TIMESTAMP, MESSAGE_PAGE_SIZE, MIN_WINDOW_SECONDS
from .shaping import as_rows
from .versions import TIE_BITS

logger = logging.getLogger(__name__)

T = TypeVar("T")
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


class ForwardRead:
    """The forward read of `messages` in one run: one sequential `(sentAt, id)` cursor, or, while the cursor is
    far behind, time windows read concurrently, each with its own cursor.

    State (the resource's, committed with each load package): `cursor` is the sequential cursor; a backfill in
    progress is `backfill = {"from": cursor when it began, "until": its end, "newest": [sentAt, id] of the
    newest message when it was planned, "windows": [[start, until, sentAt, id], ...]}`, one entry per
    unfinished window (`sentAt`, `id` = -1 before its first page), and `high`, the newest message it read.
    When every window is read, `cursor` moves to `high` and the sequential read goes on from there, so
    messages sent meanwhile come in the same run. A run read in slices keeps `run = {"from": where it began,
    "newest": [sentAt, id] of the newest message before it listed any, ...}`, which its caller sets, until its
    last slice (see `drops`).
    State stays at a few hundred bytes whatever the history.

    The caller takes `(page, window)` from `pages()`, loads the page, then calls `advance(window, page)`: a
    cursor moves only past pages the caller has taken in, so a run stopped between two pages (a kill before the
    package is committed) resumes exactly. A slice (`messages_per_load`) ends with `finish()`, which reads no
    further page but still hands over those already read ahead, so that the next slice does not read them again.
    """

    def __init__(
        self,
        client: CometChatClient,
        state: dict[str, Any],
        params: dict[str, Any],
        first: int,
        windows: int,
        newest: tuple[dict[str, Any] | None] | None = None,
    ) -> None:
        """`first`: the second a pipeline without cursor starts at. `windows`: how many to cut a backlog into
        (1: always one sequential cursor). `newest`: `(the newest message or None,)` if the caller has
        already asked for it, before the read."""
        self.client = client
        self.state = state
        self.params = params
        self.first = first
        self.windows = windows
        self._newest = newest
        # Plan on a run's first page when the pipeline has no cursor, or when that page is full (a backlog).
        self._may_plan = windows > 1 and "backfill" not in state
        self._finishing = threading.Event()

    def finish(self) -> None:
        """No further page is read: `pages()` ends after the pages already read or being read."""
        self._finishing.set()

    def pages(self) -> Iterator[tuple[list[dict[str, Any]], list[int] | None]]:
        yield from self._read()
        if not self._finishing.is_set():
            self.state.pop("run", None)  # the run's last slice: the next run lists every message anew

    def _read(self) -> Iterator[tuple[list[dict[str, Any]], list[int] | None]]:
        state = self.state
        while True:
            if "backfill" in state:
                yield from self._backfill_pages()
                if self._finishing.is_set():
                    return
            no_cursor = "cursor" not in state
            after = None if no_cursor else tuple(state["cursor"])
            pages = read_ahead(
                self.client.messages("messages", self.params, after=after, start=self.first),
                finishing=self._finishing,
            )
            replan = False
            try:
                for page in pages:
                    handed_over = time.monotonic()
                    yield page, None
                    if self._may_plan and not self._finishing.is_set():
                        busy = time.monotonic() - handed_over  # before the plan's own request, if any
                        self._may_plan = False
                        replan = (no_cursor or len(page) >= MESSAGE_PAGE_SIZE) and self._plan()
                        if replan:
                            self._read_windows_on_enough(busy)
                            break
            finally:
                pages.close()
            if not replan:
                return

    def advance(self, window: list[int] | None, page: list[dict[str, Any]]) -> None:
        """Moves the cursor of the sequential read (`window` None) or of a window past `page`."""
        last = _key(page[-1])
        if window is None:
            self.state["cursor"] = last
            return
        window[2:] = last
        backfill = self.state["backfill"]
        if backfill["high"] is None or last > backfill["high"]:
            backfill["high"] = last

    def drops(
        self, window: list[int] | None, copy: dict[str, Any], version: int, action: dict[str, Any]
    ) -> bool:
        """Whether a changed copy (of `version`) that `action`, read in `window`, carries is left out, because
        this run listed its message, or will, after the change. Loading it would only rewrite the stored row
        with the same or an older copy; where an earlier slice stored the message, that older copy would win,
        as the newest load does (a reply's count, say, which moves no stamp, would be lost).

        So it is when the message comes after the starting cursor of a span of reading, the run in slices
        (`run`) or, for a window's page, the backfill (`backfill`, planned on the run's first page): its pages
        list the message after the span began. And the change came before that: the copy is stamped before the
        second of the newest message when the span began, or the action is listed no later than that message
        (a message sent later is listed after it: the cursors rely on that too)."""
        spans = [self.state.get("run"), self.state["backfill"] if window is not None else None]
        return any(span is not None and changed_before(span, copy, version, action) for span in spans)

    def _plan(self) -> bool:
        """Cuts `[cursor's second, newest second + 1)` into windows; False when the span is too short."""
        (newest,) = self._newest or (self.client.newest_message("messages"),)
        cursor = self.state["cursor"]
        if not newest:
            return False
        until = int(newest["sentAt"]) + 1
        span = until - cursor[0]
        count = min(self.windows, span // MIN_WINDOW_SECONDS)
        if count < 2:
            return False
        windows = [[start, end, -1, -1] for start, end in split_windows(cursor[0], until, count)]
        windows[0][2:] = cursor  # the first window goes on from the cursor, within its second
        self.state["backfill"] = {
            "from": list(cursor),
            "until": until,
            "newest": _key(newest),
            "windows": windows,
            "high": None,
        }
        logger.info("Reading messages up to %d in %d time windows concurrently", until, count)
        return True

    def _read_windows_on_enough(self, busy: float) -> None:
        """Starts the windows on as many connections as the API's answers so far keep busy, where that is more
        than the client's: a caller that took `busy` seconds over the first page would otherwise wait for the
        windows' first rounds (see `read_concurrently`) before more connections start."""
        count, seconds = self.client.answers()
        if not count:
            return
        wanted = connections_to_keep_busy(seconds / count, busy)
        if wanted > self.client.window_readers:
            self.client.read_windows_on(wanted)
            logger.info("The API answers slowly: reading up to %d time windows at once", wanted)

    def _backfill_pages(self) -> Iterator[tuple[list[dict[str, Any]], list[int] | None]]:
        backfill = self.state["backfill"]
        windows = list(backfill["windows"])

        def reader(window: list[int]) -> Iterator[list[dict[str, Any]]]:
            start, until, sent_at, message_id = window
            after = None if sent_at < 0 else (sent_at, message_id)
            return self.client.messages("messages", self.params, after=after, start=start, until=until)

        readers = [partial(reader, w) for w in windows]
        pages = read_concurrently(
            readers,
            self.client.window_readers,
            finishing=self._finishing,
            most_workers=self.client.max_workers,
            on_more_workers=self.client.read_windows_on,
            answers=self.client.answers,
        )
        for index, page in pages:
            window = windows[index]
            if page is None:  # read to its end, every page of it taken in
                backfill["windows"].remove(window)
                continue
            yield page, window
        if backfill["windows"]:
            return  # finished early: the next slice goes on with the windows left
        if backfill["high"] is not None and (
            "cursor" not in self.state or backfill["high"] > self.state["cursor"]
        ):
            self.state["cursor"] = backfill["high"]
        del self.state["backfill"]


def run_start(begun: list[int], newest: dict[str, Any] | None) -> dict[str, Any]:
    """A read in slices (`run` in state): where it begins, and the newest message before it lists any."""
    return {"from": begun, "newest": None if newest is None else _key(newest)}


def changed_before(span: dict[str, Any], copy: dict[str, Any], version: int, action: dict[str, Any]) -> bool:
    """Whether the span (`run` or `backfill`) lists the copy's message, and the change came before it began."""
    begun = span["from"]
    if begun is not None and _key(copy) <= begun:
        return False
    newest = span.get("newest")
    if newest is None and "until" in span:
        newest = [span["until"] - 1, -1]  # a backfill planned before "newest" was kept
    return newest is not None and (version >> TIE_BITS < newest[0] or _key(action) <= newest)


def _key(message: dict[str, Any]) -> list[int]:
    """Where a message stands in the list order: `[sentAt, id]`."""
    return [int(message["sentAt"]), int(message["id"])]


_DONE = object()  # a reader exhausted, or failed with the error that comes with it
_EXIT = object()  # a worker stopped: nothing left to read, or `finishing`


def read_concurrently(
    readers: list[Callable[[], Iterator[T]]],
    workers: int,
    depth: int = 2,
    finishing: threading.Event | None = None,
    most_workers: int | None = None,
    on_more_workers: Callable[[int], None] | None = None,
    answers: Callable[[], tuple[int, float]] | None = None,
) -> Iterator[tuple[int, T | None]]:
    """`(index, item)` of the iterators that `readers` make, read on up to `workers` threads, in the order
    they arrive; each reader's items in its own order, then `(index, None)` once it is exhausted.

    Up to `most_workers` readers are under way at once (the others start as those end), and the threads take
    turns among them an item at a time (see `_Turns`), so that they advance together and end together.

    At most `depth` items per worker it starts with wait in memory. Errors are re-raised here; closing the
    generator stops the threads after their current item, and drops the items read. Once `finishing` is set, no
    reader reads another item: the items already being read still come, and a reader stopped so is not reported
    exhausted. (concurrent.futures maps whole results; this streams items.)

    `most_workers`: more workers start, up to this many, while the caller spends more than STARVED_SHARE of
    each of STARVED_ROUNDS rounds of items in a row (a round: ROUND_ITEMS_PER_WORKER items per worker) waiting
    for them; a machine busy for a moment does not. With `answers`, a running count of the API's answers and
    their seconds (request sent to response headers), only where the API is what it waits on: as many as the
    round's mean answer time, over the caller's own time per item, keeps busy (plus one, for reading and
    decoding the answer). An API that answers fast does not start more, however the caller waits (on the rate
    budget, a 429's hold, or readers slowed by the CPU they share). Not once `finishing` is set.
    `on_more_workers` is told each new number of workers; workers never go back down.
    """
    most = max(workers, most_workers or workers)
    buffer: queue.Queue = queue.Queue(maxsize=max(1, workers * depth))
    stop = threading.Event()
    finishing = finishing or threading.Event()
    turns = _Turns(readers, under_way=most)

    def put(entry: tuple[int, Any, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                buffer.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            while (turn := turns.take(stop, finishing)) is not None:
                index, items = turn
                try:
                    item = next(items)
                except StopIteration:
                    turns.end(index)
                    put((index, _DONE, None))
                    continue
                except BaseException:
                    turns.end(index)  # so that the other workers do not wait for its turn to come back
                    raise
                if not put((index, item, None)):
                    return
                # Not kept while this worker waits for a turn (the reader keeps only its own last one).
                del item
                turns.give_back(index, items)
        except BaseException as error:  # handed to the consumer, which re-raises it
            put((-1, _DONE, error))
        finally:
            put((-1, _EXIT, None))

    pool = ThreadPoolExecutor(max_workers=max(1, most), thread_name_prefix="cometchat-window")
    started = exited = 0
    wanted = max(1, workers)
    rounds = _Rounds(answers)

    def start_workers() -> None:
        nonlocal started
        while started < min(wanted, len(readers)):
            pool.submit(work)
            started += 1

    start_workers()
    try:
        while exited < started:
            index, item, error = rounds.get(buffer)
            if error is not None:
                raise error
            if item is _EXIT:
                exited += 1
                continue
            if item is _DONE:
                yield index, None
                continue
            yield index, item
            round_ = rounds.after_item(wanted)
            if round_ and wanted < min(most, turns.open) and not finishing.is_set():
                more = rounds.workers_wanted(round_, wanted)
                if more > wanted:
                    wanted = min(most, more)
                    logger.info("The API answers slowly: reading %d time windows at once", wanted)
                    if on_more_workers:
                        on_more_workers(wanted)
                    start_workers()
    finally:
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)


class _Turns:
    """Which reader a worker reads an item of next. The readers under way take turns, the one that waited
    longest first: with fewer workers than readers (more start while the API proves slow), a reader left to
    start after the others would end alone, one answer at a time. Up to `under_way` are under way; each
    that ends lets the next one start."""

    def __init__(self, readers: list[Callable[[], Iterator[T]]], under_way: int) -> None:
        self.readers = readers
        self.waiting = deque(range(len(readers)))
        self.ready: deque[tuple[int, Iterator[T] | None]] = deque()
        self.taken = 0  # turns being read
        self.changed = threading.Condition()
        for _ in range(min(under_way, len(readers))):
            self.ready.append((self.waiting.popleft(), None))

    @property
    def open(self) -> int:
        """Readers not yet exhausted."""
        with self.changed:
            return len(self.ready) + self.taken + len(self.waiting)

    def take(self, stop: threading.Event, finishing: threading.Event) -> tuple[int, Iterator[T]] | None:
        """The next reader's turn; None when there is nothing left to read, or no more is to be read."""
        with self.changed:
            while not self.ready:
                if not self.taken or stop.is_set() or finishing.is_set():
                    return None
                self.changed.wait(0.1)
            if stop.is_set() or finishing.is_set():
                return None
            index, items = self.ready.popleft()
            self.taken += 1
        return index, items if items is not None else iter(self.readers[index]())

    def give_back(self, index: int, items: Iterator[T]) -> None:
        with self.changed:
            self.taken -= 1
            self.ready.append((index, items))
            self.changed.notify()

    def end(self, index: int) -> None:
        """The reader at `index` is exhausted: the next one waiting starts."""
        with self.changed:
            self.taken -= 1
            if self.waiting:
                self.ready.append((self.waiting.popleft(), None))
            self.changed.notify_all()  # workers with nothing left to read exit


# A caller that waits for items more than this share of a round of items (two per worker) is starved, and
# gets more workers after this many such rounds in a row: one round is too short to tell a slow API from a
# machine that is busy for a moment.
STARVED_SHARE = 0.25
STARVED_ROUNDS = 2
ROUND_ITEMS_PER_WORKER = 2


@dataclass
class _Round:
    seconds: float
    waited: float
    items: int
    answer_seconds: float | None  # the API's mean time to answer in the round, where known

    def workers_wanted(self, workers: int) -> int:
        """How many workers would have kept the caller busy in this round; `workers` if it was not starved."""
        if self.waited <= STARVED_SHARE * self.seconds:
            return workers
        if self.answer_seconds is None:
            # Items arrive in proportion to the workers while their answers are what the caller waits on.
            return max(workers + 1, math.ceil(workers * self.seconds / max(self.seconds - self.waited, 1e-3)))
        return connections_to_keep_busy(self.answer_seconds, (self.seconds - self.waited) / self.items)


def connections_to_keep_busy(answer_seconds: float, busy_per_item: float) -> int:
    """How many connections keep a caller that spends `busy_per_item` on each answer busy, when each answer
    takes `answer_seconds`: one per answer it takes in meanwhile, plus one for reading and decoding it."""
    return math.ceil(answer_seconds / max(busy_per_item, 1e-3)) + 1


class _Rounds:
    """The consumer's side of `read_concurrently`: how long it waits for items, and how long the API took to
    answer meanwhile (`answers`: a running count and sum of seconds), a round of items at a time."""

    def __init__(self, answers: Callable[[], tuple[int, float]] | None) -> None:
        self.answers = answers
        self.waited = 0.0
        self.items = 0
        # Rounds start at the first item: the first answers take a while anyway.
        self.since: float | None = None
        self.answered: tuple[int, float] = (0, 0.0)
        self.wanting: list[int] = []  # the workers each round in a row wanted, where more than it had

    def workers_wanted(self, round_: _Round, workers: int) -> int:
        """More than `workers` once STARVED_ROUNDS rounds in a row each wanted more: the least they wanted."""
        wanted = round_.workers_wanted(workers)
        self.wanting = [*self.wanting, wanted] if wanted > workers else []
        if len(self.wanting) < STARVED_ROUNDS:
            return workers
        least, self.wanting = min(self.wanting), []
        return least

    def get(self, buffer: queue.Queue) -> Any:
        try:
            return buffer.get_nowait()
        except queue.Empty:
            started = time.monotonic()
            entry = buffer.get()
            self.waited += time.monotonic() - started
            return entry

    def after_item(self, workers: int) -> _Round | None:
        """Counts an item; the round just ended, after ROUND_ITEMS_PER_WORKER items per worker."""
        now = time.monotonic()
        if self.since is not None:
            self.items += 1
            if self.items < ROUND_ITEMS_PER_WORKER * workers:
                return None
        answered = self.answers() if self.answers else (0, 0.0)
        ended = None
        if self.since is not None:
            count, seconds = answered[0] - self.answered[0], answered[1] - self.answered[1]
            answer_seconds = seconds / count if self.answers and count else None
            ended = _Round(now - self.since, self.waited, self.items, answer_seconds)
        self.waited, self.items, self.since, self.answered = 0.0, 0, now, answered
        return ended
