"""Where the memory of run.py's load goes, slice by slice. Prints one JSON line per step, then a summary.

    python -m pipelines.bench.memory_slices --messages 1000000 [--windows N] [--trim] [--release]
        [--statements] [--duckdb-limit 64MB] [--duckdb-set KEY=VALUE] [--workdir DIR]

Starts an emulator (its own process, excluded from every figure) and loads it as run.py does (`run_load`:
messages in slices of `messages_per_load`, one `pipeline.run` each), in this process. Each step (extract,
normalize, load of every slice) prints its peak resident memory (sampled every 0.1 s), and after it: resident
memory, the Python heap as the allocator sees it (glibc's `mallinfo2`: in use, free but kept, in mmapped
blocks, and its arena count), pyarrow's pool, the gc's object count, and the DuckDB file and its write-ahead
log. `--trim` hands glibc's freed memory back to the system after each step (`malloc_trim`), to show how much
of the resident memory is memory freed but kept. The sampler is a thread of this process: a peak shorter than
its 0.1 s, or one while a C call holds the GIL, can be missed (a sampler outside the process, every 2 s, saw up
to 25 MB more in one run); the benchmark's process-tree figures come from outside (`--only memory`).
"""

import argparse
import contextlib
import ctypes
import gc
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa

from pipelines import loading
from pipelines.loading import build_pipeline, capped_duckdb, run_load
from sources.cometchat import CometChatClient, CometChatCredentials
from sources.cometchat_emulator import Emulator, EmulatorConfig

LIBC = ctypes.CDLL("libc.so.6")


class MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in [
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        ]
    ]


LIBC.mallinfo2.restype = MallInfo2
LIBC.fmemopen.restype = ctypes.c_void_p
LIBC.fmemopen.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
LIBC.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
LIBC.fflush.argtypes = [ctypes.c_void_p]
LIBC.fclose.argtypes = [ctypes.c_void_p]


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def arena_count() -> int:
    """glibc's malloc arenas: the main one plus one per arena a thread made (each `<arena>` in malloc_info)."""
    buffer = ctypes.create_string_buffer(1 << 20)
    stream = LIBC.fmemopen(buffer, len(buffer), b"w")
    LIBC.malloc_info(0, stream)
    LIBC.fflush(stream)
    LIBC.fclose(stream)
    return buffer.value.count(b"<heap nr=")


class Sampler:
    """Peak resident memory over named spans (they may nest), sampled every 0.1 s."""

    def __init__(self) -> None:
        self.peaks: dict[str, float] = {}
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.done.wait(0.1):
            now = rss_mb()
            for name, peak in list(self.peaks.items()):
                self.peaks[name] = max(peak, now)

    def start(self, name: str) -> None:
        self.peaks[name] = rss_mb()

    def stop(self, name: str) -> float:
        return max(self.peaks.pop(name, 0.0), rss_mb())


def trace_statements(sampler: Sampler) -> None:
    """Prints the peak resident memory while each DuckDB statement, commit and connection close runs, and
    DuckDB's own account of its memory after the statement (`duckdb_memory()`)."""
    from dlt.destinations.impl.duckdb.sql_client import DuckDbSqlClient

    def traced(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            sampler.start("statement")
            result = method(self, *args, **kwargs)
            peak = sampler.stop("statement")
            duckdb_mb = None
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    row = self._conn.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchone()
                    duckdb_mb = round(row[0] / 2**20, 1)
            text = " ".join(str(args[0]).split())[:160] if args else ""
            print(
                json.dumps({"sql": name, "peak_rss_mb": round(peak, 1), "duckdb_mb": duckdb_mb, "text": text})
            )
            return result

        return wrapper

    DuckDbSqlClient.execute_sql = traced("execute_sql", DuckDbSqlClient.execute_sql)
    DuckDbSqlClient.commit_transaction = traced("commit", DuckDbSqlClient.commit_transaction)
    DuckDbSqlClient.close_connection = traced("close", DuckDbSqlClient.close_connection)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--groups", type=int, default=100)
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--windows", type=int, default=None, help="backfill_windows (default: the source's)")
    parser.add_argument("--trim", action="store_true", help="malloc_trim(0) after every step")
    parser.add_argument("--release", action="store_true", help="also pyarrow's pool release_unused()")
    parser.add_argument("--duckdb-limit", default=None, help="DuckDB memory_limit instead of run.py's")
    parser.add_argument("--statements", action="store_true", help="peak memory of every DuckDB statement")
    parser.add_argument(
        "--duckdb-set", action="append", default=[], help="KEY=VALUE: one more DuckDB setting"
    )
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    if args.windows is not None:
        os.environ["SOURCES__COMETCHAT__BACKFILL_WINDOWS"] = str(args.windows)
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "ERROR")
    if args.duckdb_limit:
        loading.DUCKDB_MEMORY_LIMIT = args.duckdb_limit
    config = EmulatorConfig(seed=args.seed, users=args.users, groups=args.groups, messages=args.messages)
    with contextlib.ExitStack() as stack:
        workdir = Path(args.workdir or stack.enter_context(tempfile.TemporaryDirectory()))
        emulator = stack.enter_context(Emulator(config))
        measure(
            emulator,
            workdir,
            args.trim,
            args.release,
            args.statements,
            dict(kv.split("=", 1) for kv in args.duckdb_set),
        )


def measure(
    emulator: Emulator, workdir: Path, trim: bool, release: bool, statements: bool, duckdb_set: dict[str, str]
) -> None:
    credentials = CometChatCredentials(
        app_id=emulator.app_id, api_key=emulator.api_key, base_url=emulator.base_url
    )
    client = CometChatClient(credentials, requests_per_minute=1e9)
    database = workdir / "memory.duckdb"
    destination = capped_duckdb(database)
    destination.config_params["credentials"].global_config.update(duckdb_set)
    pipeline = build_pipeline(
        destination=destination,
        pipeline_name="bench_memory_slices",
        progress=None,
        pipelines_dir=str(workdir / "pipelines"),
    )
    sampler, started, slices = Sampler(), time.monotonic(), [0]
    overall = {"peak_rss_mb": 0.0}

    def report(step: str, peak: float) -> None:
        before_trim = rss_mb()
        if release:
            pa.default_memory_pool().release_unused()
        if trim:
            LIBC.malloc_trim(0)
        info = LIBC.mallinfo2()
        wal = database.with_suffix(".duckdb.wal")
        line: dict[str, Any] = {
            "slice": slices[0],
            "step": step,
            "s": round(time.monotonic() - started, 1),
            "peak_rss_mb": round(peak, 1),
            "rss_mb": round(before_trim, 1),
            "rss_after_trim_mb": round(rss_mb(), 1) if trim or release else None,
            "malloc_in_use_mb": round((info.uordblks + info.hblkhd) / 2**20, 1),
            "malloc_free_kept_mb": round(info.fordblks / 2**20, 1),
            "malloc_mmapped_mb": round(info.hblkhd / 2**20, 1),
            "malloc_arenas": arena_count(),
            "arrow_pool_mb": round(pa.total_allocated_bytes() / 2**20, 1),
            "gc_objects": len(gc.get_objects()),
            "duckdb_mb": round(database.stat().st_size / 2**20, 1) if database.exists() else 0,
            "wal_mb": round(wal.stat().st_size / 2**20, 1) if wal.exists() else 0,
        }
        overall["peak_rss_mb"] = max(overall["peak_rss_mb"], peak)
        print(json.dumps(line), flush=True)

    def timed(step: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            sampler.start("step")
            result = method(*args, **kwargs)
            report(step, sampler.stop("step"))
            if step == "load":
                slices[0] += 1
            return result

        return wrapper

    if statements:
        trace_statements(sampler)
    for step in ("extract", "normalize", "load"):
        setattr(pipeline, step, timed(step, getattr(pipeline, step)))
    summary = run_load(pipeline, client)
    sampler.done.set()
    print(
        json.dumps(
            {
                "summary": True,
                "seconds": round(summary.seconds, 1),
                "rows": summary.rows_per_table,
                "peak_rss_mb": round(overall["peak_rss_mb"], 1),
                "requests": summary.requests.requests,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
