"""Per-window figures of the scale-out backfill: one shard's rate and requests, without and with latency.

    nice python -m pipelines.bench.shard_rate --messages 100000 --latency-ms 0 150
    nice python -m pipelines.bench.shard_rate --messages 300000 --messages-per-load 100000 --in-turn

Loads one window holding the emulator's whole history as one shard (`pipelines/scale_out.py`) into a real
PostgreSQL (the `pgserver` wheel, a dev dependency), once per latency, on the same data. Prints messages/s of
the whole shard (and of its extract step alone, where `pipeline.run` shows it), the requests it made, requests
per million messages, and the load average; the README's 1-billion-message estimate is worked out from these.
No budget is applied here (the shard's own budget is set far above what it can use), so the figures are the
shard's own ceiling.

`--messages-per-load` (default: the whole window in one package) loads the shard in slices. `--in-turn` also
loads it as one `pipeline.run` per slice, the obvious way and the way shards loaded before `load_window` read
the next slice while the last one loads; that row's extract, normalize and load are the sums over its runs.
"""

import argparse
import os
import shutil
import tempfile
import time
from typing import Any

import dlt

from pipelines.scale_out import load_window, shard_pipeline, window_source
from sources.cometchat import CometChatClient, CometChatCredentials, more_messages
from sources.cometchat.windows import message_time_range
from sources.cometchat_emulator import Emulator, EmulatorConfig

UNLIMITED = 1_000_000.0  # requests per minute: no pacing by the shard itself


def measure(
    emulator: Emulator,
    uri: str,
    latency_ms: int,
    workdir: str,
    messages_per_load: int | None,
    in_turn: bool,
    run: int = 0,
) -> dict[str, Any]:
    credentials = CometChatCredentials(
        app_id=emulator.app_id, api_key=emulator.api_key, base_url=emulator.base_url
    )
    window = message_time_range(CometChatClient(credentials, requests_per_minute=UNLIMITED))
    assert window is not None, "the emulator has no messages"
    emulator.configure(latency_ms=latency_ms)
    emulator.reset_stats()
    how = "in_turn" if in_turn else "load_window"
    # Each measurement its own pipeline name and dataset, so that none finds another's state.
    name = f"bench_{run}_{latency_ms}ms_{how}"
    pipeline = shard_pipeline(dlt.destinations.postgres(uri), name, window, os.path.join(workdir, name), name)
    steps: dict[str, float] = {}
    started = time.monotonic()
    if in_turn:
        while not steps or more_messages(pipeline):
            pipeline.run(window_source(credentials, window, UNLIMITED, messages_per_load))
            for step in pipeline.last_trace.steps:
                seconds = (step.finished_at - step.started_at).total_seconds()
                steps[step.step] = steps.get(step.step, 0.0) + seconds
    else:
        load_window(pipeline, window, credentials, UNLIMITED, messages_per_load)
    seconds = time.monotonic() - started
    stats = emulator.stats()
    with pipeline.sql_client() as client:
        messages = client.execute_sql("SELECT count(*) FROM messages")[0][0]
    requests = int(stats["total"])
    return {
        "how": how,
        "latency_ms": latency_ms,
        "messages": messages,
        "seconds": seconds,
        "messages_per_s": messages / seconds,
        "extract_s": steps.get("extract"),
        "extract_messages_per_s": messages / steps["extract"] if steps.get("extract") else None,
        "normalize_s": steps.get("normalize"),
        "load_s": steps.get("load"),
        "requests": requests,
        "requests_per_million": requests / messages * 1_000_000,
        "by_route": {row["route"]: row["count"] for row in stats["requests"]},
    }


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--latency-ms", type=int, nargs="+", default=[0, 150])
    parser.add_argument("--messages-per-load", type=int, default=None)
    parser.add_argument("--in-turn", action="store_true", help="also load the slices one pipeline.run each")
    args = parser.parse_args(argv)
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    import pgserver

    workdir = tempfile.mkdtemp(prefix="cometchat-shard-bench-")
    server = pgserver.get_server(os.path.join(workdir, "pg"), cleanup_mode="stop")
    uri = server.get_uri().replace("postgres:@/", "postgres:@localhost/")
    rows = []
    try:
        with Emulator(EmulatorConfig(messages=args.messages, users=200, groups=20)) as emulator:
            for index, latency in enumerate(args.latency_ms):
                # The order alternates from one latency to the next, so that neither way always runs first.
                ways = (index % 2 == 0, index % 2 == 1) if args.in_turn else (False,)
                for in_turn in ways:
                    rows.append(
                        measure(emulator, uri, latency, workdir, args.messages_per_load, in_turn, len(rows))
                    )
                    print(f"load average after {latency} ms: {os.getloadavg()}", flush=True)
    finally:
        server.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"\n{'how':>12} {'latency':>8} {'messages':>9} {'seconds':>8} {'msg/s':>8} {'extract s':>10}"
        f" {'extract msg/s':>14} {'normalize s':>12} {'load s':>7} {'requests':>9} {'req per 1M msg':>15}"
    )
    for row in rows:
        print(
            f"{row['how']:>12} {row['latency_ms']:>6}ms {row['messages']:>9} {row['seconds']:>8.1f}"
            f" {row['messages_per_s']:>8.0f} {_seconds(row['extract_s']):>10}"
            f" {_rate(row['extract_messages_per_s']):>14} {_seconds(row['normalize_s']):>12}"
            f" {_seconds(row['load_s']):>7} {row['requests']:>9} {row['requests_per_million']:>15.0f}"
        )
    for row in rows:
        print(f"requests by route, {row['how']} at {row['latency_ms']} ms: {row['by_route']}")
    print(f"load average (1, 5, 15 min): {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
