"""Load a CometChat app into a dlt destination (DuckDB by default).

python pipelines/run.py                      # the account configured in .dlt/secrets.toml or env vars
python pipelines/run.py --demo               # no account: the bundled emulator with seeded data
python pipelines/run.py --destination filesystem --dataset-name chat --resources users,messages
"""

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from any directory

from pipelines.cli_support import client_for, configure_logging, exit_on_known_errors
from pipelines.loading import LoadSummary, build_pipeline, run_load, table_row_counts
from pipelines.process_tree import forked_children_die_with_this_process
from sources.cometchat.settings import RESOURCE_NAMES


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--demo", action="store_true", help="load the bundled emulator instead of an account")
    parser.add_argument("--destination", default="duckdb", help="any dlt destination (default: duckdb)")
    parser.add_argument(
        "--dataset-name", default="cometchat", help="dataset (schema) name (default: cometchat)"
    )
    parser.add_argument("--pipeline-name", default="cometchat", help="dlt pipeline name (default: cometchat)")
    parser.add_argument(
        "--resources",
        type=_resource_list,
        help=f"comma-separated subset of: {', '.join(RESOURCE_NAMES)} (default: all)",
    )
    parser.add_argument(
        "--full-refresh",
        action="store_true",
        help="drop this source's tables and cursors, then load everything",
    )
    parser.add_argument(
        "--requests-per-minute",
        type=float,
        help="request budget (default: sources.cometchat.requests_per_minute, else 500)",
    )
    parser.add_argument(
        "--progress",
        default="log",
        choices=["log", "tqdm", "enlighten", "alive_progress", "none"],
        help="dlt progress display (default: log)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging()
    forked_children_die_with_this_process()
    with exit_on_known_errors(), client_for(args.demo, args.requests_per_minute) as client:
        pipeline = build_pipeline(args.destination, args.dataset_name, args.pipeline_name, args.progress)
        summary = run_load(pipeline, client, args.resources, args.full_refresh)
        print_summary(summary, table_row_counts(pipeline), pipeline)
        if args.demo:
            print_preview(pipeline)
    return 0


def print_summary(summary: LoadSummary, stored_rows: dict[str, int], pipeline) -> None:
    stats = summary.requests
    print()
    print(
        f"Loaded into {pipeline.destination.destination_name} dataset '{pipeline.dataset_name}' "
        f"in {summary.seconds:.1f} s"
    )
    print(f"{'table':<36}{'extracted':>12}{'stored':>10}")
    for table in sorted(set(summary.rows_per_table) | set(stored_rows)):
        print(f"{table:<36}{summary.rows_per_table.get(table, 0):>12}{stored_rows.get(table, 0):>10}")
    print("(extracted message rows include the changed copy that each edit/delete action carries)")
    print(
        f"Requests: {stats.requests} ({_statuses(stats.by_status)}); retries: {stats.retries} "
        f"({stats.retry_wait_seconds:.1f} s waiting); rate-budget waits: {stats.throttle_waits} "
        f"({stats.throttle_wait_seconds:.1f} s)"
    )


PREVIEW_SQL = """
    SELECT m.receiver_type AS conversation_type, count(*) AS messages,
           count(DISTINCT m.conversation_id) AS conversations, count(m.parent_id) AS thread_replies,
           count(m.deleted_at) AS deleted, min(m.sent_at) AS first_message, max(m.sent_at) AS last_message
    FROM messages AS m GROUP BY 1 ORDER BY 1
"""


def print_preview(pipeline) -> None:
    print("\nA first look, through pipeline.dataset():")
    print(pipeline.dataset()(PREVIEW_SQL).df().to_string(index=False))
    print("\nIn pandas: pipelines.loading.build_pipeline().dataset()['messages'].df()  (see notebooks/)")


def _statuses(by_status: dict[int, int]) -> str:
    return ", ".join(f"{count}x{status}" for status, count in sorted(by_status.items())) or "none"


def _resource_list(value: str) -> list[str]:
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = sorted(set(names) - set(RESOURCE_NAMES))
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown resource(s) {unknown}; choose from {', '.join(RESOURCE_NAMES)}"
        )
    return names


if __name__ == "__main__":
    logging.captureWarnings(True)
    sys.exit(main())
