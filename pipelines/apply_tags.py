"""Push conversation tags back to CometChat (reverse ETL) from a CSV file or a SQL query on the loaded
dataset, then record every row in `tag_changes` and refresh the loaded conversation tables.

python pipelines/apply_tags.py CHANGES.csv --dry-run          # the plan: current tags, desired tags, action
python pipelines/apply_tags.py CHANGES.csv --report out.csv   # apply; every row's result as CSV
python pipelines/apply_tags.py --sql "SELECT on_behalf_of, conversation_id, tags, mode FROM ..." --dry-run
python pipelines/apply_tags.py --sql-file vip.sql --manage-prefix auto: --dry-run   # mirror mode
python pipelines/apply_tags.py pipelines/examples/tag_changes.csv --demo --dry-run

The file format, statuses and exit codes: sources/cometchat/reverse_etl/README.md.
Exit status: 0 every row applied or unchanged (or planned), 1 a row rejected or failed,
2 an unusable file, query or configuration (nothing sent).
"""

import argparse
import json
import logging
import sys
from pathlib import Path

import pandas as pd

from pipelines.cli_support import (
    EXIT_FAILED,
    EXIT_UNUSABLE_INPUT,
    client_for,
    configure_logging,
    exit_on_known_errors,
)
from pipelines.loading import DATASET_NAME, PIPELINE_NAME, build_pipeline
from pipelines.tag_sync import AUDIT_TABLE, changes_from_sql, sync_tags
from sources.cometchat.reverse_etl import (
    MODES,
    RESULT_COLUMNS,
    Status,
    UnusableChangesFile,
    all_succeeded,
    read_changes_csv,
    status_counts,
    write_report,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "changes", type=Path, nargs="?", help="CSV with on_behalf_of, conversation_id, tags[, mode]"
    )
    source.add_argument(
        "--sql", help="a SELECT on the loaded dataset naming on_behalf_of, conversation_id, tags[, mode]"
    )
    source.add_argument("--sql-file", type=Path, help="a file holding that SELECT")
    parser.add_argument(
        "--dry-run", action="store_true", help="read the current tags and show the plan; send nothing"
    )
    parser.add_argument("--report", type=Path, help="write every row's result to this CSV file")
    parser.add_argument(
        "--mode", default="set", choices=MODES, help="mode of rows whose mode cell is empty (default: set)"
    )
    parser.add_argument(
        "--manage-prefix",
        metavar="PREFIX",
        help="mirror mode: the rows are the complete set of PREFIX tags of every conversation; "
        "conversations they do not name lose theirs; other tags are never touched",
    )
    parser.add_argument(
        "--demo", action="store_true", help="run against the bundled emulator instead of an account"
    )
    parser.add_argument(
        "--destination", default="duckdb", help="the loaded dataset's dlt destination (default: duckdb)"
    )
    parser.add_argument(
        "--dataset-name", default=DATASET_NAME, help=f"dataset (schema) name (default: {DATASET_NAME})"
    )
    parser.add_argument(
        "--pipeline-name", default=PIPELINE_NAME, help=f"dlt pipeline name (default: {PIPELINE_NAME})"
    )
    parser.add_argument(
        "--requests-per-minute",
        type=float,
        help="request budget (default: sources.cometchat.requests_per_minute, else 500)",
    )
    parser.add_argument(
        "--show", type=int, default=30, help="rows of the plan/result table to print (default: 30)"
    )
    args = parser.parse_args(argv)
    if args.manage_prefix is not None and not args.manage_prefix.strip():
        parser.error("--manage-prefix needs a non-empty prefix, such as auto:")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging()
    try:
        query = _query(args)
        changes = read_changes_csv(args.changes) if query is None else None
        _check_report_path(args.report)
    except UnusableChangesFile as error:
        print(f"Unusable changes file: {error}", file=sys.stderr)
        return EXIT_UNUSABLE_INPUT
    with exit_on_known_errors(), client_for(args.demo, args.requests_per_minute) as client:
        pipeline = build_pipeline(args.destination, args.dataset_name, args.pipeline_name, progress=None)
        if query is not None:
            try:
                changes = changes_from_sql(pipeline, query)
            except Exception as error:  # the query is input: any failure to run it is reported as such
                print(f"Unusable query: {type(error).__name__}: {error}", file=sys.stderr)
                return EXIT_UNUSABLE_INPUT
        try:
            results = sync_tags(
                changes,
                client,
                pipeline,
                dry_run=args.dry_run,
                default_mode=args.mode,
                managed_prefix=args.manage_prefix,
            )
        except UnusableChangesFile as error:
            print(f"Unusable changes: {error}", file=sys.stderr)
            return EXIT_UNUSABLE_INPUT
        if args.report:
            write_report(results, args.report)
        print_results(results, args.show, args.dry_run)
        print_summary(results, args)
    audit_error = results.attrs.get("audit_error")
    if audit_error:
        print(f"The changes were sent, but: {audit_error}", file=sys.stderr)
    return 0 if all_succeeded(results) and not audit_error else EXIT_FAILED


def _query(args: argparse.Namespace) -> str | None:
    if args.sql_file is not None:
        try:
            return args.sql_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise UnusableChangesFile(f"cannot read {args.sql_file}: {error}") from None
    return args.sql


def _check_report_path(report: Path | None) -> None:
    """A report that cannot be written is found out before anything is sent."""
    if report is None:
        return
    if report.is_dir() or not report.parent.is_dir():
        raise UnusableChangesFile(f"cannot write the report to {report}: no such directory")


def print_results(results: pd.DataFrame, limit: int, dry_run: bool) -> None:
    problems = results["status"].isin([Status.REJECTED, Status.FAILED])
    shown = results[problems].head(limit)
    if len(shown) < limit:
        shown = results.loc[sorted([*shown.index, *results[~problems].head(limit - len(shown)).index])]
    # A dry run's status only repeats its action (planned = update).
    table = shown.loc[:, [c for c in RESULT_COLUMNS if not (dry_run and c == "status")]].copy()
    for column in ("current_tags", "desired_tags"):
        table[column] = [json.dumps(tags, ensure_ascii=False) for tags in table[column]]
    print()
    print(table.to_string(index=False, max_colwidth=64))
    if len(results) > len(shown):
        print(f"... and {len(results) - len(shown)} more row(s); --report PATH writes every row")


def print_summary(results: pd.DataFrame, args: argparse.Namespace) -> None:
    counts = ", ".join(f"{count} {status}" for status, count in status_counts(results).items())
    seconds = results.attrs.get("seconds", 0.0)
    if args.dry_run:
        print(f"Dry run of {len(results)} row(s): {counts}; 0 PUTs sent ({seconds:.1f} s)")
        return
    retries = results.attrs.get("put_retries", 0)
    again = f" ({retries} request(s) repeated after a lost or refused answer)" if retries else ""
    recovered = results.attrs.get("recovered", 0)
    earlier = f"; {recovered} row(s) of an interrupted run recorded first" if recovered else ""
    print(
        f"{len(results)} row(s): {counts}; {results.attrs.get('puts_sent', 0)} PUT(s) sent{again} in "
        f"{seconds:.1f} s; run {results.attrs.get('run_id')} recorded in {args.dataset_name}.{AUDIT_TABLE}{earlier}"
    )
    if args.report:
        print(f"Report: {args.report}")


if __name__ == "__main__":
    logging.captureWarnings(True)
    sys.exit(main())
