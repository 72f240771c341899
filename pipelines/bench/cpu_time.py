"""CPU seconds of another process, such as the emulator a load reads from, and the cores they are spread over."""

import os

import psutil


def process_cpu_seconds(pid: int) -> float:
    """CPU time (user and system, all threads) that process `pid` has used so far."""
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def usable_cores() -> int:
    return len(os.sched_getaffinity(0))
