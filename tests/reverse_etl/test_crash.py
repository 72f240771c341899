"""A run killed at every phase (plan, send, journal, audit load), then the same command again: exact tags,
no PUT repeated, and exactly one audit row per input row of each run."""

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from .helpers import cli_env, conversation_tables, run_cli, start_cli, successful_puts, truth_tags

ROWS = 150
KILL_AFTER_PUTS = 40
KILL_RUNNER = Path(__file__).with_name("kill_runner.py")
PHASE_ROWS = 24
PUTS_BEFORE_KILL = 5


def write_changes(tmp_path: Path, keys: list, prefix: str) -> dict:
    lines = ["on_behalf_of,conversation_id,tags"]
    lines += [f"{viewer},{cid},{prefix}-{n % 5};after" for n, (viewer, cid) in enumerate(keys)]
    (tmp_path / "changes.csv").write_text("\n".join(lines) + "\n")
    return {key: [f"{prefix}-{n % 5}", "after"] for n, key in enumerate(keys)}


def check_audit(pipeline, rows: int, runs: int, to_change: set, expected: dict) -> None:
    """Each run has exactly one audit row per input row, and each changed conversation one `applied` row."""
    audit = pipeline.dataset()["tag_changes"].df()
    assert audit["run_id"].nunique() == runs
    for _, run in audit.groupby("run_id"):
        assert sorted(run["position"]) == list(range(1, rows + 1))
        assert sorted(run["row"]) == list(range(2, rows + 2))
    applied = audit[audit["status"] == "applied"]
    assert Counter(zip(applied["viewer_uid"], applied["conversation_id"], strict=True)) == Counter(to_change)
    for row in applied.itertuples():
        assert json.loads(row.new_tags) == expected[(row.viewer_uid, row.conversation_id)]


def journals(tmp_path: Path) -> list[Path]:
    return list((tmp_path / "dlt" / "pipelines" / "cometchat_tag_journal").glob("*"))


@pytest.mark.timeout(180)
@pytest.mark.parametrize("phase", ["plan", "send", "journal", "audit", "after_audit"])
def test_a_run_killed_at_any_phase_then_run_again_records_every_row_once(
    phase, make_emulator, tmp_path, cli_pipeline
):
    emulator = make_emulator(seed=42)
    truth = truth_tags(emulator)
    keys = sorted(truth)[:PHASE_ROWS]
    expected = truth | write_changes(tmp_path, keys, phase)
    to_change = {key for key in keys if expected[key] != truth[key]}
    env = cli_env(emulator, tmp_path, SOURCES__COMETCHAT__MAX_WORKERS="1")
    emulator.reset_stats()

    killed = subprocess.run(
        [sys.executable, str(KILL_RUNNER), phase, str(PUTS_BEFORE_KILL), "changes.csv"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    first_puts = successful_puts(emulator)
    sent_first = {"plan": 0, "send": PUTS_BEFORE_KILL, "journal": PUTS_BEFORE_KILL}.get(phase, len(to_change))
    assert len(first_puts) == sent_first
    assert len(journals(tmp_path)) == 1

    status, out, err = run_cli(emulator, tmp_path, "changes.csv", "--report", "second.csv", env=env)
    assert status == 0, err

    assert truth_tags(emulator) == expected
    per_conversation = Counter((put["on_behalf_of"], put["path"]) for put in successful_puts(emulator))
    assert len(per_conversation) == len(to_change) and set(per_conversation.values()) == {1}
    assert f"{len(to_change) - sent_first} PUT(s) sent" in out
    pipeline = cli_pipeline(tmp_path)
    check_audit(pipeline, PHASE_ROWS, 2, to_change, expected)
    audit = pipeline.dataset()["tag_changes"].df()
    rerun_id = out.split(" recorded in ")[0].rsplit("run ", 1)[1]
    killed_run = audit[audit["run_id"] != rerun_id]
    if phase == "plan":
        assert set(killed_run["status"]) == {"failed"}
        assert set(killed_run["error"]) == {"the run was interrupted while planning; nothing was sent"}
    if phase == "journal":
        # the last PUT was applied but its answer never journaled: settled as applied by reading the tags
        assert (killed_run["status"] == "applied").sum() == PUTS_BEFORE_KILL
    assert conversation_tables(pipeline) == expected
    assert journals(tmp_path) == []


def wait_for_puts(emulator, count: int, process, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(successful_puts(emulator)) >= count:
            return
        if process.poll() is not None:
            raise AssertionError(f"the run ended before {count} PUTs: {process.communicate()}")
        time.sleep(0.02)
    raise AssertionError(f"the run never reached {count} PUTs")


@pytest.mark.timeout(180)
def test_sigkill_mid_apply_then_rerun_ends_exact_without_repeating_a_put(
    make_emulator, tmp_path, cli_pipeline
):
    emulator = make_emulator(seed=41, users=120, groups=15, members_per_group=12, messages=6000)
    truth = truth_tags(emulator)
    keys = sorted(truth)[:ROWS]
    expected = truth | write_changes(tmp_path, keys, "crash")
    to_change = {key for key in keys if expected[key] != truth[key]}
    env = cli_env(emulator, tmp_path)
    emulator.reset_stats()
    emulator.configure(latency_ms=80)

    process = start_cli(emulator, tmp_path, "changes.csv", "--report", "first.csv", env=env)
    wait_for_puts(emulator, KILL_AFTER_PUTS, process)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL
    time.sleep(0.3)  # PUTs in flight when the client died are still processed by the server
    first_puts = successful_puts(emulator)
    assert KILL_AFTER_PUTS <= len(first_puts) < len(to_change), "the kill did not land mid-apply"
    assert not (tmp_path / "first.csv").exists()

    emulator.configure(latency_ms=0)
    status, out, err = run_cli(emulator, tmp_path, "changes.csv", "--report", "second.csv", env=env)
    assert status == 0, err

    assert truth_tags(emulator) == expected
    all_puts = successful_puts(emulator)
    per_conversation = Counter((put["on_behalf_of"], put["path"]) for put in all_puts)
    assert len(per_conversation) == len(to_change)
    assert set(per_conversation.values()) == {1}, "a conversation got two PUTs"
    first_paths = {(put["on_behalf_of"], put["path"]) for put in first_puts}
    assert len(all_puts) - len(first_puts) == len(to_change) - len(first_paths)
    assert f"{len(to_change) - len(first_paths)} PUT(s) sent" in out

    second = (tmp_path / "second.csv").read_text().splitlines()
    statuses = Counter(line.split(",")[-2] for line in second[1:])
    assert statuses == Counter(
        {"applied": len(to_change) - len(first_paths), "unchanged": ROWS - statuses["applied"]}
    )
    # the killed run's rows reach the audit through its journal, one per input row; each conversation is
    # applied exactly once over both runs
    pipeline = cli_pipeline(tmp_path)
    check_audit(pipeline, ROWS, 2, to_change, expected)
    assert conversation_tables(pipeline) == expected
    assert journals(tmp_path) == []
