"""Handing memory that a read of messages freed back to the operating system before the load step.

Freed memory is not returned by itself: glibc's malloc keeps it in the arena of the thread that allocated it
(each reader thread gets an arena of its own), and pyarrow's memory pool (mimalloc) keeps freed pages for
reuse. The destination's load step that follows in the same process (DuckDB's merge: its buffers on top) would
otherwise start from the read's high-water mark.
"""

import ctypes
import ctypes.util
import logging
import platform
from collections.abc import Callable

import pyarrow as pa

logger = logging.getLogger(__name__)


def _find_malloc_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim`, or None where the C library is not glibc (musl, macOS, Windows)."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
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
