"""Benchmarks: our connector against a tuned dlt rest_api source and against the API's own limit.

    python -m pipelines.bench                 # 200k messages, 5,000 tag changes (a few minutes)
    python -m pipelines.bench --big           # 1M messages in scenario 1
    python -m pipelines.bench --smoke         # tiny sizes, seconds: keeps the code from rotting (CI)
    python -m pipelines.bench --only memory   # peak RSS of our process tree at 1M and 5M messages (long)
    python -m pipelines.bench --only memory --memory-messages 5000000 --memory-contenders ours
    python -m pipelines.bench --only tag_file # a 100,000-row tag file: local work per phase, peak RSS
    python -m pipelines.bench --only latency  # 200k messages at 150 ms a request against the CPU ceiling, 5 rounds
    python -m pipelines.bench --big --only notebook   # the analysis notebook on 1M messages: time, peak RSS

Prints a table and writes bench-results/latest.json. Every comparison runs in the same invocation,
against the same emulator data; each contender loads in its own process.
"""

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from pipelines.bench.scenarios import (
    SIZES,
    emulator_alone,
    latency,
    memory,
    notebook,
    rate_limited,
    reverse_etl,
    tag_file,
    throughput,
)

RESULTS = Path("bench-results")
SCENARIOS: dict[str, Callable[[dict], dict]] = {
    "emulator": emulator_alone,
    "throughput": throughput,
    "memory": memory,
    "rate_limited": rate_limited,
    "latency": latency,
    "reverse_etl": reverse_etl,
    "tag_file": tag_file,
    "notebook": notebook,
}
# Run only when named with --only: the notebook repeats what tests/notebooks checks, at a size that takes
# minutes; the latency scenario's rounds of loads take minutes at any size that shows anything (150 ms a
# request).
ON_REQUEST = {"notebook", "latency"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--smoke", action="store_true", help="tiny sizes, for CI")
    size.add_argument("--big", action="store_true", help="1M messages in scenario 1")
    parser.add_argument(
        "--only",
        choices=list(SCENARIOS),
        action="append",
        help="run only these scenarios; `memory` (1M and 5M messages, ours only) runs only when named",
    )
    parser.add_argument(
        "--defaults-baseline",
        action="store_true",
        help="also run rest_api on dlt's defaults in scenario 1 (slow: stopped at the cap past 20k messages)",
    )
    parser.add_argument(
        "--memory-messages",
        type=int,
        nargs="+",
        help="sizes of the memory scenario (default 1M and 5M messages)",
    )
    parser.add_argument(
        "--memory-contenders",
        choices=["ours", "ours_one_run"],
        nargs="+",
        help="contenders of the memory scenario (default both: run.py's slices and one pipeline.run)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args(argv)
    sizes = dict(SIZES["smoke" if args.smoke else "big" if args.big else "default"])
    if args.defaults_baseline:
        sizes["defaults_baseline"] = 1
    if args.memory_messages:
        sizes["memory_messages"] = args.memory_messages
    if args.memory_contenders:
        sizes["memory_contenders"] = args.memory_contenders
    results = {}
    for name in chosen(args.only, args.smoke):
        print(f"== {name} ...", file=sys.stderr, flush=True)
        results[name] = SCENARIOS[name](sizes)
        print_table(name, results[name])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"sizes": sizes, "results": results}, indent=2))
    print(f"\nwritten to {args.out}")
    return 0


def chosen(only: list[str] | None, smoke: bool) -> list[str]:
    """The scenarios to run: those named with `--only`, else all but the ones run only on request (and the
    memory scenario, which takes long at any size but the smoke's)."""
    if only:
        return [name for name in SCENARIOS if name in only]
    return [name for name in SCENARIOS if name not in ON_REQUEST and (smoke or name != "memory")]


def print_table(name: str, result: dict) -> None:
    print(f"\n{name}")
    for key, value in result.items():
        shown = (
            f"{value:,.2f}" if isinstance(value, float) else f"{value:,}" if isinstance(value, int) else value
        )
        print(f"  {key:<44} {shown}")


if __name__ == "__main__":
    sys.exit(main())
