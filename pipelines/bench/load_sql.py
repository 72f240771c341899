"""Where the load step's time goes, statement by statement: extracts and normalizes scenario 1's data once into a
saved pipeline, then loads copies of that same normalized package `--rounds` times into DuckDB (as `run_load`
does, one checkpoint per package), timing every SQL statement dlt runs. Prints figures; asserts nothing.

    python -m pipelines.bench.load_sql [--messages 200000] [--rounds 2] [--keep DIR] [--saved DIR]

`--keep DIR` keeps the saved package in DIR; `--saved DIR` loads one kept earlier (from the same code's extract).
The statements are grouped by kind (parquet copy, merge's delete, dedup + insert, ...) and table.
"""

import argparse
import json
import re
import resource
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dlt.destinations.impl.duckdb.sql_client import DuckDbSqlClient

from pipelines.bench.scenarios import SIZES, throughput_data
from pipelines.held_duckdb import duckdb_held_open
from pipelines.loading import build_pipeline, capped_duckdb
from sources.cometchat import CometChatClient, CometChatCredentials, cometchat_source
from sources.cometchat_emulator import Emulator

PIPELINE = "bench_load_sql"
DATABASE = "load_sql.duckdb"
SHOW = False


def save_package(messages: int, directory: Path) -> None:
    """Extracts and normalizes scenario 1's data into a pipeline under `directory`, leaving it unloaded."""
    config = throughput_data(messages)
    with Emulator(config) as emulator:
        credentials = CometChatCredentials(
            app_id=emulator.app_id, api_key=emulator.api_key, base_url=emulator.base_url
        )
        client = CometChatClient(credentials, requests_per_minute=1e9)
        pipeline = _pipeline(directory)
        pipeline.extract(cometchat_source(credentials=credentials, client=client))
        pipeline.normalize()


def _pipeline(directory: Path) -> Any:
    return build_pipeline(
        destination=capped_duckdb(directory / DATABASE),
        pipeline_name=PIPELINE,
        progress=None,
        pipelines_dir=str(directory / "pipelines"),
    )


def _kind(statement: str) -> str:
    """A short label: what the statement does and to which table."""
    text = " ".join(statement.split())
    table = re.findall(
        r'"(messages[a-z_]*|users[a-z_]*|groups[a-z_]*|group_[a-z_]*|user_[a-z_]*|_dlt_[a-z_]*)"', text
    )
    name = table[0] if table else "-"
    upper = text.upper()
    if "READ_PARQUET" in upper or "FROM READ_" in upper:
        kind = "copy parquet"
    elif upper.startswith("DELETE"):
        kind = "delete"
    elif upper.startswith("INSERT") and "ROW_NUMBER" in upper:
        kind = "insert with dedup"
    elif upper.startswith("INSERT"):
        kind = "insert"
    elif upper.startswith("CREATE TEMPORARY"):
        kind = "temp table"
    elif upper.startswith("CHECKPOINT"):
        kind = "checkpoint"
    elif upper.startswith("TRUNCATE") or (upper.startswith("DELETE FROM") and "STAGING" in upper):
        kind = "truncate"
    else:
        kind = "other"
    return f"{kind} {name}"


@contextmanager
def timed_statements(totals: dict[str, list[float]]) -> Iterator[None]:
    original = DuckDbSqlClient.execute_query

    @contextmanager
    def execute_query(self: DuckDbSqlClient, query: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        wall, cpu = time.monotonic(), time.process_time()
        with original(self, query, *args, **kwargs) as cursor:
            yield cursor
        if SHOW and "messages__entities" in str(query) and "read_parquet" not in str(query):
            print(query)
        entry = totals[_kind(str(query))]
        entry[0] += time.monotonic() - wall
        entry[1] += time.process_time() - cpu
        entry[2] += 1

    def execute_many(self: DuckDbSqlClient, statements: Any, *args: Any, **kwargs: Any) -> list[Any]:
        # One statement at a time, so that each is timed on its own (dlt joins them into one call).
        results = [self.execute_sql(statement, *args, **kwargs) for statement in statements]
        return [result for result in results if result is not None]

    original_many = DuckDbSqlClient.execute_many
    DuckDbSqlClient.execute_query = execute_query  # type: ignore[method-assign, assignment]
    DuckDbSqlClient.execute_many = execute_many  # type: ignore[method-assign, assignment]
    try:
        yield
    finally:
        DuckDbSqlClient.execute_query = original  # type: ignore[method-assign]
        DuckDbSqlClient.execute_many = original_many  # type: ignore[method-assign]


def load_once(saved: Path) -> dict:
    with tempfile.TemporaryDirectory() as workdir:
        directory = Path(workdir)
        shutil.copytree(saved, directory, dirs_exist_ok=True)
        pipeline = _pipeline(directory)
        totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
        wall, cpu = time.monotonic(), time.process_time()
        with timed_statements(totals), duckdb_held_open(pipeline):
            pipeline.load()
        result: dict[str, Any] = {
            "load s": round(time.monotonic() - wall, 2),
            "load cpu s": round(time.process_time() - cpu, 2),
        }
        statements = sorted(totals.items(), key=lambda item: -item[1][1])
        result["sql cpu s"] = round(sum(entry[1] for _, entry in statements), 2)
        result["statements (cpu s, wall s, count)"] = {
            label: [round(entry[1], 2), round(entry[0], 2), entry[2]]
            for label, entry in statements
            if entry[0] > 0.02
        }
        return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=SIZES["default"]["messages"])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="keep the saved package in this directory")
    parser.add_argument("--saved", type=Path, help="load a package kept earlier with --keep")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        saved = args.saved or args.keep or Path(scratch)
        if args.saved is None:
            save_package(args.messages, saved)
        results = [load_once(saved) for _ in range(args.rounds)]
    peak = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    for number, result in enumerate(results, 1):
        statements = result.pop("statements (cpu s, wall s, count)")
        print(f"round {number}: {json.dumps(result)}")
        for label, (cpu, wall, count) in statements.items():
            print(f"  {cpu:6.2f} cpu s {wall:6.2f} s {count:4d}x  {label}")
    print(json.dumps({"messages": args.messages, "peak rss mb": peak}))


if __name__ == "__main__":
    main()
