"""Load a CometChat app into a dlt destination (DuckDB by default).

python pipelines/run.py                      # the account configured in .dlt/secrets.toml or env vars
python pipelines/run.py --check              # first against a real account: credentials and API behaviour
python pipelines/run.py --demo               # no account: the bundled emulator with seeded data
python pipelines/run.py --destination filesystem --dataset-name chat --resources users,messages
"""

import argparse
import logging
import sys

import dlt

from pipelines.check import run_check
from pipelines.cli_support import client_for, configure_logging, exit_on_known_errors
from pipelines.loading import (
    DATASET_NAME,
    PIPELINE_NAME,
    LoadSummary,
    build_pipeline,
    run_load,
    table_row_counts,
)
from pipelines.process_tree import forked_children_die_with_this_process
from pipelines.run_lock import exclusive_run
from sources.cometchat.settings import RESOURCE_NAMES

logger = logging.getLogger("pipelines.run")
# dlt's progress displays; tqdm, enlighten and alive_progress are dependencies of the project.
PROGRESS_CHOICES = ("log", "tqdm", "enlighten", "alive_progress", "none")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--demo", action="store_true", help="load the bundled emulator instead of an account")
    parser.add_argument(
        "--check",
        action="store_true",
        help="validate the credentials and probe the API's behaviour, read-only, then exit (0 usable, 2 not)",
    )
    parser.add_argument("--destination", default="duckdb", help="any dlt destination (default: duckdb)")
    parser.add_argument(
        "--dataset-name", default=DATASET_NAME, help=f"dataset (schema) name (default: {DATASET_NAME})"
    )
    parser.add_argument(
        "--pipeline-name", default=PIPELINE_NAME, help=f"dlt pipeline name (default: {PIPELINE_NAME})"
    )
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
        "--messages-from",
        type=int,
        metavar="SECONDS",
        help="a new pipeline after a scale-out backfill: read messages, and changes, from this second on "
        "(the backfill plan's end; see pipelines/backfill.py). Ignored once the pipeline has a cursor",
    )
    parser.add_argument(
        "--progress",
        default="log",
        choices=PROGRESS_CHOICES,
        help="dlt progress display (default: log)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging()
    forked_children_die_with_this_process()
    with exit_on_known_errors():
        if args.check:
            with client_for(args.demo, args.requests_per_minute) as client:
                return run_check(client)
        pipeline = build_pipeline(args.destination, args.dataset_name, args.pipeline_name, args.progress)
        with exclusive_run(pipeline), client_for(args.demo, args.requests_per_minute) as client:
            summary = run_load(
                pipeline, client, args.resources, args.full_refresh, messages_from=args.messages_from
            )
    report(summary, pipeline, args.demo)
    return 0


def report(summary: LoadSummary, pipeline: dlt.Pipeline, demo: bool) -> None:
    """The closing report; the data is loaded by now, so a failure here is a warning, not a failed run."""
    try:
        stored_rows = table_row_counts(pipeline)
    except Exception as error:
        logger.warning(
            "Loaded, but the stored row counts could not be read: %s: %s", type(error).__name__, error
        )
        stored_rows = {}
    print_summary(summary, stored_rows, pipeline)
    if demo:
        try:
            print_preview(pipeline)
        except Exception as error:
            logger.warning("Loaded, but the preview failed: %s: %s", type(error).__name__, error)


def print_summary(summary: LoadSummary, stored_rows: dict[str, int], pipeline: dlt.Pipeline) -> None:
    stats = summary.requests
    print()
    print(
        f"Loaded into {pipeline.destination.destination_name} dataset '{pipeline.dataset_name}' "
        f"in {summary.seconds:.1f} s"
    )
    print(f"{'table':<36}{'extracted':>12}{'stored':>10}")
    for table in sorted(set(summary.rows_per_table) | set(stored_rows)):
        print(f"{table:<36}{summary.rows_per_table.get(table, 0):>12}{stored_rows.get(table, 0):>10}")
    print(
        "(extracted: rows this run read, a message changed while it was read counted twice; stored: rows now)"
    )
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


def print_preview(pipeline: dlt.Pipeline) -> None:
    print("\nA first look, through pipeline.dataset():")
    print(pipeline.dataset()(PREVIEW_SQL).df().to_string(index=False))
    print(f"\nIn pandas: dlt.attach({pipeline.pipeline_name!r}).dataset()['messages'].df()  (see notebooks/)")


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
