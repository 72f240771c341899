"""release_freed_memory: memory a reader thread freed goes back to the system, live data stays.
serve_large_allocations_apart: freed pages go back to the system as they are freed."""

import json
import platform
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from sources.cometchat.memory import release_freed_memory

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
REPO = Path(__file__).resolve().parents[2]

# A read in a fresh process: 8 MB freed first (so glibc raises its threshold for mapping a block apart), then 60
# pages of 1 MB, each followed by a small block that stays alive, as a read's results do. Prints how much
# resident memory freeing the pages gave back.
READ_PAGES = """
import json, sys, threading
from sources.cometchat.memory import serve_large_allocations_apart

def rss_mb():
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith("VmRSS:")).split()[1]) / 1024

if sys.argv[1] == "apart":
    assert serve_large_allocations_apart()
first = bytearray(8 << 20)
del first
pages, kept = [], []

def read():
    for _ in range(60):
        pages.append(bytearray(1 << 20))
        kept.append(bytearray(4096))

thread = threading.Thread(target=read)
thread.start()
thread.join()
before = rss_mb()
pages.clear()
print(json.dumps({"returned_mb": before - rss_mb()}))
"""


def _returned_mb(mode: str) -> float:
    run = subprocess.run(
        [sys.executable, "-c", READ_PAGES, mode], cwd=REPO, capture_output=True, text=True, check=True
    )
    return json.loads(run.stdout)["returned_mb"]


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc")
def test_freed_pages_are_returned_when_large_allocations_are_served_apart():
    assert _returned_mb("apart") > 50
    assert _returned_mb("glibc's default") < 10  # what the setting changes: the pages stay resident


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc arenas")
def test_memory_a_thread_freed_is_returned_and_live_data_is_kept():
    kept: list[bytearray] = []

    def read_pages() -> None:
        # 80 MB in 64 KB blocks (below malloc's mmap threshold: they land in this thread's arena), every
        # block but one in 100 freed again, as the pages of a read are: the arena keeps the freed memory.
        blocks = [bytearray(b"x" * 65_536) for _ in range(1_280)]
        kept.extend(blocks[99::100])
        del blocks

    thread = threading.Thread(target=read_pages)
    thread.start()
    thread.join()
    before = _rss_mb()
    release_freed_memory()
    after = _rss_mb()
    assert before - after > 40, (before, after)
    assert all(block == b"x" * 65_536 for block in kept)


def test_no_call_starts_a_process(monkeypatch):
    """Each slice calls them: a process started then (ctypes' `find_library` runs ldconfig) is a fork of the
    whole loader, counted twice in its memory for as long as it lives."""
    from sources.cometchat.memory import serve_large_allocations_apart, share_malloc_arenas

    started = []

    def refused(self, *args, **kwargs):
        started.append(args)
        raise OSError("no process may start here")

    monkeypatch.setattr(subprocess.Popen, "__init__", refused)
    serve_large_allocations_apart()
    share_malloc_arenas()
    release_freed_memory()
    assert started == []


# Threads started in a fresh process, each allocating from glibc (a block past pymalloc's 512 bytes); glibc's
# `malloc_stats` then lists each arena on stderr.
THREADS_ALLOCATE = """
import ctypes, sys, threading
from sources.cometchat.memory import share_malloc_arenas

if sys.argv[1] == "shared":
    assert share_malloc_arenas(2)
blocks, started = [], threading.Barrier(7)

def allocate():
    blocks.append(bytearray(4096))
    started.wait()

threads = [threading.Thread(target=allocate) for _ in range(6)]
for thread in threads:
    thread.start()
started.wait()
ctypes.CDLL("libc.so.6").malloc_stats()
"""


def _arenas(mode: str) -> int:
    run = subprocess.run(
        [sys.executable, "-c", THREADS_ALLOCATE, mode], cwd=REPO, capture_output=True, text=True, check=True
    )
    return sum(line.startswith("Arena ") for line in run.stderr.splitlines())


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc")
def test_threads_share_the_arenas_they_are_limited_to():
    assert _arenas("own") > 2  # a new thread gets an arena of its own
    assert _arenas("shared") <= 2
