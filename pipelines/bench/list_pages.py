"""How long the app-wide lists (users, groups, conversations) take to read at a given latency: one page at a time
against up to LIST_PAGES_AHEAD (8) pages at once (`sources/cometchat/pages_ahead.py`), alternated on the same
emulator, and a whole no-change re-run as run.py does it. Prints figures; asserts nothing.

    python -m pipelines.bench.list_pages --users 20000 --conversations-per-user 20 --latency-ms 150

The lists are read with the client alone (no digest, no load), so the figures are the read's own; the emulator
runs in its own process. Every figure comes with the rows read and requests made.
"""

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from pipelines.bench.snapshot_state import emulator_config
from pipelines.loading import build_pipeline, capped_duckdb, run_load
from sources.cometchat import CometChatClient, CometChatCredentials
from sources.cometchat_emulator import Emulator

LISTS = {
    "users": {"withTags": "true", "withDeactivated": "true"},
    "groups": {"withTags": "true"},
    "conversations": {"withTags": "true"},
}
UNLIMITED = 1e9  # requests per minute: the latency alone paces the read


def read_lists(credentials: CometChatCredentials, ahead: bool) -> dict[str, Any]:
    client = CometChatClient(credentials, requests_per_minute=UNLIMITED)
    started = time.monotonic()
    rows = sum(
        len(page) for path, params in LISTS.items() for page in client.pages(path, params, ahead=ahead)
    )
    seconds = time.monotonic() - started
    return {"seconds": round(seconds, 2), "rows": rows, "requests": client.stats.requests}


def no_change_rerun(credentials: CometChatCredentials, workdir: Path) -> dict[str, Any]:
    pipeline = build_pipeline(
        destination=capped_duckdb(workdir / "lists.duckdb"),
        pipeline_name="bench_lists",
        progress=None,
        pipelines_dir=str(workdir / "pipelines"),
    )
    run_load(pipeline, CometChatClient(credentials, requests_per_minute=UNLIMITED))
    client = CometChatClient(credentials, requests_per_minute=UNLIMITED)
    summary = run_load(pipeline, client)
    return {
        "seconds": round(summary.seconds, 2),
        "rows": sum(summary.rows_per_table.values()),
        "requests": client.stats.requests,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--conversations-per-user", type=int, default=20)
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--latency-ms", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=2, help="alternated pairs of list reads")
    args = parser.parse_args()
    config = emulator_config(args.users, args.conversations_per_user, None, None, args.groups)
    results: dict[str, Any] = {"latency_ms": args.latency_ms, "users": args.users}
    with Emulator(config) as emulator, tempfile.TemporaryDirectory() as workdir:
        credentials = CometChatCredentials(
            app_id=emulator.app_id, api_key=emulator.api_key, base_url=emulator.base_url
        )
        emulator.configure(latency_ms=args.latency_ms)
        for round_number in range(1, args.rounds + 1):
            for mode, ahead in (("one_page_at_a_time", False), ("pages_ahead", True)):
                results[f"{mode}_round_{round_number}"] = read_lists(credentials, ahead)
        results["no_change_rerun"] = no_change_rerun(credentials, Path(workdir))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
