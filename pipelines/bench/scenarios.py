"""The benchmark scenarios. Each returns a flat dict of measured figures; none of them asserts anything."""

import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
import pandas as pd
import requests

from pipelines.bench.cpu_time import process_cpu_seconds, usable_cores
from sources.cometchat import CometChatClient, CometChatCredentials
from sources.cometchat.settings import DEFAULT_BACKFILL_WINDOWS
from sources.cometchat_emulator import Emulator, EmulatorConfig

REPO = Path(__file__).resolve().parents[2]

SIZES: dict[str, dict] = {
    "smoke": {
        "messages": 1_500, "defaults_baseline": 1, "users": 60, "groups": 6, "members": 8,
        "rl_messages": 2_000, "rl_groups": 6, "rl_rate": 1_200, "window": 3,
        "tag_changes": 80, "tag_users": 120, "tag_rate": 3_000, "memory_messages": [2_000],
        "file_users": 60, "file_groups": 4, "file_members": 10, "latency_messages": 3_000,
        "latency_rounds": 1,
    },
    "default": {
        "messages": 200_000, "users": 2_000, "groups": 100, "members": 20,
        "rl_messages": 20_000, "rl_groups": 400, "rl_rate": 500, "window": 6,
        "tag_changes": 5_000, "tag_users": 1_500, "tag_rate": 6_000,
        "memory_messages": [1_000_000, 5_000_000],
        # about 100,000 (viewer, conversation) pairs: 4 x users one-to-one rows plus groups x members
        "file_users": 12_500, "file_groups": 220, "file_members": 250,
        "latency_messages": 200_000, "latency_rounds": 5,
    },
}  # fmt: skip
SIZES["big"] = {**SIZES["default"], "messages": 1_000_000, "users": 5_000, "groups": 300}
LATENCY_MS = 50
# Scenario 6 (issue 13's latency target): 150 ms per request within the paid plan's 20,000 requests per minute.
LATENCY_BACKFILL_MS = 150
LATENCY_BUDGET = 20_000
# rest_api on dlt's defaults grows a column per mentioned user (`data.mentions` is keyed by uid, and nesting is
# unlimited), so on big data sets it can run for hours or exhaust memory; past these caps a baseline is
# stopped and reported as a bound.
BASELINE_CAP = {"seconds": 1_500, "rss_mb": 12_000}


def emulator_alone(sizes: dict[str, int]) -> dict:
    """How fast the emulator serves message pages to one plain client: the ceiling of every load."""
    with Emulator(EmulatorConfig(seed=1, users=sizes["users"], messages=sizes["messages"])) as emulator:
        return _bare_client(emulator)


def _bare_client(emulator: Emulator) -> dict:
    session = requests.Session()
    session.headers.update({"apikey": emulator.api_key})
    params: dict = {"limit": 1000, "affix": "append", "fromTimestamp": 0}
    pages = messages = 0
    started, cpu = time.monotonic(), time.process_time()
    emulator_cpu = process_cpu_seconds(emulator.pid)
    while True:
        body = orjson.loads(session.get(f"{emulator.base_url}/messages", params=params).content)
        pages, messages = pages + 1, messages + len(body["data"])
        if len(body["data"]) < 1000:
            break
        last = body["data"][-1]
        params.update(sentAt=last["sentAt"], id=last["id"], fromTimestamp=last["sentAt"])
    seconds = time.monotonic() - started
    return {
        "messages": messages,
        "pages_per_s": pages / seconds,
        "messages_per_s": messages / seconds,
        "client_cpu_s": time.process_time() - cpu,
        "emulator_cpu_s": process_cpu_seconds(emulator.pid) - emulator_cpu,
    }


def throughput_data(messages: int, sizes: dict[str, int] | None = None) -> EmulatorConfig:
    """Scenario 1's emulator data with `messages` messages (users, groups and members of `sizes`, else of the
    default sizes); the step profilers load the same data."""
    sizes = sizes or SIZES["default"]
    return EmulatorConfig(
        seed=1,
        users=sizes["users"],
        groups=sizes["groups"],
        members_per_group=sizes["members"],
        messages=messages,
    )


def throughput(sizes: dict[str, int]) -> dict:
    """Scenario 1: a full load and a no-change re-run, no latency and no rate limit, against the tuned
    rest_api baseline (and, with `defaults_baseline`, rest_api on dlt's defaults) and against the emulator
    serving the same pages to a bare client (the ceiling)."""
    config = throughput_data(sizes["messages"], sizes)
    baselines = ["baseline"] + (["baseline_defaults"] if sizes.get("defaults_baseline") else [])
    with Emulator(config) as emulator, tempfile.TemporaryDirectory() as workdir:
        total = emulator.message_count()
        ceiling = _bare_client(emulator)
        counted = ("--emulator-pid", str(emulator.pid))
        ours = _worker("ours", emulator, workdir, runs=2, options=counted)
        measured = {name: _worker(name, emulator, workdir, options=counted) for name in baselines}
    full, again = ours["runs"]
    ours_rate = full["messages"] / full["seconds"]
    # Our CPU seconds and the emulator's, spread over every core: the least wall time this machine allows a load
    # that costs this much CPU. Its ratio to the wall time says how much of the machine the load kept busy.
    floor_s = (full["cpu_s"] + full["emulator_cpu_s"]) / usable_cores()
    result = {
        "messages_in_emulator": total,
        "ceiling_messages_per_s": ceiling["messages_per_s"],
        "ceiling_client_cpu_s": ceiling["client_cpu_s"],
        "ceiling_emulator_cpu_s": ceiling["emulator_cpu_s"],
        "ours_messages_loaded": full["messages"],
        "ours_full_load_s": full["seconds"],
        "ours_full_load_cpu_s": full["cpu_s"],
        "ours_messages_per_s": ours_rate,
        "ours_over_ceiling": ours_rate / ceiling["messages_per_s"],
        "ours_emulator_cpu_s": full["emulator_cpu_s"],
        "ours_cpu_floor_s": floor_s,
        "ours_core_use": floor_s / full["seconds"],
        "ours_over_ceiling_at_floor": full["messages"] / floor_s / ceiling["messages_per_s"],
        "ours_noop_rerun_s": again["seconds"],
        "ours_noop_rerun_requests": again["requests"],
        "ours_noop_rerun_rows": again["rows"],
        "ours_peak_tree_rss_mb": ours["peak_tree_rss_mb"],
        "ours_peak_rss_mb": ours["peak_rss_mb"],
        "ours_peak_normalize_worker_rss_mb": ours["peak_child_rss_mb"],
        # Where our CPU seconds went: the main thread (the reshape, dlt's extract), the page readers (HTTP, JSON
        # decoding), the load step's jobs (DuckDB), ...; see pipelines/bench/thread_cpu.py.
        **{f"ours_thread_cpu_{kind}_s": seconds for kind, seconds in full["cpu_by_thread_kind_s"].items()},
    }
    for name, baseline in measured.items():
        result |= _baseline_figures(name, baseline, total, ours_rate, full["cpu_s"], floor_s)
    return result


def _baseline_figures(
    name: str, baseline: dict, total: int, ours_rate: float, ours_cpu_s: float, ours_floor_s: float
) -> dict:
    speedup = "speedup_vs_tuned" if name == "baseline" else "speedup_vs_defaults"
    figures = {f"{name}_peak_tree_rss_mb": baseline["peak_tree_rss_mb"]}
    if "stopped" in baseline:
        # Nothing is loaded until dlt's load step ends, so a stopped baseline moved fewer than
        # `total` messages in that time: its rate is an upper bound and our speedup a lower bound.
        bound = total / baseline["seconds"]
        return figures | {
            f"{name}_stopped": baseline["stopped"],
            f"{name}_messages_per_s_at_most": bound,
            f"{speedup}_at_least": ours_rate / bound,
        }
    run = baseline["runs"][0]
    rate = run["messages"] / run["seconds"]
    return figures | {
        f"{name}_messages_loaded": run["messages"],
        f"{name}_full_load_s": run["seconds"],
        f"{name}_full_load_cpu_s": run["cpu_s"],
        f"{name}_messages_per_s": rate,
        speedup: ours_rate / rate,
        # The same messages: the ratio of CPU seconds, which other jobs on a shared machine stretch far less.
        f"cpu_{speedup}": run["cpu_s"] / ours_cpu_s,
        f"{speedup}_at_our_floor": run["seconds"] / ours_floor_s,
        f"{name}_emulator_cpu_s": run["emulator_cpu_s"],
        f"{name}_core_use": (run["cpu_s"] + run["emulator_cpu_s"]) / usable_cores() / run["seconds"],
    }


def memory(sizes: dict) -> dict:
    """Peak resident memory of our whole process tree (the loader and any normalize workers) over a full
    load, at each size of `memory_messages`, loaded as run.py does (`ours`, slices) and as a user's own
    pipeline does (`ours_one_run`, one `pipeline.run`): flat means it does not grow with the history."""
    result: dict = {}
    for messages in sizes["memory_messages"]:
        config = EmulatorConfig(seed=4, users=sizes["users"], groups=sizes["groups"], messages=messages)
        with Emulator(config) as emulator:
            total = emulator.message_count()
            result[f"at_{messages}_messages_in_emulator"] = total
            for contender in sizes.get("memory_contenders", ("ours", "ours_one_run")):
                with tempfile.TemporaryDirectory() as workdir:
                    worker = _worker(contender, emulator, workdir)
                run = worker["runs"][0]
                prefix = f"{contender}_at_{messages}"
                result |= {
                    f"{prefix}_messages_loaded": run["messages"],
                    f"{prefix}_full_load_s": run["seconds"],
                    f"{prefix}_full_load_cpu_s": run["cpu_s"],
                    f"{prefix}_messages_per_s": run["messages"] / run["seconds"],
                    f"{prefix}_peak_tree_rss_mb": worker["peak_tree_rss_mb"],
                }
    return result


def rate_limited(sizes: dict[str, int]) -> dict:
    """Scenario 2: 50 ms per request and a budget of R requests per minute, enforced in short windows."""
    rate, window = sizes["rl_rate"], sizes["window"]
    config = EmulatorConfig(
        seed=2,
        users=sizes["users"] // 4,
        groups=sizes["rl_groups"],
        members_per_group=sizes["members"],
        messages=sizes["rl_messages"],
    )
    result: dict = {"budget_requests_per_minute": rate}
    with Emulator(config) as emulator:
        for contender in ("ours", "baseline"):
            with tempfile.TemporaryDirectory() as workdir:
                emulator.configure(latency_ms=LATENCY_MS, rate_limit=rate * window // 60, rate_window=window)
                emulator.reset_stats()
                worker = _worker(contender, emulator, workdir, requests_per_minute=rate)
                stats = emulator.stats()
                emulator.configure(latency_ms=0, rate_limit=0)
            seconds = worker["runs"][0]["seconds"] if "runs" in worker else worker["seconds"]
            if "stopped" in worker:
                result[f"{contender}_stopped"] = worker["stopped"]
            served = stats["total"] - stats["by_status"].get("429", 0)
            achieved = served / (seconds / 60)
            result |= {
                f"{contender}_wall_s": seconds,
                f"{contender}_requests": stats["total"],
                f"{contender}_429s": stats["by_status"].get("429", 0),
                f"{contender}_achieved_rpm": achieved,
                f"{contender}_budget_used": achieved / rate,
            }
    return result


def latency(sizes: dict[str, int]) -> dict:
    """Scenario 6: the message backfill at LATENCY_BACKFILL_MS per request and a budget of LATENCY_BUDGET
    requests per minute (the paid plan's, enforced by the emulator over a minute), read in concurrent time
    windows; against the CPU ceiling, our own load of the same messages with no latency and no limit (the faster
    of windows and one cursor), all in one run on the same data. The target: the windows reach 0.8 of the lower
    of the budget's ceiling (1,000 messages per request) and the CPU's.

    The three loads are repeated `latency_rounds` times, one round after another, and the ratio is the median
    of the rounds' own: on a shared machine the speed moves by a fifth within minutes, more than one pair of
    loads can tell apart. One cursor at the same latency runs once, after the rounds, for comparison."""
    config = EmulatorConfig(
        seed=6, users=sizes["users"], groups=sizes["groups"], messages=sizes["latency_messages"]
    )
    budget = LATENCY_BUDGET
    budget_ceiling = budget / 60 * 1_000
    loads = [
        (f"{label}_{round_}", windows, slow)
        for round_ in range(1, sizes["latency_rounds"] + 1)
        for label, windows, slow in (
            ("cpu_windows", DEFAULT_BACKFILL_WINDOWS, False),
            ("cpu_one_cursor", 1, False),
            ("windows", DEFAULT_BACKFILL_WINDOWS, True),
        )
    ]
    with Emulator(config) as emulator, tempfile.TemporaryDirectory() as workdir:
        total = emulator.message_count()
        runs: dict[str, dict] = {}
        for label, windows, slow in [*loads, ("one_cursor", 1, True)]:
            if slow:
                emulator.configure(latency_ms=LATENCY_BACKFILL_MS, rate_limit=budget, rate_window=60)
            else:
                emulator.configure(latency_ms=0, rate_limit=0)
            emulator.reset_stats()
            worker = _worker(
                "ours_messages",
                emulator,
                workdir,
                requests_per_minute=budget if slow else 1e9,
                options=("--backfill-windows", str(windows)),
                label=label,
            )
            runs[label] = worker["runs"][0] | {"429s": emulator.stats()["by_status"].get("429", 0)}
    rates = {label: run["messages"] / run["seconds"] for label, run in runs.items()}
    result: dict = {
        "messages_in_emulator": total,
        "latency_ms": LATENCY_BACKFILL_MS,
        "budget_requests_per_minute": budget,
        "backfill_windows": DEFAULT_BACKFILL_WINDOWS,
        "budget_ceiling_messages_per_s": budget_ceiling,
    }
    for label, run in runs.items():
        result |= {
            f"{label}_messages_loaded": run["messages"],
            f"{label}_s": run["seconds"],
            f"{label}_messages_per_s": rates[label],
            f"{label}_requests": run["requests"],
            f"{label}_429s": run["429s"],
            f"{label}_retries": run["retries"],
            f"{label}_throttle_wait_s": run["throttle_wait_s"],
        }
    return result | latency_ratios(rates, sizes["latency_rounds"], budget_ceiling)


def latency_ratios(rates: dict[str, float], rounds: int, budget_ceiling: float) -> dict[str, float]:
    """Scenario 6's ratios from each load's messages/s: each round's windows at latency over that round's own
    ceiling (the lower of the budget's and the faster of its two loads without latency), their median and the
    lowest. One cursor at latency, run once after the rounds, is set against the median ceiling: a rough figure."""
    result: dict[str, float] = {}
    ratios, ceilings = [], []
    for round_ in range(1, rounds + 1):
        ceiling = min(budget_ceiling, max(rates[f"cpu_windows_{round_}"], rates[f"cpu_one_cursor_{round_}"]))
        ceilings.append(ceiling)
        ratios.append(rates[f"windows_{round_}"] / ceiling)
        result[f"windows_over_ceiling_{round_}"] = ratios[-1]
    windows_rate = statistics.median(rates[f"windows_{round_}"] for round_ in range(1, rounds + 1))
    return result | {
        "ceiling_messages_per_s": statistics.median(ceilings),
        "windows_over_ceiling": statistics.median(ratios),
        "windows_over_ceiling_lowest": min(ratios),
        "one_cursor_over_ceiling": rates["one_cursor"] / statistics.median(ceilings),
        "windows_over_one_cursor": windows_rate / rates["one_cursor"],
    }


def reverse_etl(sizes: dict[str, int]) -> dict:
    """Scenario 3: apply tag changes under 50 ms latency, at scenario 2's budget and at a paid-plan-like one
    (where one connection could not keep up, so concurrency shows); then the same file again."""
    result: dict = {}
    for rate in (sizes["rl_rate"], sizes["tag_rate"]):
        figures = _apply_tags_at(rate, sizes)
        result |= {f"at_{rate}rpm_{name}": value for name, value in figures.items()}
    return result


def _apply_tags_at(rate: int, sizes: dict[str, int]) -> dict:
    from sources.cometchat.reverse_etl import apply_tag_changes

    window = sizes["window"]
    config = EmulatorConfig(
        seed=3, users=sizes["tag_users"], groups=sizes["groups"], messages=sizes["tag_users"] * 10
    )
    with Emulator(config) as emulator:
        truth = emulator.ground_truth(messages=False)
        rows = truth["conversations"][: sizes["tag_changes"]]
        changes = pd.DataFrame(
            {
                "on_behalf_of": [c["viewer"] for c in rows],
                "conversation_id": [c["conversationId"] for c in rows],
                "tags": [f"bench;wave-{i % 7}" for i in range(len(rows))],
            }
        )
        credentials = CometChatCredentials(
            app_id=emulator.app_id, api_key=emulator.api_key, base_url=emulator.base_url
        )
        emulator.configure(latency_ms=LATENCY_MS, rate_limit=rate * window // 60, rate_window=window)
        emulator.reset_stats()
        started = time.monotonic()
        first = apply_tag_changes(
            changes,
            CometChatClient(credentials, requests_per_minute=rate, max_workers=8),
        )
        seconds = time.monotonic() - started
        stats = emulator.stats()
        puts = [p for p in stats["puts"] if p["status"] == 200]
        emulator.reset_stats()
        second = apply_tag_changes(
            changes,
            CometChatClient(credentials, requests_per_minute=rate, max_workers=8),
        )
        rerun_puts = len(emulator.stats()["puts"])
    bound = rate / 60
    return {
        "tag_changes": len(changes),
        "applied": int((first["status"] == "applied").sum()),
        "wall_s": seconds,
        "requests": stats["total"],
        "429s": stats["by_status"].get("429", 0),
        "puts_per_s": len(puts) / seconds,
        "puts_per_s_over_bound": len(puts) / seconds / bound,
        "all_requests_per_s_over_bound": stats["total"] / seconds / bound,
        "rerun_puts": rerun_puts,
        "rerun_unchanged": int((second["status"] == "unchanged").sum()),
    }


def tag_file(sizes: dict[str, int]) -> dict:
    """Scenario 4: one changes file with a row for every conversation of the emulator (about 100,000 by
    default), applied by the CLI's code path in its own process; what each phase costs, and its peak RSS.
    Local work is every phase but reading the current tags, the PUTs and the refresh (the API's time)."""
    config = EmulatorConfig(
        seed=5,
        users=sizes["file_users"],
        user_conversations=2 * sizes["file_users"],
        groups=sizes["file_groups"],
        members_per_group=sizes["file_members"],
        messages=12 * sizes["file_users"],
    )
    result: dict = {}
    with Emulator(config) as emulator, tempfile.TemporaryDirectory() as workdir:
        conversations = emulator.ground_truth(messages=False)["conversations"]
        changes = Path(workdir) / "changes.csv"
        with changes.open("w", encoding="utf-8") as file:
            file.write("on_behalf_of,conversation_id,tags,mode\n")
            for n, conversation in enumerate(conversations):
                file.write(
                    f"{conversation['viewer']},{conversation['conversationId']},bench;wave-{n % 7},set\n"
                )
        for name, extra in (("dry_run", ["--dry-run"]), ("apply", [])):
            figures = _tag_file_worker(emulator, changes, Path(workdir) / name, extra)
            result |= {f"{name}_{key}": value for key, value in figures.items()}
    return result


def notebook(sizes: dict[str, int]) -> dict:
    """Scenario 5: notebooks/conversation_analysis.ipynb on a load of `messages` messages (1M with --big):
    its wall time from a clean kernel and the kernel's peak RSS (the loading is not measured)."""
    from pipelines.loading import build_pipeline, capped_duckdb, run_load

    settings = {
        "seed": 7, "users": sizes["users"], "groups": sizes["groups"], "members_per_group": sizes["members"],
        "messages": sizes["messages"],
    }  # fmt: skip
    with Emulator(EmulatorConfig(**settings)) as emulator, tempfile.TemporaryDirectory() as workdir:
        credentials = CometChatCredentials(
            app_id=emulator.app_id, api_key=emulator.api_key, base_url=emulator.base_url
        )
        duckdb_path = Path(workdir) / "cometchat.duckdb"
        pipeline = build_pipeline(
            destination=capped_duckdb(duckdb_path),
            progress=None,
            pipelines_dir=str(Path(workdir) / "pipelines"),
        )
        run_load(pipeline, CometChatClient(credentials, requests_per_minute=1e7))
        stored = emulator.message_count()
        # the notebook's dry run starts its own emulator with the same settings
        figures = measure_notebook(duckdb_path, Path(workdir) / "pipelines", settings)
    return {"messages": stored} | figures


def measure_notebook(duckdb_path: Path, pipelines_dir: Path, settings: dict) -> dict:
    """Executes the notebook against a loaded dataset (and, for its dry run, an emulator started with `settings`)
    from a clean kernel; samples the kernel's RSS (it and its children) every 0.2 s."""
    import importlib.util
    import threading

    import nbformat
    import psutil

    spec = importlib.util.spec_from_file_location(
        "refresh_notebook", REPO / "notebooks" / "refresh_notebook.py"
    )
    assert spec and spec.loader
    refresh = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(refresh)
    me, peak, done = psutil.Process(), {"rss_mb": 0.0, "emulator_mb": 0.0}, threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            for child in me.children():
                try:
                    is_kernel = "ipykernel" in " ".join(child.cmdline())
                    tree = [child, *child.children(recursive=True)]
                    kernel = sum(
                        p.memory_info().rss for p in tree if "cometchat_emulator" not in " ".join(p.cmdline())
                    )
                    emulator = sum(
                        p.memory_info().rss for p in tree if "cometchat_emulator" in " ".join(p.cmdline())
                    )
                except psutil.Error:
                    continue
                if is_kernel:
                    peak["rss_mb"] = max(peak["rss_mb"], kernel / 2**20)
                    peak["emulator_mb"] = max(peak["emulator_mb"], emulator / 2**20)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    refresh.execute_notebook(
        nbformat.read(REPO / "notebooks" / "conversation_analysis.ipynb", as_version=4),
        {
            "DUCKDB_PATH": str(duckdb_path),
            "PIPELINES_DIR": str(pipelines_dir),
            "EMULATOR_SETTINGS": settings,
            "SAVE_IMAGES": False,
        },
    )
    seconds = time.monotonic() - started
    done.set()
    sampler.join()
    return {
        "notebook_seconds": seconds,
        "notebook_kernel_peak_rss_mb": peak["rss_mb"],
        "dry_run_emulator_peak_rss_mb": peak["emulator_mb"],
    }


def _tag_file_worker(emulator: Emulator, changes: Path, workdir: Path, extra: list[str]) -> dict:
    workdir.mkdir(parents=True)
    command = [
        sys.executable, "-m", "pipelines.bench.tag_file_worker", str(changes),
        "--base-url", emulator.base_url, "--app-id", emulator.app_id, "--workdir", str(workdir), *extra,
    ]  # fmt: skip
    env = {**os.environ, "COMETCHAT_BENCH_API_KEY": emulator.api_key, "RUNTIME__LOG_LEVEL": "ERROR"}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the tag file run failed:\n{done.stderr[-3000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    statuses = figures.pop("statuses")
    return figures | {f"status_{status}": count for status, count in statuses.items()}


def _worker(
    contender: str,
    emulator: Emulator,
    workdir: str,
    runs: int = 1,
    requests_per_minute: float = 1e9,
    options: tuple[str, ...] = (),
    label: str | None = None,
) -> dict:
    """Runs one contender's load in its own process (its folder named `label`, else the contender; `options`
    are more worker arguments); stops the baseline past BASELINE_CAP and says so."""
    folder = Path(workdir) / (label or contender)
    folder.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "pipelines.bench.worker", contender,
        "--base-url", emulator.base_url, "--app-id", emulator.app_id,
        "--workdir", str(folder), "--runs", str(runs),
        "--requests-per-minute", str(requests_per_minute), *options,
    ]  # fmt: skip
    env = {**os.environ, "COMETCHAT_BENCH_API_KEY": emulator.api_key, "RUNTIME__LOG_LEVEL": "ERROR"}
    # Ours runs from the repository, with its .dlt/config.toml; the baseline from an empty folder: dlt's defaults.
    cwd = REPO if contender.startswith("ours") else folder
    with open(folder / "stdout", "wb") as stdout, open(folder / "stderr", "wb") as stderr:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=stdout, stderr=stderr)
        started, peak_mb = time.monotonic(), 0.0
        while process.poll() is None:
            peak_mb = max(peak_mb, _tree_rss_mb(process.pid))
            stopped = None if contender.startswith("ours") else _past_cap(time.monotonic() - started, peak_mb)
            if stopped:
                _kill_tree(process)
                return {
                    "stopped": stopped,
                    "seconds": time.monotonic() - started,
                    "peak_tree_rss_mb": peak_mb,
                }
            time.sleep(0.2)
    if process.returncode != 0:
        tail = (folder / "stderr").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{contender} load failed:\n{tail}")
    return json.loads((folder / "stdout").read_text().strip().splitlines()[-1]) | {
        "peak_tree_rss_mb": peak_mb
    }


def _past_cap(seconds: float, peak_mb: float) -> str | None:
    if seconds > BASELINE_CAP["seconds"]:
        return f"still running after {BASELINE_CAP['seconds']} s"
    if peak_mb > BASELINE_CAP["rss_mb"]:
        return f"resident memory passed {BASELINE_CAP['rss_mb']:,} MB"
    return None


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (dlt's normalize workers), summed."""
    return sum(_rss_mb(member) for member in _tree(pid))


def _tree(pid: int) -> list[int]:
    members, pending = [], [pid]
    while pending:
        current = pending.pop()
        members.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                pending.extend(int(child) for child in (task / "children").read_text().split())
            except (FileNotFoundError, ProcessLookupError):
                continue
    return members


def _kill_tree(process: subprocess.Popen) -> None:
    for member in reversed(_tree(process.pid)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(member, signal.SIGKILL)
    process.wait()


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as status:
            line = next((line for line in status if line.startswith("VmRSS:")), "VmRSS: 0 kB")
    except FileNotFoundError:  # the process has just ended
        return 0.0
    return int(line.split()[1]) / 1024
