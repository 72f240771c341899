"""One contender's load in its own process, so that its peak memory is its own. Prints one JSON line.

    python -m pipelines.bench.worker ours|ours_one_run|ours_messages|baseline|baseline_defaults --base-url URL --app-id ID --workdir DIR
`ours` loads as run.py does (messages in slices); `ours_one_run` as a user's own pipeline, one `pipeline.run`;
`ours_messages` the messages alone as run.py does, with `--backfill-windows` time windows.
`baseline` is dlt's `rest_api` source tuned the way a skilled dlt user would; `baseline_defaults` the same on
dlt's defaults (pipelines/bench/baseline.py).
The API key comes from the COMETCHAT_BENCH_API_KEY environment variable, never from the command line.
"""

import argparse
import json
import os
import resource
import time
from collections.abc import Callable
from pathlib import Path

import dlt

from pipelines.bench import thread_cpu
from pipelines.bench.baseline import TUNED_FILE_FORMAT, TUNED_SETTINGS, baseline_source
from pipelines.bench.cpu_time import process_cpu_seconds
from pipelines.loading import build_pipeline, capped_duckdb, run_load, table_row_counts
from sources.cometchat import CometChatClient, CometChatCredentials, cometchat_source
from sources.cometchat.settings import DEFAULT_BACKFILL_WINDOWS


def load_ours(args: argparse.Namespace, api_key: str) -> dict:
    credentials = CometChatCredentials(app_id=args.app_id, api_key=api_key, base_url=args.base_url)
    client = CometChatClient(credentials, requests_per_minute=args.requests_per_minute)
    pipeline = build_pipeline(
        destination=capped_duckdb(Path(args.workdir) / "ours.duckdb"),
        pipeline_name="bench_ours",
        progress=None,
        pipelines_dir=str(Path(args.workdir) / "pipelines"),
    )
    summary = run_load(pipeline, client)
    return {
        "seconds": summary.seconds,
        # Distinct messages stored: the rows written also count the merged copies of edited messages.
        "messages": table_row_counts(pipeline).get("messages", 0),
        "rows": sum(summary.rows_per_table.values()),
        "requests": summary.requests.requests,
        "retries": summary.requests.retries,
    }


def load_ours_messages(args: argparse.Namespace, api_key: str) -> dict:
    """The messages alone, as run.py loads them, with `--backfill-windows` time windows (1: one cursor)."""
    credentials = CometChatCredentials(app_id=args.app_id, api_key=api_key, base_url=args.base_url)
    client = CometChatClient(credentials, requests_per_minute=args.requests_per_minute)
    os.environ["SOURCES__COMETCHAT__BACKFILL_WINDOWS"] = str(args.backfill_windows)
    pipeline = build_pipeline(
        destination=capped_duckdb(Path(args.workdir) / "ours.duckdb"),
        pipeline_name="bench_ours_messages",
        progress=None,
        pipelines_dir=str(Path(args.workdir) / "pipelines"),
    )
    summary = run_load(pipeline, client, resources=["messages"])
    return {
        "seconds": summary.seconds,
        "messages": table_row_counts(pipeline).get("messages", 0),
        "requests": summary.requests.requests,
        "retries": summary.requests.retries,
        "throttle_wait_s": summary.requests.throttle_wait_seconds,
    }


def load_ours_in_one_run(args: argparse.Namespace, api_key: str) -> dict:
    """A user's own pipeline: one `pipeline.run(cometchat_source())`, no slices, into the same capped DuckDB."""
    credentials = CometChatCredentials(app_id=args.app_id, api_key=api_key, base_url=args.base_url)
    pipeline = build_pipeline(
        destination=capped_duckdb(Path(args.workdir) / "ours.duckdb"),
        pipeline_name="bench_ours_one_run",
        progress=None,
        pipelines_dir=str(Path(args.workdir) / "pipelines"),
    )
    started = time.monotonic()
    pipeline.run(cometchat_source(credentials=credentials, requests_per_minute=args.requests_per_minute))
    seconds = time.monotonic() - started
    if pipeline.has_pending_data:
        raise RuntimeError("the run left a load package pending")
    return {"seconds": seconds, "messages": table_row_counts(pipeline).get("messages", 0)}


def load_baseline(args: argparse.Namespace, api_key: str) -> dict:
    tuned = args.contender == "baseline"
    if tuned:
        os.environ.update(TUNED_SETTINGS)
    pipeline = dlt.pipeline(
        f"bench_{args.contender}",
        destination=dlt.destinations.duckdb(str(Path(args.workdir) / f"{args.contender}.duckdb")),
        pipelines_dir=str(Path(args.workdir) / "pipelines"),
    )
    started = time.monotonic()
    pipeline.run(
        baseline_source(args.base_url, api_key, tuned=tuned),
        loader_file_format=TUNED_FILE_FORMAT if tuned else None,
    )
    seconds = time.monotonic() - started
    rows = pipeline.last_trace.last_normalize_info.row_counts
    data_rows = {table: count for table, count in rows.items() if not table.startswith("_dlt")}
    messages = table_row_counts(pipeline).get("messages", 0)
    return {"seconds": seconds, "messages": messages, "rows": sum(data_rows.values())}


LOADERS = {
    "ours": load_ours,
    "ours_one_run": load_ours_in_one_run,
    "ours_messages": load_ours_messages,
    "baseline": load_baseline,
    "baseline_defaults": load_baseline,
}


def _cpu_seconds() -> float:
    """CPU time (user and system) of this process's threads and of its finished child processes (dlt's
    normalize workers): on a shared machine, a figure that the other jobs stretch far less than wall time."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _with_cpu_seconds(
    load: Callable[[argparse.Namespace, str], dict], args: argparse.Namespace, api_key: str
) -> dict:
    """The run's figures, with its CPU seconds (also by kind of thread) and, given `--emulator-pid`, the
    emulator's during the run."""
    pid = args.emulator_pid
    started, emulator_started = _cpu_seconds(), process_cpu_seconds(pid) if pid else 0.0
    with thread_cpu.cpu_by_thread_kind() as by_thread_kind:
        run = load(args, api_key)
    run |= {"cpu_s": _cpu_seconds() - started, "cpu_by_thread_kind_s": by_thread_kind}
    if pid:
        run["emulator_cpu_s"] = process_cpu_seconds(pid) - emulator_started
    return run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("contender", choices=[*LOADERS])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--requests-per-minute", type=float, default=1e9)
    parser.add_argument("--backfill-windows", type=int, default=DEFAULT_BACKFILL_WINDOWS)
    parser.add_argument("--emulator-pid", type=int, help="also count this emulator's CPU seconds in each run")
    args = parser.parse_args()
    thread_cpu.install()  # before the load starts any thread
    api_key = os.environ["COMETCHAT_BENCH_API_KEY"]
    load = LOADERS[args.contender]
    runs = [_with_cpu_seconds(load, args, api_key) for _ in range(args.runs)]
    peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        json.dumps(
            {"runs": runs, "peak_rss_mb": round(peak_self, 1), "peak_child_rss_mb": round(peak_children, 1)}
        )
    )


if __name__ == "__main__":
    main()
