"""The message backfill cut into time windows that load as independent shards, on one machine or many.

A plan fixes the windows once (`plan_backfill`). Each window loads as a shard (`load_window`): its own dlt
pipeline (its own name, so its own state and page cursor), its own staging dataset in the shared destination,
and its share of the app's one request budget. The ordinary pipeline (run.py's) then takes over where the
plan ends (`hand_over`): users, groups, conversations, new messages and every change since the plan.
An orchestrator runs the shards (`pipelines/dagster_backfill.py`); nothing here needs one.
"""

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import dlt
from dlt.common.destination import Destination
from dlt.common.destination.reference import TDestinationReferenceArg
from dlt.common.pipeline import LoadInfo
from dlt.pipeline.helpers import retry_schema_update
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random

from sources.cometchat import CometChatClient, CometChatCredentials, cometchat_source
from sources.cometchat.windows import message_time_range, split_windows

logger = logging.getLogger(__name__)

Window = tuple[int, int]

SHARD_PIPELINE_PREFIX = "cometchat_shard"
# How often a shard's load is tried when another shard created the same table or column at the same moment.
SCHEMA_RACE_ATTEMPTS = 3


@dataclass(frozen=True)
class BackfillPlan:
    """The windows of a backfill, and where the ordinary pipeline takes over after it.

    `until` is the end of the last window (exclusive); `updates_since` is the newest change stamp when the plan
    was made, from which the ordinary pipeline's updates pass picks up whatever changed during the backfill.
    """

    windows: list[Window]
    updates_since: int
    until: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "windows", [tuple(map(int, window)) for window in self.windows])
        object.__setattr__(self, "until", self.windows[-1][1] if self.windows else 0)

    def save(self, path: str | Path) -> None:
        data = {"windows": self.windows, "updates_since": self.updates_since}
        Path(path).write_text(json.dumps(data, indent=1) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "BackfillPlan":
        data = json.loads(Path(path).read_text())
        return cls(windows=data["windows"], updates_since=int(data["updates_since"]))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan_backfill(client: CometChatClient, windows: int) -> BackfillPlan:
    """The message history cut into `windows` windows of equal seconds. Three requests.

    The stamp for the updates pass is taken before the range, so that a change made while the plan is being
    made is never older than it.
    """
    newest = client.newest_message("messages")
    updates_since = int((newest.get("updatedAt") or newest["sentAt"]) if newest else 0)
    time_range = message_time_range(client)
    if time_range is None:
        return BackfillPlan(windows=[], updates_since=updates_since)
    return BackfillPlan(windows=split_windows(*time_range, windows), updates_since=updates_since)


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
    credentials: CometChatCredentials | None, window: Window, requests_per_minute: float
) -> dlt.sources.DltSource:
    """The messages (and their child tables) sent in the window, nothing else. Credentials None: from dlt
    config (`[sources.cometchat.credentials]`). Building it makes no request."""
    options: dict[str, Any] = {"credentials": credentials} if credentials is not None else {}
    source = cometchat_source(
        requests_per_minute=requests_per_minute, messages_from=window[0], messages_until=window[1], **options
    )
    return source.with_resources("messages")


def load_window(pipeline: dlt.Pipeline, source: dlt.sources.DltSource) -> LoadInfo:
    """Loads one shard. A load that lost a schema race with another shard is loaded again (see
    `schema_race_retries`); its package is kept, so nothing is read from the API twice."""
    for attempt in schema_race_retries():
        with attempt:
            # A package left by a failed (or killed) try holds the whole window: it is loaded, not extracted again.
            return pipeline.load() if pipeline.has_pending_data else pipeline.run(source)
    raise AssertionError("unreachable: the last try re-raises")


def schema_race_retries(attempts: int = SCHEMA_RACE_ATTEMPTS) -> Retrying:
    """Tries for a load that may lose a schema race: two shards creating the same dataset, table or column
    at the same moment. dlt reports that as a schema update error, and its `retry_schema_update` condition
    says when another try is safe: dlt reads the destination's tables again and adds only what is still
    missing. Any other failure is raised at once."""
    return Retrying(
        retry=retry_if_exception(retry_schema_update()),
        stop=stop_after_attempt(attempts),
        wait=wait_random(0, 1),
        before_sleep=lambda state: logger.warning(
            "Another shard changed the same tables at the same time; loading again (try %d)",
            state.attempt_number + 1,
        ),
        reraise=True,
    )


def hand_over(pipeline: dlt.Pipeline, plan: BackfillPlan) -> bool:
    """Starts the ordinary pipeline's messages where the backfill ends; False if it already has a cursor.

    Its cursor is set to the last second of the plan (read again, and merged by id, so that a message sent in
    that second after the plan was made is not lost), and its updates pass to the plan's change stamp, so
    its next run loads the messages sent since and every change made during the backfill. The state is
    committed with the ordinary pipeline's next load.
    """
    if not plan.windows:
        return False
    with pipeline.managed_state(extract_state=True) as state:
        resources = state.setdefault("sources", {}).setdefault("cometchat", {}).setdefault("resources", {})
        messages = resources.setdefault("messages", {})
        if "cursor" in messages:
            return False
        messages["cursor"] = [plan.until - 1, 0]
        messages["updates_since"] = plan.updates_since
    return True
