"""The message backfill cut into time windows that load as independent shards, on one machine or many.

A plan fixes the windows once (`plan_backfill`). Each window loads as a shard (`load_window`): its own dlt
pipeline (its own name, so its own state and page cursor), its own staging dataset in the shared destination,
and its share of the app's one request budget. The ordinary pipeline (run.py's) then takes over where the
plan ends (`run.py --messages-from <plan's end>`): users, groups, conversations, new messages and every
change made to the backfilled messages since.
An orchestrator runs the shards (`pipelines/dagster_backfill.py`); nothing here needs one.
"""

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt
from dlt.common.destination import Destination
from dlt.common.destination.client import WithStateSync
from dlt.common.destination.exceptions import DestinationUndefinedEntity
from dlt.common.destination.reference import TDestinationReferenceArg
from dlt.common.pipeline import LoadInfo, TPipelineState
from dlt.pipeline.helpers import retry_schema_update
from dlt.pipeline.state_sync import load_pipeline_state_from_destination
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random

from pipelines.background_load import BackgroundLoad
from pipelines.held_duckdb import load_held_open
from pipelines.loading import extract_slice
from sources.cometchat import CometChatClient, CometChatCredentials, cometchat_source, more_messages
from sources.cometchat.settings import MESSAGES_PER_LOAD
from sources.cometchat.windows import message_time_range, split_windows

logger = logging.getLogger(__name__)

Window = tuple[int, int]

SHARD_PIPELINE_PREFIX = "cometchat_shard"
# How often a shard's load is tried when another shard created the same table or column at the same moment.
SCHEMA_RACE_ATTEMPTS = 3


@dataclass(frozen=True)
class BackfillPlan:
    """The windows of a backfill; `until`, the end of the last one (exclusive), is where the ordinary pipeline
    takes over (`run.py --messages-from <until>`), and from where it picks up changes to backfilled messages."""

    windows: list[Window]
    until: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "windows", [(int(start), int(until)) for start, until in self.windows])
        object.__setattr__(self, "until", self.windows[-1][1] if self.windows else 0)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"windows": self.windows}, indent=1) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "BackfillPlan":
        return cls(windows=json.loads(Path(path).read_text())["windows"])


def plan_backfill(client: CometChatClient, windows: int) -> BackfillPlan:
    """The message history so far cut into `windows` windows of (nearly) equal seconds. Two requests."""
    time_range = message_time_range(client)
    return BackfillPlan(windows=split_windows(*time_range, windows) if time_range else [])


def window_key(window: Window) -> str:
    """The window's name, in its shard's pipeline, staging dataset and Dagster partition: `<start>_<until>`."""
    return f"{window[0]}_{window[1]}"


def parse_window_key(key: str) -> Window:
    start, until = key.split("_")
    return int(start), int(until)


def shard_pipeline_name(window: Window, prefix: str = SHARD_PIPELINE_PREFIX) -> str:
    return f"{prefix}_{window_key(window)}"


def shard_staging_layout(window: Window) -> str:
    """dlt's `staging_dataset_name_layout` for one shard: `<dataset>_staging_<start>_<until>`.

    dlt merges through a staging dataset (`<dataset>_staging` by default) whose tables each load truncates
    and refills; two shards sharing it would load each other's rows, or lose them.
    """
    return f"%s_staging_{window_key(window)}"


def shard_destination(destination: TDestinationReferenceArg, window: Window) -> Destination:
    """The destination with the shard's own staging dataset; credentials and other settings stay as given
    (or as dlt config resolves them for a destination named by a string)."""
    layout = shard_staging_layout(window)
    if isinstance(destination, Destination):
        params = {**destination.config_params, **destination.caps_params}
        return type(destination)(**{**params, "staging_dataset_name_layout": layout})
    return Destination.from_reference(destination, staging_dataset_name_layout=layout)


def shard_budget(requests_per_minute: float, concurrent_shards: int) -> float:
    """Each shard's share of the app's one budget when `concurrent_shards` run at the same time."""
    if concurrent_shards < 1:
        raise ValueError(f"concurrent_shards must be at least 1, not {concurrent_shards}")
    return requests_per_minute / concurrent_shards


def shard_pipeline(
    destination: TDestinationReferenceArg,
    dataset_name: str,
    window: Window,
    pipelines_dir: str | None = None,
    prefix: str = SHARD_PIPELINE_PREFIX,
) -> dlt.Pipeline:
    options: dict[str, Any] = {
        "pipeline_name": shard_pipeline_name(window, prefix),
        "destination": shard_destination(destination, window),
        "dataset_name": dataset_name,
    }
    if pipelines_dir:
        options["pipelines_dir"] = pipelines_dir
    return dlt.pipeline(**options)


def window_source(
    credentials: CometChatCredentials | None,
    window: Window,
    requests_per_minute: float,
    messages_per_load: int | None = MESSAGES_PER_LOAD,
) -> dlt.sources.DltSource:
    """The messages (and their child tables) sent in the window, nothing else, in slices of about
    `messages_per_load` (each committed with its cursor, so a killed shard resumes at its last slice).
    Credentials None: from dlt config (`[sources.cometchat.credentials]`). Building it makes no request."""
    options: dict[str, Any] = {"credentials": credentials} if credentials is not None else {}
    source = cometchat_source(
        requests_per_minute=requests_per_minute,
        messages_per_load=messages_per_load,
        messages_from=window[0],
        messages_until=window[1],
        **options,
    )
    return source.with_resources("messages")


def window_loaded(pipeline: dlt.Pipeline, window: Window) -> bool:
    """Whether the shard's pipeline committed its whole window: its state, restored from the destination, has
    read messages and keeps no cursor of the window (the source drops a window's cursor at its end).

    Packages an earlier try left pending are kept for `load_window` only where they continue the destination's
    history: the oldest one's state is the version right after the stored one (a try stopped after its
    extract). Otherwise they are stale (loaded after all, or the shard went on, on another machine, from the
    same stored state) and are aborted here, and the destination's state taken: loading them would merge older
    copies over newer ones. dlt numbers state versions per history, so a stale package may share a number with
    the stored state; it cannot be the stored state's successor unless nothing was loaded since it was read."""
    pipeline.sync_destination()
    if not pipeline.has_pending_data:
        return _window_done(pipeline, window)
    pipeline.normalize()  # so that every pending package's state can be read
    oldest = min(pipeline.list_normalized_load_packages())
    version = (pipeline.get_load_package_state(oldest).get("pipeline_state") or {}).get("version")
    stored = _stored_state(pipeline)
    if version is not None and (stored is None or version == stored["_state_version"] + 1):
        return False
    logger.warning(
        "Dropping the load packages pipeline %s left pending: they do not continue the state the destination holds",
        pipeline.pipeline_name,
    )
    pipeline.abort_packages()  # deletes them and takes the local state back to before them
    pipeline.sync_destination()
    return _window_done(pipeline, window)


def _window_done(pipeline: dlt.Pipeline, window: Window) -> bool:
    resources = pipeline.state.get("sources", {}).get("cometchat", {}).get("resources", {})
    messages = resources.get("messages")
    return messages is not None and f"{window[0]}:{window[1]}" not in messages.get("ranges", {})


def _stored_state(pipeline: dlt.Pipeline) -> TPipelineState | None:
    """The pipeline's newest state in the destination; None where there is none (nor a dataset)."""
    try:
        with pipeline.destination_client() as client:
            if not isinstance(client, WithStateSync):
                return None
            return load_pipeline_state_from_destination(pipeline.pipeline_name, client)
    except DestinationUndefinedEntity:
        return None


def load_window(
    pipeline: dlt.Pipeline,
    window: Window,
    credentials: CometChatCredentials | None,
    requests_per_minute: float,
    messages_per_load: int | None = MESSAGES_PER_LOAD,
) -> LoadInfo | None:
    """Loads one shard, slice by slice, from where it last stopped; None when its window was loaded before
    (a re-run makes no request). As run.py's slices load: each slice's package loads on a thread while the next
    slice is read (`background_load.py`), its parquet written on a thread. A load that lost a schema race with
    another shard is loaded again (see `schema_race_retries`); its package is kept, so nothing is read from the
    API twice. Returns the last load's info."""
    if window_loaded(pipeline, window):
        logger.info("Window %s was loaded before by pipeline %s", window_key(window), pipeline.pipeline_name)
        return None

    def next_slice() -> dlt.sources.DltSource:
        return window_source(credentials, window, requests_per_minute, messages_per_load)

    def load() -> LoadInfo:
        return schema_race_retries()(load_held_open, pipeline)

    with BackgroundLoad(pipeline, load_again=load) as loads:
        if pipeline.has_pending_data:
            # A package left by a failed (or killed) try holds a whole slice: loaded, not read again.
            pipeline.normalize()
            info = load()
            if not more_messages(pipeline):
                return info
        extract_slice(pipeline, next_slice(), messages_per_load)
        while more_messages(pipeline):
            loads.normalize_and_start()
            extract_slice(pipeline, next_slice(), messages_per_load)
        pipeline.normalize()
        reloaded = loads.wait()
    if reloaded is not None and not pipeline.list_normalized_load_packages():
        return reloaded  # the last package loaded with the one that failed on the thread
    return load()


def schema_race_retries(attempts: int = SCHEMA_RACE_ATTEMPTS, most_wait_seconds: float = 1.0) -> Retrying:
    """Tries for a load that may lose a schema race: two shards creating the same dataset, table or column
    at the same moment. dlt reports that as a schema update error, and its `retry_schema_update` condition
    says when another try is safe: dlt reads the destination's tables again and adds only what is still
    missing. Any other failure is raised at once."""
    return Retrying(
        retry=retry_if_exception(retry_schema_update()),
        stop=stop_after_attempt(attempts),
        wait=wait_random(0, most_wait_seconds),  # shards that raced once should not meet again at once
        before_sleep=lambda state: logger.warning(
            "Another shard changed the same tables at the same time; loading again (try %d)",
            state.attempt_number + 1,
        ),
        reraise=True,
    )
