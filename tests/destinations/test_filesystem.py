"""filesystem as a lake that merges (delta tables); a destination that cannot merge is refused, never appended to.

The lake is read back through `pipeline.dataset()`, with DuckDB's delta extension installed from the
`duckdb-extension-delta` wheel (pipelines/lake.py), since this test suite reaches only loopback.
"""

import importlib.util

import dlt
import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

import sources.cometchat as source
from pipelines.lake import install_delta_extension
from sources.cometchat import cometchat_source
from sources.cometchat.errors import CometChatConfigError
from tests.source.changes import change_everything
from tests.source.conftest import emulator_credentials, load_from
from tests.source.matching import assert_matches_ground_truth, assert_members_match_ground_truth


def lake_pipeline(tmp_path, name: str = "cometchat_lake") -> dlt.Pipeline:
    return dlt.pipeline(
        name,
        destination=dlt.destinations.filesystem((tmp_path / "lake").as_uri()),
        dataset_name="chat",
        pipelines_dir=str(tmp_path / "pipelines"),
    )


def test_filesystem_is_a_delta_lake_exact_after_an_incremental_run(make_emulator, tmp_path):
    emulator = make_emulator(seed=11, messages=1500)
    pipeline = lake_pipeline(tmp_path)
    load_from(emulator, pipeline)
    change_everything(emulator)

    load_from(emulator, pipeline)

    assert install_delta_extension(), (
        "duckdb-extension-delta (the lake extra) must serve DuckDB's delta extension"
    )
    truth = emulator.ground_truth()
    assert_matches_ground_truth(pipeline, truth)  # read through pipeline.dataset()
    assert len(pipeline.dataset()["messages"].df()) == len(truth["messages"])  # merged, not appended
    for name in ("messages", "messages__entities", "group_members", "users"):
        assert (tmp_path / "lake" / "chat" / name / "_delta_log").is_dir(), name


def test_lake_members_stay_exact_when_the_stored_versions_cannot_be_read(
    make_emulator, tmp_path, monkeypatch
):
    emulator = make_emulator(seed=11, messages=100)
    pipeline = lake_pipeline(tmp_path)
    load_from(emulator, pipeline)
    emulator.delete_group(emulator.ground_truth(messages=False)["groups"][0]["guid"])
    # The lake cannot be read back (no delta extension, say): every stored member row is replaced (cdc).
    monkeypatch.setattr(source, "_loaded_group_versions", lambda: None)

    load_from(emulator, pipeline)

    assert install_delta_extension()
    assert_members_match_ground_truth(pipeline, emulator.ground_truth(messages=False))

    # No group left, versions still unknown: the stored rows go too.
    for group in emulator.ground_truth(messages=False)["groups"]:
        emulator.delete_group(group["guid"])
    load_from(emulator, pipeline)
    assert len(pipeline.dataset()["group_members"].df()) == 0


def test_a_destination_that_cannot_merge_is_refused_with_a_clear_message(
    make_emulator, tmp_path, monkeypatch
):
    emulator = make_emulator(messages=100)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "deltalake" else real_find_spec(name, *a),
    )
    pipeline = lake_pipeline(tmp_path, "no_delta")

    with pytest.raises(PipelineStepFailed) as raised:
        pipeline.run(cometchat_source(credentials=emulator_credentials(emulator)).with_resources("users"))

    error = raised.value.__context__
    while error is not None and not isinstance(error, CometChatConfigError):
        error = error.__cause__ or error.__context__
    assert error is not None and "deltalake" in str(error) and "append" in str(error)
    assert not list((tmp_path / "lake").rglob("*.parquet")), "nothing may be written"
    assert emulator.stats()["total"] == 0
