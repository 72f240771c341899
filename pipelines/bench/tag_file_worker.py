"""One large tag-changes file through the reverse ETL in its own process: what each phase costs.

python -m pipelines.bench.tag_file_worker CHANGES.csv --base-url URL --app-id ID --workdir DIR
(the key in COMETCHAT_BENCH_API_KEY). Prints one JSON line: seconds per phase, local work (every phase
but the API's: reading the current tags, the PUTs, the refresh), PUTs, and the peak RSS of this process
(VmHWM) after the audit load and at the end (the refresh loads the conversation tables). Its CPU time
and the machine's load average say how much the wall times were stretched by other work.
"""

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

from pipelines import tag_sync
from pipelines.loading import build_pipeline, capped_duckdb
from sources.cometchat import CometChatClient, CometChatCredentials
from sources.cometchat.reverse_etl import read_changes_csv, write_report

API_PHASES = ("read", "send", "refresh")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("changes", type=Path)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args()
    credentials = CometChatCredentials(
        app_id=args.app_id, api_key=os.environ["COMETCHAT_BENCH_API_KEY"], base_url=args.base_url
    )
    client = CometChatClient(credentials, requests_per_minute=1e7, max_workers=8)
    pipeline = build_pipeline(
        capped_duckdb(args.workdir / "bench.duckdb"),
        pipelines_dir=str(args.workdir / "pipelines"),
        progress=None,
    )
    # The refresh is the loader's run over every conversation: its memory is the loader's, so the peak
    # of the reverse ETL's own work is taken just before it starts.
    before_refresh: list[float] = []
    real_run_load = tag_sync.run_load

    def sampled_run_load(*args: Any, **kwargs: Any) -> Any:
        before_refresh.append(_peak_rss_mb())
        return real_run_load(*args, **kwargs)

    tag_sync.run_load = sampled_run_load
    started, cpu_started = time.monotonic(), time.process_time()
    changes = read_changes_csv(args.changes)
    read_csv = time.monotonic() - started
    results = tag_sync.sync_tags(changes, client, pipeline, dry_run=args.dry_run)
    rss_before_refresh = before_refresh[0] if before_refresh else _peak_rss_mb()
    clock = time.monotonic()
    write_report(results, args.workdir / "report.csv")
    phases = {"read_csv": read_csv, **results.attrs["phases"], "report": time.monotonic() - clock}
    figures = {
        "rows": len(results),
        "puts": results.attrs["puts_sent"],
        "statuses": results["status"].value_counts().to_dict(),
        "wall_s": time.monotonic() - started,
        "cpu_s": time.process_time() - cpu_started,  # this process's own CPU, HTTP parsing included
        "load_average_1min": os.getloadavg()[0],  # other work on the machine stretches the wall times
        "local_work_s": sum(seconds for name, seconds in phases.items() if name not in API_PHASES),
        **{f"phase_{name}_s": seconds for name, seconds in phases.items()},
        "peak_rss_mb_before_refresh": rss_before_refresh,
        "peak_rss_mb": _peak_rss_mb(),
    }
    print(json.dumps(figures))
    return 0


def _peak_rss_mb() -> float:
    """This process's own peak RSS. Not getrusage: Linux keeps ru_maxrss across exec, so a worker started from
    the benchmark (which holds the emulator's ground truth, about 370 MB) would report at least the parent's."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    sys.exit(main())
