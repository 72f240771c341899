"""No process outlives a run: after a SIGKILL of `pipelines/run.py`, none of its children survive.

The run starts in its own session, so every process it started (dlt's normalize workers, the emulator of
`--demo`) shares its session id even after the kernel re-parents them; the test watches that session.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .cli import RUN_PY, run_cli

GONE_WITHIN_SECONDS = 5.0


def session_members(session_id: int) -> set[int]:
    """Live (not zombie) processes of a session, read from /proc."""
    members = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited meanwhile
        state, _ppid, _pgrp, session = stat.rsplit(")", 1)[1].split()[:4]
        if int(session) == session_id and state != "Z":
            members.add(int(entry.name))
    return members


def wait_for_children(run: subprocess.Popen, count: int, timeout: float = 120) -> set[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = session_members(run.pid) - {run.pid}
        if len(children) >= count:
            return children
        assert run.poll() is None, f"the run ended before it had {count} child processes"
        time.sleep(0.01)
    raise AssertionError(f"the run never had {count} child processes")


def assert_killed_tree_is_gone(run: subprocess.Popen) -> None:
    run.send_signal(signal.SIGKILL)
    assert run.wait(timeout=30) == -signal.SIGKILL
    deadline = time.monotonic() + GONE_WITHIN_SECONDS
    while session_members(run.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    survivors = session_members(run.pid)
    for pid in survivors:  # do not leave them behind for the rest of the suite
        os.kill(pid, signal.SIGKILL)
    assert not survivors, (
        f"processes of the killed run still alive after {GONE_WITHIN_SECONDS} s: {survivors}"
    )


def test_sigkill_during_normalize_leaves_no_worker_behind(make_emulator, tmp_path):
    with make_emulator(seed=5, messages=6000) as emulator:
        env = {"NORMALIZE__WORKERS": "2", "DATA_WRITER__FILE_MAX_ITEMS": "500"}
        run = run_cli(emulator, tmp_path, env_extra=env, start_new_session=True)
        wait_for_children(run, 2)  # both normalize workers are up
        assert_killed_tree_is_gone(run)


def test_sigkill_of_a_demo_run_leaves_neither_emulator_nor_workers(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DLT_DATA_DIR": str(tmp_path / "dlt"),
        "NORMALIZE__WORKERS": "2",
    }
    run = subprocess.Popen(
        [sys.executable, str(RUN_PY), "--demo", "--progress", "none"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    wait_for_children(run, 3)  # the emulator and both normalize workers
    assert_killed_tree_is_gone(run)
