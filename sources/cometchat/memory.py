"""Keeping the memory a read of messages frees from staying resident through the load step.

Freed memory is not returned by itself: glibc's malloc keeps it in the arena of the thread that allocated it
(each reader thread gets an arena of its own), and pyarrow's memory pool (mimalloc) keeps freed pages for
reuse. The destination's load step that follows in the same process (DuckDB's merge: its buffers on top) would
otherwise start from the read's high-water mark. So the read maps its large blocks (the pages' JSON) apart,
and hands what is left back when it ends.
"""

import ctypes
import logging
import platform
from collections.abc import Callable

import pyarrow as pa

logger = logging.getLogger(__name__)


# mallopt's parameters (malloc.h): the size from which glibc maps an allocation of its own, and the most arenas.
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
LARGE_ALLOCATION_BYTES = 256 * 1024
MALLOC_ARENAS = 3


def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc, else None (musl, macOS, Windows). By its soname, which glibc has kept
    since 1997: `ctypes.util.find_library` would run `/sbin/ldconfig`, a fork of the whole loader (called at each
    slice, it made the sampled process tree of a 1M load show 730 MB for an instant)."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


_GLIBC = _glibc()


def _find_malloc_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim`, or None where the C library is not glibc."""
    trim = getattr(_GLIBC, "malloc_trim", None)
    if trim is None:
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_MALLOC_TRIM = _find_malloc_trim()


def release_freed_memory() -> None:
    """Returns the free pages of pyarrow's pool and of every malloc arena to the system; live data is untouched."""
    pa.default_memory_pool().release_unused()
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def serve_large_allocations_apart(threshold: int = LARGE_ALLOCATION_BYTES) -> bool:
    """Makes glibc serve every allocation of `threshold` bytes or more with a mapping of its own, which it
    hands back to the system when freed. Returns whether it was set (False where the C library is not glibc).

    glibc starts at 128 KiB, but raises the threshold to the size of each large block freed: after the first
    pages of messages (about 1 MB of JSON each) are freed, their successors come from the heap of the thread
    that reads them, and stay there, scattered, once they are freed. Loading 1M messages as run.py does,
    glibc held 88 to 158 MB freed (growing slice by slice) and the load peaked at 420 to 449 MB; with the
    threshold fixed at 256 KiB, 14 to 41 MB and 395 to 418 MB (docs/performance.md, Memory).
    """
    return _mallopt(_M_MMAP_THRESHOLD, threshold)


def share_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Makes glibc's threads share at most `arenas` heaps (arenas already made stay). Returns whether it was set.

    glibc gives each new thread an arena of its own, up to 8 per core, and each keeps what it freed scattered in
    its heap. With a slice loading on a thread while the next is read (the reader threads and a new load thread
    per slice), a 5M load as run.py does it peaked at 506 to 510 MB of the process tree, 466 MB with 3 arenas
    (docs/performance.md, "A slice loads while the next one is read"). glibc fixes its limit once it has 8
    arenas, so this is called before the read starts its threads (and by `run_load` before the run starts any).
    """
    return _mallopt(_M_ARENA_MAX, arenas)


def _mallopt(parameter: int, value: int) -> bool:
    mallopt = getattr(_GLIBC, "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(parameter, value))
