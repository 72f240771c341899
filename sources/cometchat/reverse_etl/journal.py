"""A per-run, write-ahead file: the input rows, the plan, and each PUT before it is sent and when answered.

The audit table is loaded after the PUTs. A run killed before that load commits leaves its journal behind;
the next run turns it into exactly the audit rows the killed run would have written (one per input row)
and loads them keyed by (run_id, position), so that a journal loaded twice still gives one row each.
A PUT that was sent and never answered is settled by the tags the next run reads before it sends
anything. dlt's load-package state only records how far a load got, not what each PUT answered, so it
cannot serve as this record.

Lines (JSON): `inputs` (written atomically with the file), `plan_rows` (every row's plan, in chunks), `plan`
(the updates; it completes the plan, and no PUT goes out before it is written), then `sending` / `answered`
per update.
"""

import json
import logging
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

logger = logging.getLogger(__name__)

SUFFIX = ".jsonl"
INPUTS = "inputs"
PLAN_ROWS = "plan_rows"
PLAN = "plan"
PLAN_CHUNK = 10_000  # rows per plan_rows line: the journal never holds a 100,000-row line in memory
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

    def start(self, inputs: list[list[Any]], at: str) -> None:
        """Creates the journal with the input rows in one step (a temporary file renamed into place)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(_line({"event": INPUTS, "run_id": self.run_id, "at": at, "rows": inputs}))
        os.replace(temporary, self.path)
        self._file = self.path.open("a", encoding="utf-8")

    def planned(self, rows: Iterable[list[Any]], updates: list[list[Any]], at: str) -> None:
        chunk: list[list[Any]] = []
        for row in rows:
            chunk.append(row)
            if len(chunk) == PLAN_CHUNK:
                self._write({"event": PLAN_ROWS, "rows": chunk})
                chunk = []
        if chunk:
            self._write({"event": PLAN_ROWS, "rows": chunk})
        self._write({"event": PLAN, "at": at, "updates": updates})

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


def _line(entry: dict[str, Any]) -> str:
    # orjson: a 100,000-row plan line in a fraction of the time json takes
    return orjson.dumps(entry).decode() + "\n"


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
    for line in lines[1:]:
        try:
            entry = json.loads(line)
            event = entry["event"]
            if event == PLAN_ROWS:
                planned_rows += entry["rows"]
            elif event == PLAN:
                run.plan = {"rows": planned_rows, "updates": entry["updates"], "at": entry["at"]}
            elif event == SENDING:
                run.sent.add(int(entry["u"]))
            elif event == ANSWERED:
                run.answers[int(entry["u"])] = entry
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            # The last line of a killed run may be cut short; a cut plan line counts as no plan.
            logger.warning("Skipped a damaged line in %s", path.name)
    return run
