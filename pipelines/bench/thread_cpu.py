"""CPU seconds of a load by kind of thread, for the benchmark's note of where the time goes.

Each kind is known by the names the code gives its threads. A thread that ends during the load is counted as
it ends (its own `time.thread_time()`, recorded by `Thread.run`); one still alive, the main thread included, is
read through its CPU clock when the load ends. A thread's CPU from before the load is left out. What no Python
thread accounts for (threads that native code starts) is the `other` kind: the process's CPU less the rest.
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
    ("parquet-writer", "parquet_writer"),
    ("cometchat-load", "load_thread"),
    ("dlt-pool", "dlt_pools"),  # the load step's jobs (DuckDB's inserts) and the extract's deferred items
)
OTHER = "other"

_ended: list[tuple[int, str, float]] = []  # (native id, name, CPU seconds at its end) of each ended thread
_ended_lock = threading.Lock()
_installed = False


def kind_of(thread_name: str) -> str:
    return next((kind for prefix, kind in KINDS if thread_name.startswith(prefix)), OTHER)


def install() -> None:
    """From now on, every thread of this process records its CPU seconds as it ends. Idempotent."""
    global _installed
    if _installed:
        return
    run: Callable[[threading.Thread], None] = threading.Thread.run

    def run_and_record(thread: threading.Thread) -> None:
        try:
            run(thread)
        finally:
            with _ended_lock:
                _ended.append((threading.get_native_id(), thread.name, time.thread_time()))

    threading.Thread.run = run_and_record  # type: ignore[method-assign]
    _installed = True


def _alive() -> dict[int, tuple[str, float]]:
    """CPU seconds so far of each Python thread alive now, by native id."""
    seconds = {}
    for thread in threading.enumerate():
        if thread.ident is None or thread.native_id is None:
            continue
        try:
            seconds[thread.native_id] = (
                thread.name,
                time.clock_gettime(time.pthread_getcpuclockid(thread.ident)),
            )
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
        _ended.clear()
    before, process_before = _alive(), _process_cpu_seconds()
    by_kind: dict[str, float] = {}
    yield by_kind
    after, process_seconds = _alive(), _process_cpu_seconds() - process_before
    with _ended_lock:
        ended = list(_ended)
    totals: Counter[str] = Counter()
    for native_id, name, seconds in [*ended, *((native_id, *alive) for native_id, alive in after.items())]:
        # A thread alive before the block counts from there (the system may give a later thread its id).
        earlier = before.get(native_id)
        start = earlier[1] if earlier is not None and earlier[0] == name and earlier[1] <= seconds else 0.0
        totals[kind_of(name)] += seconds - start
    totals[OTHER] += max(0.0, process_seconds - sum(totals.values()))
    by_kind.update((kind, round(totals[kind], 3)) for kind in [*dict.fromkeys(k for _, k in KINDS), OTHER])
