"""Per-window figures of the scale-out backfill: one shard's rate and requests, without and with latency.

    nice python -m pipelines.bench.shard_rate --messages 100000 --latency-ms 0 150

Loads one window holding the emulator's whole history as one shard (`pipelines/scale_out.py`) into a real
PostgreSQL (the `pgserver` wheel, a dev dependency), once per latency, on the same data. Prints messages/s of
the whole shard and of its extract step alone, the requests it made, requests per million messages, and the
load average; the README's 1-billion-message estimate is worked out from these. No budget is applied here
(the shard's own budget is set far above what it can use), so the figures are the shard's own ceiling.
"""

import argparse
import os
import shutil
import tempfile
import time
from typing import Any

import dlt

from pipelines.scale_out import load_window, shard_pipeline
from sources.cometchat import CometChatClient, CometChatCredentials
from sources.cometchat.windows import message_time_range
from sources.cometchat_emulator import Emulator, EmulatorConfig

UNLIMITED = 1_000_000.0  # requests per minute: no pacing by the shard itself


def measure(emulator: Emulator, uri: str, latency_ms: int, workdir: str) -> dict[str, Any]:
    credentials = CometChatCredentials(
        app_id=emulator.app_id, api_key=emulator.api_key, base_url=emulator.base_url
    )
    window = message_time_range(CometChatClient(credentials, requests_per_minute=UNLIMITED))
    assert window is not None, "the emulator has no messages"
    emulator.configure(latency_ms=latency_ms)
    emulator.reset_stats()
    pipeline = shard_pipeline(
        dlt.destinations.postgres(uri), f"bench_{latency_ms}ms", window, os.path.join(workdir, "pipelines")
    )
    started = time.monotonic()
    load_window(pipeline, window, credentials, UNLIMITED, messages_per_load=None)
    seconds = time.monotonic() - started
    steps = {
        step.step: (step.finished_at - step.started_at).total_seconds() for step in pipeline.last_trace.steps
    }
    stats = emulator.stats()
    with pipeline.sql_client() as client:
        messages = client.execute_sql("SELECT count(*) FROM messages")[0][0]
    requests = int(stats["total"])
    return {
        "latency_ms": latency_ms,
        "messages": messages,
        "seconds": seconds,
        "messages_per_s": messages / seconds,
        "extract_s": steps.get("extract", 0.0),
        "extract_messages_per_s": messages / steps["extract"] if steps.get("extract") else 0.0,
        "normalize_s": steps.get("normalize", 0.0),
        "load_s": steps.get("load", 0.0),
        "requests": requests,
        "requests_per_million": requests / messages * 1_000_000,
        "by_route": {row["route"]: row["count"] for row in stats["requests"]},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--latency-ms", type=int, nargs="+", default=[0, 150])
    args = parser.parse_args(argv)
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    import pgserver

    workdir = tempfile.mkdtemp(prefix="cometchat-shard-bench-")
    server = pgserver.get_server(os.path.join(workdir, "pg"), cleanup_mode="stop")
    uri = server.get_uri().replace("postgres:@/", "postgres:@localhost/")
    rows = []
    try:
        with Emulator(EmulatorConfig(messages=args.messages, users=200, groups=20)) as emulator:
            for latency in args.latency_ms:
                rows.append(measure(emulator, uri, latency, workdir))
                print(f"load average after {latency} ms: {os.getloadavg()}", flush=True)
    finally:
        server.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"\n{'latency':>8} {'messages':>9} {'seconds':>8} {'msg/s':>8} {'extract s':>10} {'extract msg/s':>14}"
        f" {'normalize s':>12} {'load s':>7} {'requests':>9} {'req per 1M msg':>15}"
    )
    for row in rows:
        print(
            f"{row['latency_ms']:>6}ms {row['messages']:>9} {row['seconds']:>8.1f} {row['messages_per_s']:>8.0f}"
            f" {row['extract_s']:>10.1f} {row['extract_messages_per_s']:>14.0f} {row['normalize_s']:>12.1f}"
            f" {row['load_s']:>7.1f} {row['requests']:>9} {row['requests_per_million']:>15.0f}"
        )
    for row in rows:
        print(f"requests by route at {row['latency_ms']} ms: {row['by_route']}")
    print(f"load average (1, 5, 15 min): {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
