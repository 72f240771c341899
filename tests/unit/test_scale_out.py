"""The scale-out backfill's pieces that need no server: names, staging layout, budget share, race retries."""

import dlt
import pytest
from dlt.common.destination.exceptions import SchemaUpdateTerminalError

from pipelines import scale_out
from pipelines.dagster_backfill import backfill_definitions
from pipelines.scale_out import (
    SCHEMA_RACE_ATTEMPTS,
    BackfillPlan,
    parse_window_key,
    schema_race_retries,
    shard_budget,
    shard_destination,
    shard_pipeline_name,
    window_key,
)


def test_each_shard_names_its_own_pipeline_and_staging_dataset():
    first, second = (100, 200), (200, 300)
    destination = dlt.destinations.postgres("postgresql://loader:secret@localhost:5432/chat")

    staged = [shard_destination(destination, window) for window in (first, second)]

    layouts = [d.config_params["staging_dataset_name_layout"] for d in staged]
    assert layouts == ["%s_staging_100_200", "%s_staging_200_300"]
    assert all(d.config_params["credentials"] == destination.config_params["credentials"] for d in staged)
    assert shard_pipeline_name(first) != shard_pipeline_name(second)
    assert parse_window_key(window_key(first)) == first


def test_a_destination_named_by_string_gets_the_layout_too():
    staged = shard_destination("postgres", (5, 9))
    assert staged.destination_type.endswith("postgres")
    assert staged.config_params["staging_dataset_name_layout"] == "%s_staging_5_9"


def test_the_budget_is_shared_by_the_shards_running_at_once():
    assert shard_budget(20_000, 8) == 2_500
    assert shard_budget(20_000, 1) == 20_000
    with pytest.raises(ValueError, match="at least 1"):
        shard_budget(20_000, 0)


def test_an_app_without_messages_has_nothing_to_backfill(monkeypatch):
    monkeypatch.setattr(scale_out, "message_time_range", lambda client: None)
    plan = scale_out.plan_backfill(client=None, windows=4)
    assert (plan.windows, plan.until) == ([], 0)
    with pytest.raises(ValueError, match="no windows"):
        backfill_definitions(plan, "postgres")


def test_a_plan_survives_its_file(tmp_path):
    plan = BackfillPlan(windows=[(10, 20), (20, 31)])
    plan.save(tmp_path / "plan.json")

    again = BackfillPlan.load(tmp_path / "plan.json")

    assert again.windows == [(10, 20), (20, 31)]
    assert again.until == 31


def _lost_race() -> Exception:
    """What dlt raises when another shard created the same table first: the schema update error, wrapped."""
    cause = RuntimeError('duplicate key value violates unique constraint "pg_type_typname_nsp_index"')
    try:
        raise SchemaUpdateTerminalError("cometchat", ["messages"], cause)
    except SchemaUpdateTerminalError as error:
        try:
            raise RuntimeError("Pipeline execution failed at `step=load`") from error
        except RuntimeError as wrapped:
            return wrapped


def _tries(failures: list[Exception]) -> tuple[list[int], str | None]:
    calls: list[int] = []
    result = None
    for attempt in schema_race_retries(most_wait_seconds=0):
        with attempt:
            calls.append(1)
            if len(calls) <= len(failures):
                raise failures[len(calls) - 1]
            result = "loaded"
    return calls, result


def test_a_load_that_lost_a_schema_race_is_tried_again():
    calls, result = _tries([_lost_race(), _lost_race()])
    assert (len(calls), result) == (3, "loaded")


def test_other_load_failures_are_not_tried_again():
    with pytest.raises(PermissionError):
        _tries([PermissionError("permission denied for schema chat")])


def test_a_race_lost_on_every_try_stops_after_the_attempts():
    with pytest.raises(RuntimeError, match="step=load"):
        _tries([_lost_race()] * SCHEMA_RACE_ATTEMPTS)
