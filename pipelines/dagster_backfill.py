"""The message backfill as Dagster assets (dagster-dlt): one partition per time window of a backfill plan.

Each partition loads its window as a shard (`pipelines/scale_out.py`): its own dlt pipeline and staging
dataset, and 1/N of the request budget, where N is the number of shards allowed to run at once (the slots of
the Dagster concurrency pool `cometchat_api`). Needs the `dagster` extra (`pip install -e '.[dagster]'`).

    python -m pipelines.backfill plan --windows 1000 --out backfill-plan.json
    dagster instance concurrency set cometchat_api 8
    COMETCHAT_BACKFILL_PLAN=backfill-plan.json COMETCHAT_BACKFILL_SHARDS=8 \\
        dagster asset materialize -m pipelines.dagster_backfill --select dlt_cometchat_messages --partition KEY

or every partition at once from the Dagster UI (a backfill of the `cometchat_backfill` job).
"""

import os
from collections.abc import Iterator
from typing import Any

import dagster as dg
import dlt
from dagster_dlt import DagsterDltResource, dlt_assets
from dlt.common.destination.reference import TDestinationReferenceArg

from pipelines.loading import DATASET_NAME
from pipelines.scale_out import (
    BackfillPlan,
    parse_window_key,
    schema_race_retries,
    shard_budget,
    shard_pipeline,
    window_key,
    window_loaded,
    window_source,
)
from sources.cometchat import CometChatCredentials, more_messages
from sources.cometchat.settings import DEFAULT_REQUESTS_PER_MINUTE, MESSAGES_PER_LOAD

POOL = "cometchat_api"
JOB_NAME = "cometchat_backfill"
PLAN_ENV = "COMETCHAT_BACKFILL_PLAN"
SHARDS_ENV = "COMETCHAT_BACKFILL_SHARDS"
DESTINATION_ENV = "COMETCHAT_BACKFILL_DESTINATION"
DATASET_ENV = "COMETCHAT_BACKFILL_DATASET"


def backfill_definitions(
    plan: BackfillPlan,
    destination: TDestinationReferenceArg,
    dataset_name: str = DATASET_NAME,
    credentials: CometChatCredentials | None = None,
    requests_per_minute: float = DEFAULT_REQUESTS_PER_MINUTE,
    concurrent_shards: int = 1,
    pipelines_dir: str | None = None,
    messages_per_load: int | None = MESSAGES_PER_LOAD,
) -> dg.Definitions:
    """Dagster definitions of one backfill plan. Building them makes no API call and touches no destination.

    `credentials` None: each shard resolves them from dlt config (`[sources.cometchat.credentials]`).
    """
    if not plan.windows:
        raise ValueError("the backfill plan has no windows: the app has no messages to backfill")
    budget = shard_budget(requests_per_minute, concurrent_shards)
    partitions = dg.StaticPartitionsDefinition([window_key(window) for window in plan.windows])

    def source_of(window: tuple[int, int]) -> dlt.sources.DltSource:
        return window_source(credentials, window, budget, messages_per_load)

    def pipeline_of(window: tuple[int, int]) -> dlt.Pipeline:
        return shard_pipeline(destination, dataset_name, window, pipelines_dir)

    # dagster-dlt takes the asset specs from a source and pipeline; the first window's stand for every partition.
    @dlt_assets(
        dlt_source=source_of(plan.windows[0]),
        dlt_pipeline=pipeline_of(plan.windows[0]),
        name="cometchat_message_windows",
        group_name="cometchat",
        partitions_def=partitions,
        pool=POOL,
    )
    def message_windows(context: dg.AssetExecutionContext, dlt: DagsterDltResource) -> Iterator[Any]:
        window = parse_window_key(context.partition_key)
        pipeline = pipeline_of(window)
        if window_loaded(pipeline, window):
            context.log.info(f"Window {context.partition_key} was loaded before: nothing to read")
            for key in context.selected_asset_keys:
                yield dg.MaterializeResult(asset_key=key, metadata={"already_loaded": True})
            return
        # One dlt run per slice (`messages_per_load`), each committing its cursor; the last one's results are
        # the materialization. dagster-dlt drops the pipeline's local state before each run and restores it
        # from the destination, so a failed or killed try goes on from the last committed slice.
        while True:
            for attempt in schema_race_retries():
                with attempt:
                    events = list(
                        dlt.run(context=context, dlt_source=source_of(window), dlt_pipeline=pipeline)
                    )
            if not more_messages(pipeline):
                break
        yield from events

    job = dg.define_asset_job(JOB_NAME, selection=[message_windows])
    return dg.Definitions(assets=[message_windows], jobs=[job], resources={"dlt": DagsterDltResource()})


def definitions_from_environment() -> dg.Definitions:
    """The definitions that `dagster ... -m pipelines.dagster_backfill` loads: the plan file named by
    COMETCHAT_BACKFILL_PLAN, N = COMETCHAT_BACKFILL_SHARDS, the destination (default `postgres`, configured
    the dlt way) and the budget from dlt config."""
    plan = BackfillPlan.load(os.environ.get(PLAN_ENV, "backfill-plan.json"))
    budget = dlt.config.get("sources.cometchat.requests_per_minute", float) or DEFAULT_REQUESTS_PER_MINUTE
    return backfill_definitions(
        plan,
        destination=os.environ.get(DESTINATION_ENV, "postgres"),
        dataset_name=os.environ.get(DATASET_ENV, DATASET_NAME),
        requests_per_minute=budget,
        concurrent_shards=int(os.environ.get(SHARDS_ENV, "1")),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return definitions_from_environment()
