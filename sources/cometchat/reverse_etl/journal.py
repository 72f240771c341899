"""A per-run, write-ahead file of the PUTs: one line before each PUT is sent, one when it is answered.

The audit table is loaded once, after the PUTs. A run killed before that load would leave no trace
of the PUTs it made, so each is first written here; the next run puts the entries of any journal
it finds into the audit table, then deletes the file. A PUT that was sent but never answered (the
run died waiting) is settled by the tags the next run reads before it sends anything: applied when
they are the list that PUT carried. dlt's own load-package state only records how far a batch got,
not what each PUT answered, so it cannot serve as this record.
"""

import json
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

SUFFIX = ".jsonl"
SENDING = "sending"
ANSWERED = "answered"


@dataclass
class JournalEntry:
    """One PUT of an earlier run; `status` None means it was sent and never answered."""

    run_id: str
    viewer_uid: str
    conversation_type: str
    target: str
    conversation_id: str
    old_tags: list[str]
    new_tags: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)  # {"row": n, "mode": m} of the input rows
    sent_at: str = ""
    status: str | None = None
    error: str = ""
    changed_at: str = ""


class Journal:
    def __init__(self, directory: str | Path, run_id: str) -> None:
        self.directory = Path(directory)
        self.run_id = run_id
        self.path = self.directory / f"{run_id}{SUFFIX}"
        self._lock = threading.Lock()

    def sending(self, update_id: int, put: dict[str, Any]) -> None:
        """Before the PUT: who, which conversation, the old and the new list, the input rows."""
        self._write({"event": SENDING, "update_id": update_id, **put})

    def answered(self, update_id: int, status: str, error: str, changed_at: str) -> None:
        self._write(
            {
                "event": ANSWERED,
                "update_id": update_id,
                "status": status,
                "error": error,
                "changed_at": changed_at,
            }
        )

    def _write(self, entry: dict[str, Any]) -> None:
        line = json.dumps({"run_id": self.run_id, **entry}, ensure_ascii=False, default=str)
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as file:
                file.write(line + "\n")

    def leftovers(self) -> dict[Path, list[JournalEntry]]:
        """The PUTs of every other run's journal: runs that ended before their audit load."""
        found: dict[Path, list[JournalEntry]] = {}
        if not self.directory.is_dir():
            return found
        for path in sorted(self.directory.glob(f"*{SUFFIX}")):
            if path != self.path:
                found[path] = _entries(path)
        return found

    def discard(self, paths: list[Path] | None = None) -> None:
        """Deletes this run's journal, and the given leftovers once they are in the audit table."""
        for path in [self.path, *(paths or [])]:
            path.unlink(missing_ok=True)


def _entries(path: Path) -> list[JournalEntry]:
    puts: dict[tuple[str, int], JournalEntry] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
            key = (str(record["run_id"]), int(record["update_id"]))
            if record["event"] == SENDING:
                puts[key] = JournalEntry(
                    run_id=key[0],
                    viewer_uid=record["viewer_uid"],
                    conversation_type=record["conversation_type"],
                    target=record["target"],
                    conversation_id=record["conversation_id"],
                    old_tags=list(record["old_tags"]),
                    new_tags=list(record["new_tags"]),
                    rows=list(record.get("rows") or []),
                    sent_at=str(record.get("sent_at") or ""),
                )
            elif key in puts:
                puts[key].status = str(record["status"])
                puts[key].error = str(record.get("error") or "")
                puts[key].changed_at = str(record.get("changed_at") or "")
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            # The last line of a killed run may be cut short.
            logger.warning("Skipped a damaged line in %s", path.name)
    return list(puts.values())
