"""Where the wall time of one `run_load` goes: its steps in order, each with the machine's busy cores meanwhile.

    python -m pipelines.bench.timeline [--messages 200000] [--messages-per-load 100000]
        [--latency-ms 150 --messages-only] [--max-workers 16 --backfill-windows 16]

Runs `run_load` in this process against an emulator of scenario 1's data (its own process), as run.py loads:
messages in slices, each slice's package loaded on a thread while the next is extracted, then the other tables.
Prints each step's start and end (which thread, which step) and, per step, the mean busy cores of the whole
machine while it ran (from /proc/stat, every 0.2 s), so an idle core shows where it sits; then how long the
loader waited for the time windows' pages, second by second, and the API's mean answer time. Asserts nothing.
The machine's cores are counted whole: anything else running shows as busy.
"""

import argparse
import functools
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest.mock import patch

import dlt

from pipelines import loading
from pipelines.background_load import BackgroundLoad
from pipelines.bench.scenarios import LATENCY_BUDGET, throughput_data
from sources.cometchat import CometChatClient, CometChatCredentials, windows
from sources.cometchat.settings import MAX_WORKERS, MESSAGES_PER_LOAD
from sources.cometchat_emulator import Emulator

SAMPLE_SECONDS = 0.2
MACHINE_CORES = os.cpu_count() or 1  # /proc/stat's first line sums every core of the machine
# (owner, attribute, step name): what is timed. `extract_slice` is looked up in `loading` by `run_load`.
STEPS: tuple[tuple[Any, str, str], ...] = (
    (loading, "extract_slice", "extract a slice of messages"),
    (BackgroundLoad, "_load", "load a slice on the load thread"),
    (dlt.Pipeline, "extract", "pipeline.extract"),
    (dlt.Pipeline, "normalize", "pipeline.normalize"),
    (dlt.Pipeline, "run", "pipeline.run"),
    (dlt.Pipeline, "load", "pipeline.load"),
)


@dataclass
class Step:
    name: str
    thread: str
    start: float
    end: float = float("nan")


@dataclass
class Timeline:
    started: float = field(default_factory=time.monotonic)
    steps: list[Step] = field(default_factory=list)
    busy: list[tuple[float, float]] = field(default_factory=list)  # (seconds since start, busy cores)
    window_readers: int | None = None  # connections the message windows were read on at the end
    waits: list[tuple[float, float]] = field(default_factory=list)  # (seconds since start, seconds waited)
    answers: tuple[int, float] = (0, 0.0)  # the API's answers, and their seconds summed

    def busy_cores(self, start: float, end: float) -> float | None:
        """Mean busy cores over the samples taken within [start, end]; None if none was."""
        within = [cores for at, cores in self.busy if start <= at <= end]
        return sum(within) / len(within) if within else None


@contextmanager
def steps_timed(timeline: Timeline) -> Iterator[None]:
    """Wraps each of STEPS so that a call records its start and end; puts them back afterwards."""
    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in STEPS]
    for (owner, name, original), (_, _, label) in zip(originals, STEPS, strict=True):
        setattr(owner, name, _timed(original, label, timeline))
    try:
        yield
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


def _timed(function: Callable[..., Any], label: str, timeline: Timeline) -> Callable[..., Any]:
    @functools.wraps(function)
    def timed(*args: Any, **kwargs: Any) -> Any:
        step = Step(label, threading.current_thread().name, time.monotonic() - timeline.started)
        timeline.steps.append(step)
        try:
            return function(*args, **kwargs)
        finally:
            step.end = time.monotonic() - timeline.started

    return timed


@contextmanager
def window_waits_timed(timeline: Timeline) -> Iterator[None]:
    """Records each time the loader waits for a time window's page (`read_concurrently`'s consumer side)."""
    original = windows._Rounds.get

    def get(rounds: Any, buffer: Any) -> Any:
        started = time.monotonic()
        entry = original(rounds, buffer)
        timeline.waits.append((started - timeline.started, time.monotonic() - started))
        return entry

    windows._Rounds.get = get  # type: ignore[method-assign]
    try:
        yield
    finally:
        windows._Rounds.get = original  # type: ignore[method-assign]


@contextmanager
def busy_cores_sampled(timeline: Timeline) -> Iterator[None]:
    """Samples the machine's busy cores every SAMPLE_SECONDS on a thread until the block ends."""
    stop = threading.Event()

    def sample() -> None:
        last = _cpu_ticks()
        while not stop.wait(SAMPLE_SECONDS):
            now = _cpu_ticks()
            total, idle = now[0] - last[0], now[1] - last[1]
            if total:
                busy = min(MACHINE_CORES, max(0.0, MACHINE_CORES * (1 - idle / total)))
                timeline.busy.append((time.monotonic() - timeline.started, busy))
            last = now

    sampler = threading.Thread(target=sample, name="timeline-sampler", daemon=True)
    sampler.start()
    try:
        yield
    finally:
        stop.set()
        sampler.join()


def _cpu_ticks() -> tuple[int, int]:
    """(all ticks, idle ticks incl. I/O wait) of the machine, from the first line of /proc/stat: user to steal
    (guest time is already counted in user)."""
    with open("/proc/stat") as stat:
        ticks = [int(value) for value in stat.readline().split()[1:9]]
    return sum(ticks), ticks[3] + ticks[4]


def measure(
    messages: int,
    messages_per_load: int = MESSAGES_PER_LOAD,
    latency_ms: int = 0,
    messages_only: bool = False,
    max_workers: int = MAX_WORKERS,
    backfill_windows: int | None = None,
) -> tuple[Timeline, float]:
    """The timeline of one `run_load` of `messages` messages in slices of `messages_per_load`, and its wall
    seconds; with `latency_ms`, every answer that late and the budget scenario 6's. `backfill_windows`: else
    the source's configuration (its default, or SOURCES__COMETCHAT__BACKFILL_WINDOWS)."""
    windows_set = (
        patch.dict(os.environ, {"SOURCES__COMETCHAT__BACKFILL_WINDOWS": str(backfill_windows)})
        if backfill_windows is not None
        else nullcontext()
    )
    with (
        windows_set,
        Emulator(throughput_data(messages)) as emulator,
        tempfile.TemporaryDirectory() as workdir,
    ):
        budget = LATENCY_BUDGET if latency_ms else 1e9
        if latency_ms:
            emulator.configure(latency_ms=latency_ms, rate_limit=LATENCY_BUDGET, rate_window=60)
        credentials = CometChatCredentials(
            app_id=emulator.app_id, api_key=emulator.api_key, base_url=emulator.base_url
        )
        client = CometChatClient(credentials, requests_per_minute=budget, max_workers=max_workers)
        pipeline = loading.build_pipeline(
            destination=loading.capped_duckdb(Path(workdir) / "timeline.duckdb"),
            pipeline_name="bench_timeline",
            progress=None,
            pipelines_dir=str(Path(workdir) / "pipelines"),
        )
        timeline = Timeline()
        with steps_timed(timeline), window_waits_timed(timeline), busy_cores_sampled(timeline):
            summary = loading.run_load(
                pipeline,
                client,
                resources=["messages"] if messages_only else None,
                messages_per_load=messages_per_load,
            )
        timeline.window_readers = client.window_readers
        timeline.answers = client.answers()
        return timeline, summary.seconds


def report(timeline: Timeline, seconds: float) -> str:
    lines = [f"run_load: {seconds:.2f} s; busy cores of {MACHINE_CORES}, mean over each step's samples", ""]
    lines.append(f"{'start':>7} {'end':>7} {'busy':>5}  {'thread':<16} step")
    for step in sorted(timeline.steps, key=lambda step: step.start):
        busy = timeline.busy_cores(step.start, step.end)
        shown = f"{busy:5.2f}" if busy is not None else "    -"
        lines.append(f"{step.start:7.2f} {step.end:7.2f} {shown}  {step.thread[:16]:<16} {step.name}")
    whole = timeline.busy_cores(0, seconds)
    lines += ["", f"whole run: {whole:.2f} busy cores" if whole is not None else "whole run: no sample"]
    lines.append(f"message windows read on {timeline.window_readers} connections at the end")
    per_second: dict[int, float] = {}
    for at, waited in timeline.waits:
        per_second[int(at)] = per_second.get(int(at), 0.0) + waited
    lines.append(
        f"the loader waited {sum(per_second.values()):.2f} s for the windows' pages; by second of the run: "
        + (
            ", ".join(f"{at}: {waited:.2f}" for at, waited in sorted(per_second.items()) if waited >= 0.01)
            or "-"
        )
    )
    count, answer_seconds = timeline.answers
    if count:
        lines.append(
            f"{count} answers of the API in the whole run, {1000 * answer_seconds / count:.0f} ms each on average"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--messages-per-load", type=int, default=MESSAGES_PER_LOAD)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--messages-only", action="store_true")
    parser.add_argument("--max-workers", type=int, default=MAX_WORKERS)
    parser.add_argument("--backfill-windows", type=int, help="default: the source's configuration (8)")
    args = parser.parse_args()
    timeline, seconds = measure(
        args.messages,
        args.messages_per_load,
        args.latency_ms,
        args.messages_only,
        args.max_workers,
        args.backfill_windows,
    )
    print(report(timeline, seconds))


if __name__ == "__main__":
    main()
