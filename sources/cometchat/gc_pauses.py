"""Fewer passes of CPython's cyclic garbage collector while message pages are read and reshaped.

A page of 1,000 messages parses into about ten thousand dicts that live until the page is reshaped: long
enough to be promoted, so every few pages the collector runs a full pass, which walks every object of the
process (dlt, pyarrow, pandas and duckdb's own included). At 200,000 messages that was about a third of the
extract's CPU time. While the messages are extracted, the objects that existed before are frozen (left out of
every pass) and the youngest generation is collected every 200,000 allocations instead of 700 (none in a slice
of 200,000 messages); both are undone afterwards. What is left in reference cycles meanwhile is little (about
50,000 objects per 200,000 messages: closures of dlt's checks of each arrow table, a dozen objects a request)
and is collected when the block ends, while the older objects are still frozen, so that the walk covers only
the block's own objects and the memory is free before `memory.release_freed_memory` hands it back.
"""

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# Allocations between two passes over the youngest generation (CPython's default: 700).
YOUNG_THRESHOLD = 200_000

_lock = threading.Lock()
_depth = 0
_saved: tuple[tuple[int, int, int], bool] | None = None


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Collects rarely while the block runs, and once when it ends; nested or concurrent blocks share the
    outermost one's settings.

    Objects are frozen only where nothing else froze any (`gc.freeze` is process-wide and `gc.unfreeze`
    thaws all of them), so a process that froze its own objects keeps them frozen.
    """
    global _depth, _saved
    with _lock:
        if _depth == 0:
            thresholds = gc.get_threshold()
            freeze = gc.isenabled() and gc.get_freeze_count() == 0
            if freeze:
                gc.freeze()
            gc.set_threshold(max(thresholds[0], YOUNG_THRESHOLD), *thresholds[1:])
            _saved = (thresholds, freeze)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _saved is not None:
                thresholds, froze = _saved
                _saved = None
                if gc.isenabled():
                    gc.collect()
                gc.set_threshold(*thresholds)
                if froze:
                    gc.unfreeze()
