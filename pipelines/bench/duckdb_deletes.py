"""DuckDB alone: the resident memory of a merge that deletes rows scattered over a growing table.

    python -m pipelines.bench.duckdb_deletes [--slices 6] [--edits scattered|recent|none] [--memory-limit 128MB]

Each slice does what dlt's `delete-insert` merge of a child table does in one load package, in a fresh
connection to one database file (DuckDB capped as run.py caps it): 1,000,000 new rows (200,000 messages x 5)
are staged, plus the rows of 10,000 re-sent messages (`scattered`: anywhere in the history, as edits of old
messages are; `recent`: among the newest 20,000 messages; `none`: no re-sends); then the stored rows of the
staged messages are deleted and the staged rows inserted, in one transaction, and the connection is closed
(DuckDB checkpoints). Prints, per slice, the peak resident memory of this process during the delete, during
the insert and during the close, and DuckDB's own account of its memory (`duckdb_memory()`) after each.
"""

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path

import duckdb

MESSAGES_PER_SLICE = 200_000
ROWS_PER_MESSAGE = 5
RESENT_MESSAGES = 10_000


class PeakRss:
    def __init__(self) -> None:
        self.peak = 0.0
        threading.Thread(target=self._run, daemon=True).start()

    @staticmethod
    def now() -> float:
        with open("/proc/self/status") as status:
            return int(next(line for line in status if line.startswith("VmRSS:")).split()[1]) / 1024

    def _run(self) -> None:
        while True:
            self.peak = max(self.peak, self.now())
            time.sleep(0.02)

    def during(self, connection: duckdb.DuckDBPyConnection, sql: str) -> float:
        self.peak = self.now()
        connection.execute(sql)
        return round(max(self.peak, self.now()), 1)


def duckdb_memory(connection: duckdb.DuckDBPyConnection) -> dict[str, float]:
    rows = connection.execute(
        "SELECT tag, memory_usage_bytes FROM duckdb_memory() WHERE memory_usage_bytes > 0"
    ).fetchall()
    return {tag: round(used / 2**20, 1) for tag, used in rows}


def resent_ids(edits: str, stored_rows: int) -> str | None:
    """SQL for the first child row id of each re-sent message's rows, or None."""
    if edits == "none" or stored_rows == 0:
        return None
    span = stored_rows if edits == "scattered" else min(stored_rows, 20_000 * ROWS_PER_MESSAGE)
    return f"SELECT {stored_rows} - 1 - (random() * {span})::BIGINT FROM range({RESENT_MESSAGES})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--slices", type=int, default=6)
    parser.add_argument("--edits", choices=["scattered", "recent", "none"], default="scattered")
    parser.add_argument("--memory-limit", default="128MB")
    args = parser.parse_args()
    config = {"memory_limit": args.memory_limit, "threads": 1}
    sampler = PeakRss()
    print(json.dumps({"duckdb": duckdb.__version__, "edits": args.edits, "memory_limit": args.memory_limit}))
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "deletes.duckdb")
        for index in range(args.slices):
            stored = index * MESSAGES_PER_SLICE * ROWS_PER_MESSAGE
            with duckdb.connect(path, config=config) as connection:
                connection.execute(
                    "CREATE TABLE IF NOT EXISTS rows (id BIGINT, message_id BIGINT, idx BIGINT, a VARCHAR, "
                    "b VARCHAR, c DOUBLE, d VARCHAR, e VARCHAR); CREATE OR REPLACE TABLE staged AS "
                    f"SELECT r AS id, r // {ROWS_PER_MESSAGE} AS message_id, r % {ROWS_PER_MESSAGE} AS idx, "
                    "md5(r::VARCHAR) || md5((r + 1)::VARCHAR) AS a, repeat('x', 40) AS b, random() AS c, "
                    f"md5((r * 7)::VARCHAR) AS d, md5(r::VARCHAR) AS e FROM range({stored}, "
                    f"{stored + MESSAGES_PER_SLICE * ROWS_PER_MESSAGE}) t(r)"
                )
                resent = resent_ids(args.edits, stored)
                if resent:
                    connection.execute(
                        f"INSERT INTO staged SELECT r, r // {ROWS_PER_MESSAGE}, r % {ROWS_PER_MESSAGE}, "
                        f"md5(r::VARCHAR), 'edited', random(), 'e', md5(r::VARCHAR) FROM ({resent}) t(r)"
                    )
            connection = duckdb.connect(path, config=config)
            connection.execute("BEGIN")
            delete = sampler.during(
                connection, "DELETE FROM rows WHERE message_id IN (SELECT message_id FROM staged)"
            )
            after_delete = duckdb_memory(connection)
            insert = sampler.during(connection, "INSERT INTO rows SELECT * FROM staged")
            after_insert = duckdb_memory(connection)
            commit = sampler.during(connection, "COMMIT")
            sampler.peak = sampler.now()
            connection.close()
            close = round(max(sampler.peak, sampler.now()), 1)
            print(
                json.dumps(
                    {
                        "slice": index,
                        "stored_rows_before": stored,
                        "peak_rss_mb": {"delete": delete, "insert": insert, "commit": commit, "close": close},
                        "duckdb_memory_mb": {"after_delete": after_delete, "after_insert": after_insert},
                        "rss_after_close_mb": round(sampler.now(), 1),
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
