"""Loads that survive 429 storms, server faults, resets, truncated bodies and a SIGKILL, and still end exact."""

import logging
import signal
import time

from pipelines.loading import run_load
from sources.cometchat import CometChatClient
from sources.cometchat.client import group_path

from .cli import run_cli
from .conftest import emulator_credentials, load_from
from .expected import expected_messages
from .loaded import loaded_messages, table
from .matching import assert_matches_ground_truth


def test_load_is_exact_under_server_faults(make_emulator, make_pipeline):
    with make_emulator(seed=3, messages=3000) as emulator:
        emulator.configure(
            fault_rate=0.25, fault_kinds=["500", "502", "503", "reset", "truncate", "slow"], slow_seconds=0.2
        )
        pipeline = make_pipeline()
        summary = load_from(emulator, pipeline)
        emulator.configure(fault_rate=0)

        assert summary.requests.retries > 0
        assert_matches_ground_truth(pipeline, emulator.ground_truth())


def test_load_is_exact_under_a_429_storm(make_emulator, make_pipeline):
    with make_emulator(seed=4, messages=3000) as emulator:
        emulator.configure(fault_rate=0.3, fault_kinds=["429"])
        pipeline = make_pipeline()
        summary = load_from(emulator, pipeline)
        emulator.configure(fault_rate=0)

        statuses = emulator.stats()["by_status"]
        assert statuses.get("429", 0) > 0
        assert summary.requests.retries >= statuses["429"]
        assert_matches_ground_truth(pipeline, emulator.ground_truth())


def test_rate_limit_window_is_respected(make_emulator, make_pipeline):
    """The server allows 15 requests per 2 s; the client is told 1200/min and must slow down to the server."""
    with make_emulator(seed=6, messages=3000, groups=60) as emulator:
        emulator.configure(rate_limit=15, rate_window=2)
        pipeline = make_pipeline()
        summary = load_from(emulator, pipeline, requests_per_minute=1200)
        emulator.configure(rate_limit=0)
        assert_matches_ground_truth(pipeline, emulator.ground_truth())
        # The exhausted windows were waited out from the headers, not discovered by 429s.
        assert summary.requests.throttle_waits > 0
        assert emulator.stats()["by_status"].get("429", 0) <= 3


def wait_for_message_pages(emulator, pages: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        served = sum(r["count"] for r in emulator.stats()["requests"] if r["route"] == "/messages")
        if served >= pages:
            return
        time.sleep(0.05)
    raise AssertionError(f"the load never reached {pages} message pages")


def test_sigkill_mid_run_then_rerun_ends_exact(make_emulator, tmp_path, cli_pipeline):
    with make_emulator(seed=8, messages=8000) as emulator:
        emulator.configure(latency_ms=150)
        first = run_cli(emulator, tmp_path)
        wait_for_message_pages(emulator, 3)
        first.send_signal(signal.SIGKILL)
        assert first.wait(timeout=30) == -signal.SIGKILL
        emulator.configure(latency_ms=0)

        second = run_cli(emulator, tmp_path)
        _out, err = second.communicate(timeout=300)
        assert second.returncode == 0, err

        pipeline = cli_pipeline(tmp_path)
        truth = emulator.ground_truth()
        assert loaded_messages(pipeline) == expected_messages(truth)
        assert_matches_ground_truth(pipeline, truth)


class DeletesGroupOnItsMemberRequest(CometChatClient):
    """Deletes one group in the emulator just before its members are asked for: mid-run, after the list."""

    def __init__(self, emulator, victim: str) -> None:
        super().__init__(emulator_credentials(emulator), requests_per_minute=60_000)
        self.emulator, self.victim = emulator, victim

    def pages(self, path: str, *args, **kwargs):
        if path == group_path(self.victim, "members"):
            self.emulator.delete_group(self.victim)
        return super().pages(path, *args, **kwargs)


def test_a_group_deleted_during_the_run_is_skipped_with_a_warning(make_emulator, make_pipeline, caplog):
    with make_emulator(seed=8, groups=5) as emulator:
        victim = emulator.ground_truth(messages=False)["groups"][2]["guid"]
        pipeline = make_pipeline()
        caplog.set_level(logging.WARNING)

        run_load(pipeline, DeletesGroupOnItsMemberRequest(emulator, victim), ["groups", "group_members"])

        members = table(pipeline, "group_members")
        truth = emulator.ground_truth(messages=False)
        assert victim not in {g["guid"] for g in truth["groups"]}
        assert sorted(zip(members["guid"], members["uid"], strict=True)) == sorted(
            (m["guid"], m["uid"]) for m in truth["members"]
        )
        assert victim in caplog.text and "deleted while the run was going on" in caplog.text
