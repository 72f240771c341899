"""The scale-out message backfill without an orchestrator's UI: plan it, load a window, hand over.

python -m pipelines.backfill plan --windows 1000 --out backfill-plan.json
python -m pipelines.backfill shard --plan backfill-plan.json --window 1764547200_1764633600 --shards 8 \\
    --destination postgres --dataset-name cometchat_data
python pipelines/run.py --destination postgres --messages-from UNTIL   # the plan's end, printed by `plan`

Any orchestrator (or `xargs -P`) can run the `shard` commands, on as many machines as it likes; every shard
gets 1/--shards of the budget, so at most --shards of them may run at once. pipelines/dagster_backfill.py
does the same as Dagster assets.
"""

import argparse
import logging
import sys

from pipelines.cli_support import configure_logging, configured_client, exit_on_known_errors
from pipelines.loading import DATASET_NAME
from pipelines.scale_out import (
    BackfillPlan,
    load_window,
    parse_window_key,
    plan_backfill,
    shard_budget,
    shard_pipeline,
    window_key,
)
from sources.cometchat.errors import CometChatConfigError

logger = logging.getLogger("pipelines.backfill")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)

    plan = commands.add_parser("plan", help="cut the message history into windows (two requests)")
    plan.add_argument("--windows", type=int, required=True, help="how many windows")
    plan.add_argument(
        "--out", default="backfill-plan.json", help="the plan file (default: backfill-plan.json)"
    )

    shard = commands.add_parser("shard", help="load the messages of one window of the plan")
    shard.add_argument("--plan", default="backfill-plan.json")
    shard.add_argument("--window", required=True, help="the window's key, <start>_<until>, as in the plan")
    shard.add_argument("--shards", type=int, default=1, help="how many shards run at once (budget share 1/N)")
    shard.add_argument("--requests-per-minute", type=float, help="the app's whole budget")
    shard.add_argument("--destination", default="postgres")
    shard.add_argument("--dataset-name", default=DATASET_NAME)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging()
    with exit_on_known_errors():
        if args.command == "plan":
            plan = plan_backfill(configured_client(), args.windows)
            plan.save(args.out)
            print(f"{len(plan.windows)} window(s) written to {args.out}; after the backfill, the first run:")
            print(f"python pipelines/run.py --messages-from {plan.until} ...")
        else:
            run_shard(args)
    return 0


def run_shard(args: argparse.Namespace) -> None:
    plan = BackfillPlan.load(args.plan)
    window = parse_window_key(args.window)
    if window not in plan.windows:
        raise CometChatConfigError(f"{args.window} is not a window of the plan {args.plan}")
    # The configured client says the whole budget; the shard's own client gets its share.
    overrides = {"requests_per_minute": args.requests_per_minute} if args.requests_per_minute else {}
    client = configured_client(**overrides)
    budget = shard_budget(client.budget.requests_per_minute, args.shards)
    pipeline = shard_pipeline(args.destination, args.dataset_name, window)
    if load_window(pipeline, window, client.credentials, budget) is None:
        print(f"Window {window_key(window)} was loaded before by pipeline {pipeline.pipeline_name}")
    else:
        print(f"Window {window_key(window)} loaded by pipeline {pipeline.pipeline_name}")


if __name__ == "__main__":
    logging.captureWarnings(True)
    sys.exit(main())
