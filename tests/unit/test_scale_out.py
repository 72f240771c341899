"""The scale-out backfill's pieces that need no server: names, staging layout, budget share, race retries."""

import dlt
import pytest
from dlt.common.destination.exceptions import SchemaUpdateTerminalError

from pipelines.scale_out import (
    SCHEMA_RACE_ATTEMPTS,
    BackfillPlan,
    load_window,
    parse_window_key,
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


def test_a_plan_survives_its_file(tmp_path):
    plan = BackfillPlan(windows=[(10, 20), (20, 31)], updates_since=30)
    plan.save(tmp_path / "plan.json")

    again = BackfillPlan.load(tmp_path / "plan.json")

    assert again.windows == [(10, 20), (20, 31)]
    assert (again.until, again.updates_since) == (31, 30)


class _Shard:
    """Stands for a shard's dlt pipeline: `run` fails as dlt does when another shard won a schema race."""

    def __init__(self, failure: Exception, failures: int = 1) -> None:
        self.failure, self.failures, self.calls = failure, failures, []
        self.has_pending_data = False

    def run(self, source: object) -> str:
        self.calls.append("run")
        self.has_pending_data = True  # dlt keeps the package of a failed load
        return self._fail_or("loaded")

    def load(self) -> str:
        self.calls.append("load")
        return self._fail_or("loaded")

    def _fail_or(self, result: str) -> str:
        if len(self.calls) <= self.failures:
            raise self.failure
        self.has_pending_data = False
        return result


def _lost_race() -> Exception:
    cause = RuntimeError('duplicate key value violates unique constraint "pg_type_typname_nsp_index"')
    try:
        raise SchemaUpdateTerminalError("cometchat", ["messages"], cause)
    except SchemaUpdateTerminalError as error:
        try:
            raise RuntimeError("Pipeline execution failed at `step=load`") from error
        except RuntimeError as wrapped:
            return wrapped


def test_a_load_that_lost_a_schema_race_is_loaded_again_without_extracting():
    shard = _Shard(_lost_race(), failures=2)

    assert load_window(shard, source=None) == "loaded"

    assert shard.calls == ["run", "load", "load"]


def test_other_load_failures_are_not_retried():
    shard = _Shard(PermissionError("permission denied for schema chat"))

    with pytest.raises(PermissionError):
        load_window(shard, source=None)
    assert shard.calls == ["run"]


def test_a_race_lost_on_every_try_stops_after_the_attempts():
    shard = _Shard(_lost_race(), failures=99)

    with pytest.raises(RuntimeError, match="step=load"):
        load_window(shard, source=None)
    assert len(shard.calls) == SCHEMA_RACE_ATTEMPTS
