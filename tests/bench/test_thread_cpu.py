"""The benchmark's CPU seconds by kind of thread: threads that end in the block, threads still alive at its end,
and threads started before it are each counted for the block's part only."""

import threading
import time

import pytest

from pipelines.bench import thread_cpu


@pytest.fixture
def installed(monkeypatch):
    # install() patches Thread.run for the whole process: undone after the test.
    monkeypatch.setattr(threading.Thread, "run", threading.Thread.run)
    monkeypatch.setattr(thread_cpu, "_installed", False)
    monkeypatch.setattr(thread_cpu, "_ended", {})
    thread_cpu.install()


def burn(seconds: float) -> None:
    """Uses `seconds` of this thread's CPU time."""
    until = time.thread_time() + seconds
    while time.thread_time() < until:
        pass


def test_each_kind_counts_only_the_cpu_spent_in_the_block(installed):
    before_block, in_block, release = threading.Event(), threading.Event(), threading.Event()

    def started_before() -> None:
        burn(0.3)  # before the block: not counted
        before_block.set()
        in_block.wait()
        burn(0.1)

    def still_alive() -> None:
        burn(0.2)
        release.wait()

    early = threading.Thread(target=started_before, name="dlt-pool-1-load_0")
    early.start()
    before_block.wait()
    with thread_cpu.cpu_by_thread_kind() as by_kind:
        in_block.set()
        reader = threading.Thread(target=burn, args=(0.3,), name="cometchat-window_0")
        writer = threading.Thread(target=still_alive, name="parquet-writer_0")
        reader.start(), writer.start()
        burn(0.1)
        reader.join(), early.join()
        while writer.is_alive() and time.clock_gettime(time.pthread_getcpuclockid(writer.ident)) < 0.2:
            time.sleep(0.01)
    release.set()
    writer.join()

    assert 0.3 <= by_kind["page_readers"] < 0.4
    assert 0.2 <= by_kind["parquet_writer"] < 0.3
    assert 0.1 <= by_kind["dlt_pools"] < 0.2  # 0.4 s in all, 0.3 s of it before the block
    assert 0.1 <= by_kind["main"] < 0.3
    assert by_kind["load_thread"] == 0
    assert abs(by_kind["other"]) < 0.05  # nothing counted twice, nothing missed
    assert set(by_kind) == {kind for _, kind in thread_cpu.KINDS} | {thread_cpu.OTHER}


def test_a_thread_ending_as_the_block_ends_counts_once(installed, monkeypatch):
    """Listed alive by the block's last look and already recorded as ended: its end record counts, once."""
    reader = threading.Thread(target=burn, args=(0.2,), name="cometchat-window_0")
    with thread_cpu.cpu_by_thread_kind() as by_kind:
        reader.start()
        reader.join()
        # As if the block's last look saw the thread still listed, with a reading taken just before its end.
        monkeypatch.setattr(thread_cpu, "_alive", lambda: {reader: 0.19})
    assert 0.2 <= by_kind["page_readers"] < 0.3


def test_a_block_without_install_is_refused(monkeypatch):
    monkeypatch.setattr(thread_cpu, "_installed", False)
    with pytest.raises(RuntimeError, match="install"), thread_cpu.cpu_by_thread_kind():
        pass


def test_kinds_follow_the_names_the_code_gives_its_threads():
    assert thread_cpu.kind_of("cometchat-window_3") == "page_readers"
    assert thread_cpu.kind_of("cometchat-read-ahead") == "page_readers"
    assert thread_cpu.kind_of("dlt-pool-140009313351360-_1") == "dlt_pools"
    assert thread_cpu.kind_of("cometchat-deadline") == "page_readers"
    assert thread_cpu.kind_of("Thread-7 (worker)") == "other"
