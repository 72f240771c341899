"""release_freed_memory: memory a reader thread freed goes back to the system, live data stays."""

import platform
import threading

import pytest

from sources.cometchat.memory import release_freed_memory


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's malloc arenas"
)
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
