"""SIGKILL in the middle of the PUTs, then the same command again: exact tags, no PUT repeated, a full audit."""

import json
import os
import signal
import time
from collections import Counter

import pytest

from .helpers import (
    cli_env,
    conversation_tables,
    run_cli,
    start_cli,
    successful_puts,
    truth_tags,
)

ROWS = 300
KILL_AFTER_PUTS = 40


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
    lines = ["on_behalf_of,conversation_id,tags"]
    lines += [f"{viewer},{cid},crash-{n % 5};after" for n, (viewer, cid) in enumerate(keys)]
    (tmp_path / "changes.csv").write_text("\n".join(lines) + "\n")
    expected = truth | {key: [f"crash-{n % 5}", "after"] for n, key in enumerate(keys)}
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

    # the killed run's PUTs reach the audit through its journal; each conversation is applied exactly once
    pipeline = cli_pipeline(tmp_path)
    audit = pipeline.dataset()["tag_changes"].df()
    assert audit["run_id"].nunique() == 2
    applied = audit[audit["status"] == "applied"]
    assert len(applied) == len(to_change)
    assert Counter(zip(applied["viewer_uid"], applied["conversation_id"], strict=True)) == Counter(to_change)
    for row in applied.itertuples():
        assert json.loads(row.new_tags) == expected[(row.viewer_uid, row.conversation_id)]
    assert conversation_tables(pipeline) == expected
    journal = tmp_path / "dlt" / "pipelines" / "cometchat_tag_apply" / "journal"
    assert not list(journal.glob("*.jsonl"))
