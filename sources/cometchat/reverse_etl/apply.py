"""The PUT step: a dlt pipeline whose destination (`@dlt.destination`) sends the planned updates.

Each batch of planned updates reaches the destination function, which sends the batch's PUTs
concurrently through the shared client (its request budget, its 429/Retry-After and 5xx/reset
retries). A PUT the API refuses is a per-row outcome (failed, with the API code), never an
exception, so one bad conversation cannot stop or repeat the others.

Leftover load packages of a killed run are aborted, not resumed: dlt would resume at the last
finished batch and re-send PUTs whose effect the fresh plan, read from the live API, already shows.
"""

import logging
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dlt
from dlt.common.configuration.container import Container
from dlt.common.pipeline import PipelineContext
from dlt.common.schema.typing import TTableSchemaColumns

from ..client import CometChatClient
from ..errors import CometChatApiError, CometChatAuthError
from .changes import ConversationRef
from .journal import Journal
from .plan import Update, single_conversation

logger = logging.getLogger(__name__)

APPLY_PIPELINE_NAME = "cometchat_tag_apply"
UPDATES_TABLE = "tag_updates"
BATCH_SIZE = 100
APPLIED = "applied"
FAILED = "failed"
NOT_SENT = "not sent"

_UPDATE_COLUMNS: TTableSchemaColumns = {
    "update_id": {"data_type": "bigint", "nullable": False},
    "viewer_uid": {"data_type": "text", "nullable": False},
    "conversation_type": {"data_type": "text", "nullable": False},
    "target": {"data_type": "text", "nullable": False},
    "conversation_id": {"data_type": "text", "nullable": False},
    # json, so that the normalizer hands the list over whole instead of splitting it into a child table
    "tags": {"data_type": "json", "nullable": False},
}


@dataclass(frozen=True)
class PutOutcome:
    status: str  # applied or failed
    error: str
    at: datetime


class TagApplier:
    """The dedicated apply pipeline (`cometchat_tag_apply`) and the outcomes of its PUTs."""

    def __init__(
        self,
        client: CometChatClient,
        *,
        max_workers: int,
        pipelines_dir: str | None = None,
        pipeline_name: str = APPLY_PIPELINE_NAME,
    ) -> None:
        self.client = client
        self.max_workers = max(1, max_workers)
        self._lock = threading.Lock()
        self._outcomes: dict[int, PutOutcome] = {}
        self._updates: dict[int, Update] = {}
        self._journal: Journal | None = None
        self._fatal: BaseException | None = None
        self._pool: ThreadPoolExecutor | None = None
        options: dict[str, Any] = {"pipeline_name": pipeline_name, "destination": self._destination()}
        if pipelines_dir:
            options["pipelines_dir"] = pipelines_dir
        with _keep_active_pipeline():
            self.pipeline = dlt.pipeline(**options)

    @property
    def journal_dir(self) -> Path:
        return Path(self.pipeline.working_dir) / "journal"

    def abort_leftovers(self) -> None:
        """Drops the load packages a killed run left behind, so that dlt does not resume and re-send them."""
        if self.pipeline.list_extracted_load_packages() or self.pipeline.list_normalized_load_packages():
            logger.warning(
                "Dropping the pending PUT packages of an interrupted run; the new plan supersedes them"
            )
            with _keep_active_pipeline():
                self.pipeline.abort_packages()

    def apply(self, updates: Sequence[Update], journal: Journal | None = None) -> dict[int, PutOutcome]:
        """Sends every update once; returns its outcome by position in `updates`."""
        self._updates = dict(enumerate(updates))
        self._outcomes = {}
        self._journal = journal
        self._fatal = None
        if not updates:
            return {}
        self._pool = ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="tag-put")
        try:
            with _keep_active_pipeline():
                self.pipeline.run(_planned_updates(updates))
        finally:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._fatal is not None:
            raise self._fatal
        missing = [index for index in self._updates if index not in self._outcomes]
        for index in missing:
            self._outcomes[index] = PutOutcome(FAILED, NOT_SENT, _now())
        return dict(self._outcomes)

    @property
    def puts_sent(self) -> int:
        return sum(1 for outcome in self._outcomes.values() if outcome.error != NOT_SENT)

    def _destination(self) -> Any:
        applier = self

        @dlt.destination(
            name="cometchat_tag_put",
            batch_size=BATCH_SIZE,
            loader_file_format="typed-jsonl",
            max_table_nesting=0,
            skip_dlt_columns_and_tables=True,
        )
        def cometchat_tag_put(items: Any, table: Any) -> None:
            if table["name"] == UPDATES_TABLE:
                applier._send_batch(list(items))

        return cometchat_tag_put()

    def _send_batch(self, items: list[dict[str, Any]]) -> None:
        assert self._pool is not None
        for future in [self._pool.submit(self._send, item) for item in items]:
            future.result()

    def _send(self, item: dict[str, Any]) -> None:
        index = int(item["update_id"])
        if self._fatal is not None:
            self._record(index, PutOutcome(FAILED, NOT_SENT, _now()))
            return
        ref = ConversationRef(item["conversation_type"], item["conversation_id"], item["target"])
        tags = list(item["tags"])
        if self._journal is not None and not self._journal_sending(index, ref, tags):
            return
        try:
            data = self.client.put(ref.path, {"tags": tags}, on_behalf_of=item["viewer_uid"])
        except CometChatAuthError as error:
            # Nothing else can work with these credentials: stop sending, and raise after the step.
            self._stop(error)
            outcome = PutOutcome(FAILED, f"{error.code}: {error.api_message}", _now())
        except CometChatApiError as error:
            outcome = PutOutcome(FAILED, f"{error.code}: {error.api_message}", _now())
        except Exception as error:
            # Retries ran out on a network failure, or an answer that is not JSON: the row fails. Raising
            # instead would make dlt retry the job from the batch's start and repeat PUTs already made.
            outcome = PutOutcome(FAILED, f"{type(error).__name__}: {error}", _now())
        else:
            outcome = PutOutcome(APPLIED, "", _now())
            stored = single_conversation(data)
            if stored is not None and "tags" in stored and list(stored["tags"]) != tags:
                logger.warning(
                    "PUT %s for %s stored %s instead of %s",
                    ref.path,
                    item["viewer_uid"],
                    stored["tags"],
                    tags,
                )
        self._record(index, outcome)

    def _journal_sending(self, index: int, ref: ConversationRef, tags: list[str]) -> bool:
        """Writes ahead that the PUT is going out; a PUT that cannot be journaled is not sent."""
        assert self._journal is not None
        update = self._updates[index]
        try:
            self._journal.sending(
                index,
                {
                    "viewer_uid": update.viewer,
                    "conversation_type": ref.conversation_type,
                    "target": ref.target,
                    "conversation_id": ref.conversation_id,
                    "old_tags": update.old_tags,
                    "new_tags": tags,
                    "rows": [{"row": row, "mode": mode} for row, mode in update.inputs],
                    "sent_at": _now().isoformat(),
                },
            )
        except OSError as error:
            self._stop(error)
            self._record(index, PutOutcome(FAILED, NOT_SENT, _now()))
            return False
        return True

    def _stop(self, error: BaseException) -> None:
        with self._lock:
            self._fatal = self._fatal or error

    def _record(self, index: int, outcome: PutOutcome) -> None:
        with self._lock:
            self._outcomes[index] = outcome
        if self._journal is not None and outcome.error != NOT_SENT:
            try:
                self._journal.answered(index, outcome.status, outcome.error, outcome.at.isoformat())
            except OSError as error:
                # This run still audits the outcome; only a crash before that would leave it to be settled.
                logger.warning("Could not journal the answer to a PUT: %s", error)


def _planned_updates(updates: Sequence[Update]) -> Any:
    @dlt.resource(
        name=UPDATES_TABLE, write_disposition="append", columns=_UPDATE_COLUMNS, max_table_nesting=0
    )
    def tag_updates() -> Iterator[dict[str, Any]]:
        for index, update in enumerate(updates):
            yield {
                "update_id": index,
                "viewer_uid": update.viewer,
                "conversation_type": update.ref.conversation_type,
                "target": update.ref.target,
                "conversation_id": update.ref.conversation_id,
                "tags": update.tags,
            }

    return tag_updates()


@contextmanager
def _keep_active_pipeline() -> Iterator[None]:
    """Restores the caller's active pipeline afterwards.

    dlt hands the active pipeline's destination capabilities to schemas created meanwhile; left active,
    this pipeline's (max_table_nesting=0) would stop the next `cometchat_source()` from nesting tags.
    """
    context = Container()[PipelineContext]
    previous = context.pipeline() if context.is_active() else None
    try:
        yield
    finally:
        if previous is not None:
            previous.activate()
        elif context.is_active():
            context.deactivate()


def _now() -> datetime:
    return datetime.now(UTC)
