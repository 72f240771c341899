"""What the snapshot tables cost: dlt state size after a load, and a re-run without changes (time, requests,
rows), plus the request cost of the two late-change modes. Prints figures; asserts nothing.

python -m pipelines.bench.snapshot_state [--users 5000] [--pairs 50000] [--messages 100000]
"""

import argparse
import json
import tempfile
import time

from pipelines.loading import build_pipeline, capped_duckdb, run_load
from sources.cometchat import CometChatClient, CometChatCredentials
from sources.cometchat_emulator import Emulator, EmulatorConfig


def measure(users: int, pairs: int, messages: int, groups: int) -> dict:
    config = EmulatorConfig(
        seed=1, users=users, user_conversations=pairs, messages=messages, groups=groups, members_per_group=20
    )
    with Emulator(config) as emulator, tempfile.TemporaryDirectory() as workdir:
        credentials = CometChatCredentials(
            app_id=emulator.app_id, api_key=emulator.api_key, base_url=emulator.base_url
        )
        pipeline = build_pipeline(
            destination=capped_duckdb(f"{workdir}/bench_data.duckdb"),
            pipeline_name="snapshot_bench",
            progress=None,
            pipelines_dir=workdir,
        )
        truth = emulator.ground_truth(messages=False)
        started = time.monotonic()
        run_load(pipeline, CometChatClient(credentials, requests_per_minute=1e6))
        first_seconds = time.monotonic() - started

        emulator.reset_stats()
        started = time.monotonic()
        again = run_load(pipeline, CometChatClient(credentials, requests_per_minute=1e6))
        rerun_seconds = time.monotonic() - started
        by_route = {r["route"]: r["count"] for r in emulator.stats()["requests"]}

        state = pipeline.state
        resources = state.get("sources", {}).get("cometchat", {}).get("resources", {})
        week = 7 * 86_400
        newest = config.end_time
        sent = emulator.ground_truth()["messages"]
        in_week = sum(1 for m in sent if m["sentAt"] >= newest - week)
        return {
            "users": len(truth["users"]),
            "conversation rows": len(truth["conversations"]),
            "group members": len(truth["members"]),
            "messages": messages,
            "first load s": round(first_seconds, 1),
            "state bytes (whole pipeline state, JSON)": len(json.dumps(state, default=str)),
            "resource state": {name: value for name, value in resources.items()},
            "no-change re-run s": round(rerun_seconds, 1),
            "no-change re-run requests": emulator.stats()["total"],
            "no-change re-run requests by route": by_route,
            "no-change re-run rows": again.rows_per_table,
            "late changes, updates pass, requests in the no-change re-run": by_route.get("/messages", 0) - 1,
            "late changes, 7-day lookback, requests per run": -(-in_week // 1000),
        }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--pairs", type=int, default=50_000)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--groups", type=int, default=100)
    args = parser.parse_args()
    print(json.dumps(measure(args.users, args.pairs, args.messages, args.groups), indent=2, default=str))


if __name__ == "__main__":
    main()
