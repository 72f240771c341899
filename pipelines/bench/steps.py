"""Where the time of one load goes: dlt's extract, normalize and load steps run apart in one process, over an
emulator of scenario 1's data, each with its wall time, the process's CPU seconds (the emulator excluded) and
the peak RSS so far. Prints figures; asserts nothing.

    python -m pipelines.bench.steps [--messages 200000] [--per-job-checkpoints]

The load step runs as `run_load` runs it, with one DuckDB checkpoint for the package (`pipelines/held_duckdb.py`);
`--per-job-checkpoints` leaves the database to dlt, which closes and so checkpoints it after every load job.
"""

import argparse
import json
import resource
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

from pipelines.bench.scenarios import SIZES, throughput_data
from pipelines.held_duckdb import duckdb_held_open
from pipelines.loading import build_pipeline, capped_duckdb
from sources.cometchat import CometChatClient, CometChatCredentials, cometchat_source
from sources.cometchat_emulator import Emulator


def measure(messages: int, per_job_checkpoints: bool = False) -> dict:
    config = throughput_data(messages)
    result: dict = {"messages": messages, "checkpoints": "per job" if per_job_checkpoints else "per package"}
    with Emulator(config) as emulator, tempfile.TemporaryDirectory() as workdir:
        credentials = CometChatCredentials(
            app_id=emulator.app_id, api_key=emulator.api_key, base_url=emulator.base_url
        )
        client = CometChatClient(credentials, requests_per_minute=1e9)
        pipeline = build_pipeline(
            destination=capped_duckdb(Path(workdir) / "steps.duckdb"),
            pipeline_name="bench_steps",
            progress=None,
            pipelines_dir=str(Path(workdir) / "pipelines"),
        )

        def load() -> None:
            with nullcontext() if per_job_checkpoints else duckdb_held_open(pipeline):
                pipeline.load()

        steps = {
            "extract": lambda: pipeline.extract(cometchat_source(credentials=credentials, client=client)),
            "normalize": pipeline.normalize,
            "load": load,
            "no-change re-run": lambda: pipeline.run(
                cometchat_source(credentials=credentials, client=client)
            ),
        }
        for name, step in steps.items():
            wall, cpu = time.monotonic(), time.process_time()
            step()
            result[f"{name} s"] = round(time.monotonic() - wall, 1)
            result[f"{name} cpu s"] = round(time.process_time() - cpu, 1)
            result[f"peak rss mb after {name}"] = round(
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=SIZES["default"]["messages"])
    parser.add_argument("--per-job-checkpoints", action="store_true")
    args = parser.parse_args()
    print(json.dumps(measure(args.messages, args.per_job_checkpoints), indent=2))


if __name__ == "__main__":
    main()
