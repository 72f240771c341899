"""CPU seconds of a load by kind of thread, for the benchmark's note of where the time goes.

Each kind is known by the names the code gives its threads. A thread that ends during the load is counted as
it ends (its own `time.thread_time()`, recorded by `Thread.run`); one still alive, the main thread included, is
read through its CPU clock when the load ends. A thread's CPU from before the load is left out. `other` is what
no named thread accounts for: the process's CPU less the rest (dlt's telemetry thread, threads that native code
starts, and a thread whose class replaces `run` without calling it, such as `threading.Timer`).

One block at a time per process: each block starts the record of ended threads afresh.
"""

import resource
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# (name prefix, kind), first match wins; the names are those given in sources/cometchat and pipelines, and dlt's.
KINDS = (
    ("MainThread", "main"),
    ("cometchat-window", "page_readers"),
    ("cometchat-pages", "page_readers"),
    ("cometchat-read-ahead", "page_readers"),
    ("cometchat-viewers", "page_readers"),
    ("cometchat-deadline", "page_readers"),  # the requests' deadline watchdog
    ("parquet-writer", "parquet_writer"),
    ("cometchat-load", "load_thread"),
    ("dlt-pool", "dlt_pools"),  # the load step's jobs and the extract's deferred items
)
OTHER = "other"

_ended: dict[threading.Thread, float] = {}  # CPU seconds of each thread at its end
# Held while a block reads the threads alive, so that a thread ending meanwhile is either alive or ended.
_ended_lock = threading.Lock()
_installed = False


def kind_of(thread_name: str) -> str:
    return next((kind for prefix, kind in KINDS if thread_name.startswith(prefix)), OTHER)


def install() -> None:
    """From now on, every thread of this process records its CPU seconds as it ends. Once per process."""
    global _installed
    if _installed:
        return
    run: Callable[[threading.Thread], None] = threading.Thread.run

    def run_and_record(thread: threading.Thread) -> None:
        try:
            run(thread)
        finally:
            with _ended_lock:
                _ended[thread] = time.thread_time()

    threading.Thread.run = run_and_record  # type: ignore[method-assign]
    _installed = True


def _alive() -> dict[threading.Thread, float]:
    """CPU seconds so far of each Python thread alive now."""
    seconds = {}
    for thread in threading.enumerate():
        if thread.ident is None:
            continue
        try:
            seconds[thread] = time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
        except OSError:  # ended between the listing and the read: recorded by `install`'s hook instead
            continue
    return seconds


def _process_cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


@contextmanager
def cpu_by_thread_kind() -> Iterator[dict[str, float]]:
    """Yields a dict that, when the block ends, holds the block's CPU seconds per kind of thread (KINDS and
    `other`); `install()` must have been called before the block's threads start."""
    if not _installed:
        raise RuntimeError("thread_cpu.install() was not called: threads ending in the block would be missed")
    with _ended_lock:
        before = _alive()
        _ended.clear()
    process_before = _process_cpu_seconds()
    by_kind: dict[str, float] = {}
    yield by_kind
    with _ended_lock:
        at_end = {**_alive(), **_ended}  # a thread that has recorded its end counts by that record
    process_seconds = _process_cpu_seconds() - process_before
    totals: Counter[str] = Counter()
    for thread, seconds in at_end.items():
        totals[kind_of(thread.name)] += seconds - before.get(thread, 0.0)
    totals[OTHER] += process_seconds - sum(totals.values())
    by_kind.update((kind, round(totals[kind], 3)) for kind in [*dict.fromkeys(k for _, k in KINDS), OTHER])
