"""What the snapshot tables cost: the pipeline state's size, the conversation rows loaded (checked against the
emulator's ground truth), wall time, requests and peak RSS of a full load as run.py does it, and of a re-run
without changes. Prints figures; asserts nothing.

    python -m pipelines.bench.snapshot_state --users 100000 --conversations-per-user 20   # conversation-rich
    python -m pipelines.bench.snapshot_state --users 5000 --pairs 50000 --messages 100000  # random pairs

With `--conversations-per-user K` every user is in K one-to-one conversations, each with a message (the
emulator's `conversations_per_user`); `--messages` defaults to the fewest that give each one a message. Each
load runs in its own process (`--worker`), like the benchmark's contenders, so that its peak RSS (its whole
process tree, sampled every 0.2 s) is its own. Messages are loaded too: the state then holds what a real run
leaves in it (the message cursor, the updates window and its digest), not a state without them.
"""

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import dlt
import duckdb
from dlt.common import json as dlt_json

from pipelines.bench.scenarios import REPO, _tree_rss_mb
from pipelines.loading import build_pipeline, capped_duckdb, run_load
from sources.cometchat import CometChatClient, CometChatCredentials
from sources.cometchat_emulator import Emulator, EmulatorConfig

PIPELINE = "snapshot_bench"
CONVERSATION_TABLES = {"user": "user_conversations", "group": "group_conversations"}


def emulator_config(
    users: int, conversations_per_user: int, pairs: int | None, messages: int | None, groups: int
) -> EmulatorConfig:
    config = EmulatorConfig(
        seed=1,
        users=users,
        conversations_per_user=conversations_per_user,
        user_conversations=pairs,
        messages=messages or 0,
        groups=groups,
        members_per_group=20,
    )
    if messages is None:
        config = replace(config, messages=config.fewest_messages())
    return config.validated()


def measure(config: EmulatorConfig, workdir: str, lookback_cost: bool = False) -> dict[str, Any]:
    started = time.monotonic()
    with Emulator(config, startup_timeout=120 + config.messages / 5_000) as emulator:
        emulator_start_s = time.monotonic() - started
        full = _load_in_worker(emulator, workdir)
        again = _load_in_worker(emulator, workdir)
        truth = emulator.ground_truth(messages=False)
        lookback = _lookback_requests(emulator, config) if lookback_cost else None
    loaded = check_conversations(truth, Path(workdir) / "bench.duckdb", config.users)
    return {
        "users": len(truth["users"]),
        "conversations_per_user (emulator)": config.conversations_per_user or None,
        "messages": config.messages,
        "groups": len(truth["groups"]),
        "group members": len(truth["members"]),
        "emulator start s (generation included)": round(emulator_start_s, 1),
        "conversation rows": loaded,
        "full load": full,
        "no-change re-run": again,
        "late changes, updates pass, requests in the no-change re-run": again["requests by route"].get(
            "/messages", 0
        )
        - 1,
        "late changes, 7-day lookback, requests per run": lookback,
    }


def _lookback_requests(emulator: Emulator, config: EmulatorConfig) -> int:
    """What `late_changes = "lookback"` would cost each run: one request per 1,000 messages of the last 7 days."""
    week_start = config.end_time - 7 * 86_400
    in_week = sum(1 for m in emulator.ground_truth()["messages"] if m["sentAt"] >= week_start)
    return -(-in_week // 1000)


def _load_in_worker(emulator: Emulator, workdir: str) -> dict[str, Any]:
    """One run.py load in its own process; its figures, the emulator's request counts, peak RSS of its tree."""
    emulator.reset_stats()
    command = [
        sys.executable, "-m", "pipelines.bench.snapshot_state", "--worker",
        "--base-url", emulator.base_url, "--app-id", emulator.app_id, "--workdir", workdir,
    ]  # fmt: skip
    env = {**os.environ, "COMETCHAT_BENCH_API_KEY": emulator.api_key, "RUNTIME__LOG_LEVEL": "ERROR"}
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=stdout, stderr=stderr)
        peak_mb, load_averages = 0.0, [os.getloadavg()[0]]
        while process.poll() is None:
            peak_mb = max(peak_mb, _tree_rss_mb(process.pid))
            load_averages.append(os.getloadavg()[0])
            time.sleep(0.2)
        stdout.seek(0), stderr.seek(0)
        if process.returncode != 0:
            raise RuntimeError(f"the load failed:\n{stderr.read().decode(errors='replace')[-3000:]}")
        figures = json.loads(stdout.read().decode().strip().splitlines()[-1])
    stats = emulator.stats()
    by_route = Counter()
    for row in stats["requests"]:
        by_route[row["route"]] += row["count"]
    return figures | {
        "peak RSS MB, process tree": round(peak_mb),
        "requests by route": dict(by_route),
        "load average (1 min) during the load": f"{min(load_averages):.1f} to {max(load_averages):.1f}",
    }


def worker(base_url: str, app_id: str, workdir: str) -> dict[str, Any]:
    """A load as run.py does it (every resource, messages in slices), then the state's size as dlt keeps it."""
    credentials = CometChatCredentials(
        app_id=app_id, api_key=os.environ["COMETCHAT_BENCH_API_KEY"], base_url=base_url
    )
    pipeline = build_pipeline(
        destination=capped_duckdb(Path(workdir) / "bench.duckdb"),
        pipeline_name=PIPELINE,
        progress=None,
        pipelines_dir=str(Path(workdir) / "pipelines"),
    )
    cpu_before = _cpu_seconds()
    summary = run_load(pipeline, CometChatClient(credentials, requests_per_minute=1e9))
    return {
        "seconds": round(summary.seconds, 1),
        "CPU s": round(_cpu_seconds() - cpu_before, 1),
        "requests": summary.requests.requests,
        "rows loaded": summary.rows_per_table,
    } | state_sizes(pipeline)


def state_sizes(pipeline: dlt.Pipeline) -> dict[str, Any]:
    """The whole state dlt keeps: its local file, the state itself, and its newest row in the destination."""
    state = dict(pipeline.state)
    state.pop("_local", None)  # this machine's own bookkeeping, never sent to the destination
    with pipeline.sql_client() as client:
        rows = client.execute_sql(
            "SELECT version, engine_version, pipeline_name, state, created_at, version_hash, _dlt_load_id, "
            f"_dlt_id FROM {client.make_qualified_table_name('_dlt_pipeline_state')} "
            "WHERE pipeline_name = %s ORDER BY version DESC",
            pipeline.pipeline_name,
        )
    newest = rows[0]
    return {
        "state file bytes (state.json, local)": (Path(pipeline.working_dir) / "state.json").stat().st_size,
        "state bytes (JSON, as dlt encodes it)": len(dlt_json.typed_dumpb(state)),
        "_dlt_pipeline_state: newest row bytes": sum(len(str(value)) for value in newest),
        "_dlt_pipeline_state: its state column bytes (compressed)": len(newest[3]),
        "_dlt_pipeline_state: rows": len(rows),
        "resource state": state.get("sources", {}).get("cometchat", {}).get("resources", {}),
    }


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def check_conversations(truth: dict[str, Any], database: Path, users: int) -> dict[str, Any]:
    """Loaded conversation rows against the ground truth: every row, its unread count, last message and tags."""
    expected: dict[str, list[int]] = {kind: [] for kind in CONVERSATION_TABLES}
    for row in truth.pop("conversations"):
        expected[row["conversationType"]].append(
            _fingerprint(
                row["viewer"],
                row["conversationId"],
                row["unreadMessageCount"],
                row["lastMessageId"],
                row["tags"],
            )
        )
    figures: dict[str, Any] = {}
    with duckdb.connect(str(database), read_only=True) as connection:
        for kind, table in CONVERSATION_TABLES.items():
            cursor = connection.execute(
                f"SELECT c.viewer_uid, c.conversation_id, c.unread_message_count, c.last_message_id, "
                f"list(t.value) FILTER (WHERE t.value IS NOT NULL) "
                f"FROM cometchat_data.{table} c LEFT JOIN cometchat_data.{table}__tags t "
                f"ON t._dlt_parent_id = c._dlt_id GROUP BY ALL"
            )
            loaded: list[int] = []
            while batch := cursor.fetchmany(100_000):
                loaded += [
                    _fingerprint(viewer, cid, unread, None if last is None else str(last), tags or [])
                    for viewer, cid, unread, last, tags in batch
                ]
            want, got = Counter(expected[kind]), Counter(loaded)
            figures[table] = {
                "expected (ground truth)": len(expected[kind]),
                "loaded": len(loaded),
                "missing or different": sum((want - got).values()),
                "unexpected": sum((got - want).values()),
                "exact": want == got,
            }
        per_viewer = connection.execute(
            "SELECT count(*), min(n), max(n) FROM (SELECT viewer_uid, count(*) AS n "
            "FROM cometchat_data.user_conversations GROUP BY 1)"
        ).fetchone()
    figures["user_conversations per viewer"] = {
        "viewers": per_viewer[0],
        "of users": users,
        "fewest": per_viewer[1],
        "most": per_viewer[2],
    }
    return figures


def _fingerprint(viewer: str, conversation_id: str, unread: int, last: str | None, tags: list[str]) -> int:
    key = json.dumps([viewer, conversation_id, int(unread), last, sorted(tags)], ensure_ascii=False)
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--conversations-per-user", type=int, default=0, help="0: random pairs (--pairs)")
    parser.add_argument(
        "--pairs", type=int, default=None, help="1-on-1 pairs without --conversations-per-user"
    )
    parser.add_argument("--messages", type=int, default=None, help="default: the fewest that open every pair")
    parser.add_argument("--groups", type=int, default=100)
    parser.add_argument(
        "--lookback-cost",
        action="store_true",
        help="also the 7-day lookback's requests (reads every message)",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--app-id", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.base_url, args.app_id, args.workdir), default=str))
        return
    if args.messages is None and not args.conversations_per_user:
        args.messages = 100_000
    try:
        config = emulator_config(
            args.users, args.conversations_per_user, args.pairs, args.messages, args.groups
        )
    except ValueError as problem:
        parser.error(str(problem))
    with tempfile.TemporaryDirectory() as workdir:
        print(json.dumps(measure(config, workdir, args.lookback_cost), indent=2, default=str))


if __name__ == "__main__":
    main()
