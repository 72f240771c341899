"""Fixtures for the source's integration tests: a fresh pipeline per test, loading from an emulator."""

from collections.abc import Callable
from pathlib import Path

import dlt
import pytest

from pipelines.loading import LoadSummary, build_pipeline, run_load
from sources.cometchat import CometChatClient, CometChatCredentials
from sources.cometchat.settings import MAX_WORKERS


def emulator_credentials(emulator) -> CometChatCredentials:
    return CometChatCredentials(app_id=emulator.app_id, api_key=emulator.api_key, base_url=emulator.base_url)


def load_from(
    emulator,
    pipeline: dlt.Pipeline,
    requests_per_minute: float = 60_000,
    max_workers: int = MAX_WORKERS,
    **options,
) -> LoadSummary:
    client = CometChatClient(
        emulator_credentials(emulator), requests_per_minute=requests_per_minute, max_workers=max_workers
    )
    return run_load(pipeline, client, **options)


@pytest.fixture
def make_pipeline(tmp_path: Path) -> Callable[..., dlt.Pipeline]:
    def make(name: str = "cometchat", destination=None) -> dlt.Pipeline:
        destination = destination or dlt.destinations.duckdb(str(tmp_path / f"{name}.duckdb"))
        return build_pipeline(
            destination=destination,
            pipeline_name=name,
            progress=None,
            pipelines_dir=str(tmp_path / "pipelines"),
        )

    return make
