"""The benchmark at tiny sizes, so that it cannot rot. It checks that figures are produced, not how fast."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.bench.__main__ import chosen
from pipelines.bench.scenarios import latency_ratios

REPO = Path(__file__).resolve().parents[2]


def smoke(tmp_path: Path, *scenarios: str) -> dict:
    """The results of `python -m pipelines.bench --smoke --only ...`, after checking that it printed each table."""
    out = tmp_path / "bench.json"
    only = [argument for name in scenarios for argument in ("--only", name)]
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.bench", "--smoke", *only, "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for name in scenarios:
        assert f"\n{name}\n" in done.stdout, name
    results = json.loads(out.read_text())["results"]
    assert sorted(results) == sorted(scenarios)
    return results


def test_the_default_run_leaves_out_what_runs_only_when_named():
    assert chosen(None, smoke=False) == [
        "emulator",
        "throughput",
        "rate_limited",
        "reverse_etl",
        "tag_file",
    ]
    assert chosen(None, smoke=True) == [
        "emulator",
        "throughput",
        "memory",
        "rate_limited",
        "reverse_etl",
        "tag_file",
    ]
    assert chosen(["latency", "memory"], smoke=False) == ["memory", "latency"]


def test_smoke_throughput_produces_every_figure(tmp_path):
    results = smoke(tmp_path, "throughput")
    throughput = results["throughput"]
    assert throughput["ours_messages_loaded"] == throughput["messages_in_emulator"]
    assert throughput["baseline_messages_loaded"] == throughput["messages_in_emulator"]
    assert throughput["baseline_defaults_messages_loaded"] == throughput["messages_in_emulator"]
    assert throughput["speedup_vs_tuned"] > 0 and throughput["ours_over_ceiling"] > 0
    # CPU seconds of each load, for the steadier ratio on a shared machine: each under its wall time on 2 cores.
    for contender in ("ours", "baseline"):
        cpu, wall = throughput[f"{contender}_full_load_cpu_s"], throughput[f"{contender}_full_load_s"]
        assert 0 < cpu < 2 * wall, contender
    assert throughput["cpu_speedup_vs_tuned"] > 0
    # The emulator's CPU seconds are counted too: with ours, they set the least wall time the cores allow.
    assert throughput["ceiling_client_cpu_s"] > 0 and throughput["ceiling_emulator_cpu_s"] > 0
    for contender in ("ours", "baseline"):
        assert throughput[f"{contender}_emulator_cpu_s"] > 0, contender
        # Busy cores over available ones; a little over 1 where CPU is counted around more than the timed load.
        assert 0 < throughput[f"{contender}_core_use"] < 1.2, contender
    assert throughput["ours_cpu_floor_s"] < throughput["ours_full_load_s"] * 1.2
    assert throughput["ours_over_ceiling_at_floor"] >= throughput["ours_over_ceiling"] / 1.2
    assert throughput["ours_peak_tree_rss_mb"] > 0  # sampled, so it may miss the last few MB of a peak
    assert throughput["ours_noop_rerun_rows"] == 0
    # Our CPU seconds by kind of thread: each kind that a run.py load uses did work, and they add up to the run's.
    by_kind = {key: value for key, value in throughput.items() if key.startswith("ours_thread_cpu_")}
    for kind in ("main", "page_readers", "parquet_writer", "load_thread", "dlt_pools"):
        assert by_kind[f"ours_thread_cpu_{kind}_s"] > 0, kind
    # What no named thread accounts for is small: dlt's telemetry thread, native threads.
    assert abs(by_kind["ours_thread_cpu_other_s"]) < 0.1 * throughput["ours_full_load_cpu_s"]
    assert sum(by_kind.values()) == pytest.approx(throughput["ours_full_load_cpu_s"], rel=0.1, abs=0.2)


def test_smoke_emulator_and_rate_limited(tmp_path):
    results = smoke(tmp_path, "emulator", "rate_limited")
    assert results["emulator"]["messages"] > 0 and results["emulator"]["messages_per_s"] > 0
    assert results["rate_limited"]["ours_requests"] > 0


def test_smoke_memory_loads_every_message(tmp_path):
    results = smoke(tmp_path, "memory")
    memory = results["memory"]
    for size in (2_000,):  # the smoke size
        for contender in ("ours", "ours_one_run"):
            loaded = memory[f"{contender}_at_{size}_messages_loaded"]
            assert loaded == memory[f"at_{size}_messages_in_emulator"], contender
            assert memory[f"{contender}_at_{size}_peak_tree_rss_mb"] > 0


def test_smoke_reverse_etl_and_tag_file(tmp_path):
    results = smoke(tmp_path, "reverse_etl", "tag_file")
    reverse = results["reverse_etl"]
    for rate in (1_200, 3_000):  # the smoke sizes' budgets of scenarios 2 and 3
        assert reverse[f"at_{rate}rpm_applied"] == reverse[f"at_{rate}rpm_tag_changes"]
        assert reverse[f"at_{rate}rpm_rerun_puts"] == 0
    tag_file = results["tag_file"]
    assert tag_file["dry_run_puts"] == 0 and tag_file["dry_run_status_planned"] == tag_file["dry_run_rows"]
    assert tag_file["apply_puts"] == tag_file["apply_status_applied"] == tag_file["apply_rows"] > 100
    assert 0 < tag_file["apply_local_work_s"] < tag_file["apply_wall_s"]


def test_smoke_latency_compares_each_round_with_its_own_ceiling(tmp_path):
    latency = smoke(tmp_path, "latency")["latency"]
    total = latency["messages_in_emulator"]
    for label in ("cpu_windows_1", "cpu_one_cursor_1", "windows_1", "one_cursor"):
        assert latency[f"{label}_messages_loaded"] == total, label
    # Time windows were read: each ends on a short page of its own, so they make more requests than one cursor.
    assert latency["windows_1_requests"] > latency["one_cursor_requests"]
    ceiling = max(latency["cpu_windows_1_messages_per_s"], latency["cpu_one_cursor_1_messages_per_s"])
    assert latency["windows_over_ceiling_1"] == pytest.approx(latency["windows_1_messages_per_s"] / ceiling)
    assert (
        latency["windows_over_ceiling"]
        == latency["windows_over_ceiling_lowest"]
        == latency["windows_over_ceiling_1"]
    )


def test_each_latency_round_is_set_against_its_own_ceiling_and_the_median_is_taken():
    rates = {
        "cpu_windows_1": 100.0, "cpu_one_cursor_1": 80.0, "windows_1": 90.0,  # 0.9
        "cpu_windows_2": 50.0, "cpu_one_cursor_2": 60.0, "windows_2": 30.0,  # 0.5, against one cursor's 60
        "cpu_windows_3": 100.0, "cpu_one_cursor_3": 100.0, "windows_3": 70.0,  # 0.7
        "one_cursor": 40.0,
    }  # fmt: skip
    ratios = latency_ratios(rates, rounds=3, budget_ceiling=1_000.0)
    assert [ratios[f"windows_over_ceiling_{n}"] for n in (1, 2, 3)] == pytest.approx([0.9, 0.5, 0.7])
    assert ratios["windows_over_ceiling"] == pytest.approx(0.7)
    assert ratios["windows_over_ceiling_lowest"] == pytest.approx(0.5)
    assert ratios["ceiling_messages_per_s"] == 100.0 and ratios["windows_over_one_cursor"] == 70.0 / 40.0
    # Where the budget is the lower ceiling, it is the reference.
    assert latency_ratios(rates, rounds=3, budget_ceiling=75.0)["windows_over_ceiling_1"] == pytest.approx(
        1.2
    )
