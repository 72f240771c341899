"""A per-run, write-ahead file: the input rows, the plan, and each PUT before it is sent and when answered.

The audit table is loaded after the PUTs. A run killed before that load commits leaves its journal behind;
the next run turns it into exactly the audit rows the killed run would have written (one per input row)
and loads them keyed by (run_id, position), so that a journal loaded twice still gives one row each.
A PUT that was sent and never answered is settled by the tags the next run reads before it sends
anything. dlt's load-package state only records how far a load got, not what each PUT answered, so it
cannot serve as this record.

Lines (JSON): `inputs` and `input_rows` (the input rows in chunks, all written before the file is renamed into
place), `plan_rows` (every row's plan, in chunks), `plan_updates` (the updates, in chunks), `plan` (it
completes the plan, and no PUT goes out before it is written), then `sending` / `answered` per update.
Chunks keep a 100,000-row run from ever building one 100,000-row line in memory.
"""

import json
import logging
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

logger = logging.getLogger(__name__)

SUFFIX = ".jsonl"
INPUTS = "inputs"
INPUT_ROWS = "input_rows"
PLAN_ROWS = "plan_rows"
PLAN_UPDATES = "plan_updates"
PLAN = "plan"
CHUNK = 5_000  # rows or updates per line
SENDING = "sending"
ANSWERED = "answered"


@dataclass
class JournaledRun:
    """What a journal says about one run; `plan` None means the run died while planning."""

    run_id: str
    path: Path
    inputs: list[list[Any]]  # [row, viewer, conversation_id, mode] per input row
    started_at: str
    plan: dict[str, Any] | None = None  # {"rows": [...], "updates": [...], "at": ...}
    sent: set[int] = field(default_factory=set)
    answers: dict[int, dict[str, Any]] = field(default_factory=dict)  # update -> {status, error, at}


class Journal:
    def __init__(self, directory: str | Path, run_id: str) -> None:
        self.directory = Path(directory)
        self.run_id = run_id
        self.path = self.directory / f"{run_id}{SUFFIX}"
        self._lock = threading.Lock()
        self._file: Any = None

    def start(self, inputs: Iterable[list[Any]], at: str) -> None:
        """Creates the journal with the input rows in one step (a temporary file renamed into place)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        with temporary.open("wb") as file:
            file.write(_line({"event": INPUTS, "run_id": self.run_id, "at": at, "rows": []}))
            for chunk in _chunks(inputs):
                file.write(_line({"event": INPUT_ROWS, "rows": chunk}))
        os.replace(temporary, self.path)
        self._file = self.path.open("ab")

    def planned(self, rows: Iterable[list[Any]], updates: Iterable[list[Any]], at: str) -> None:
        for chunk in _chunks(rows):
            self._write({"event": PLAN_ROWS, "rows": chunk})
        for chunk in _chunks(updates):
            self._write({"event": PLAN_UPDATES, "updates": chunk})
        self._write({"event": PLAN, "at": at, "updates": []})

    def sending(self, update: int) -> None:
        self._write({"event": SENDING, "u": update})

    def answered(self, update: int, status: str, error: str, at: str) -> None:
        self._write({"event": ANSWERED, "u": update, "status": status, "error": error, "at": at})

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def discard(self) -> None:
        """Deletes the journal once its rows are in the audit table."""
        self.close()
        self.path.unlink(missing_ok=True)

    def _write(self, entry: dict[str, Any]) -> None:
        with self._lock:
            # Flushed to the operating system at once: a killed process loses nothing written here.
            self._file.write(_line(entry))
            self._file.flush()


def _line(entry: dict[str, Any]) -> bytes:
    # orjson: a plan in a fraction of the time json takes
    return orjson.dumps(entry, option=orjson.OPT_APPEND_NEWLINE)


def _chunks(items: Iterable[list[Any]]) -> Iterator[list[list[Any]]]:
    chunk: list[list[Any]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def leftover_journals(directory: str | Path) -> list[JournaledRun]:
    """The runs whose journal is still there: they ended (or died) before their audit load committed."""
    folder = Path(directory)
    if not folder.is_dir():
        return []
    for stale in folder.glob("*.tmp"):
        stale.unlink(missing_ok=True)  # died before its first line was in place: nothing was planned or sent
    runs = [read_journal(path) for path in sorted(folder.glob(f"*{SUFFIX}"))]
    return [run for run in runs if run is not None]


def read_journal(path: Path) -> JournaledRun | None:
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    try:
        head = json.loads(lines[0])
        run = JournaledRun(str(head["run_id"]), path, list(head["rows"]), str(head["at"]))
    except (IndexError, json.JSONDecodeError, KeyError, TypeError):
        logger.warning("Skipped the unreadable journal %s", path.name)
        return None
    planned_rows: list[list[Any]] = []
    planned_updates: list[list[Any]] = []
    for line in lines[1:]:
        try:
            entry = json.loads(line)
            event = entry["event"]
            if event == INPUT_ROWS:
                run.inputs += entry["rows"]
            elif event == PLAN_ROWS:
                planned_rows += entry["rows"]
            elif event == PLAN_UPDATES:
                planned_updates += entry["updates"]
            elif event == PLAN:
                # Journals of older runs carry the updates in the plan line itself.
                updates = planned_updates + entry["updates"]
                run.plan = {"rows": planned_rows, "updates": updates, "at": entry["at"]}
            elif event == SENDING:
                run.sent.add(int(entry["u"]))
            elif event == ANSWERED:
                run.answers[int(entry["u"])] = entry
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            # The last line of a killed run may be cut short; a cut plan line counts as no plan.
            logger.warning("Skipped a damaged line in %s", path.name)
    return run
