"""Fixtures of the reverse-ETL tests; plain helpers live in helpers.py."""

from collections.abc import Callable
from pathlib import Path

import dlt
import pytest

from pipelines.loading import build_pipeline


@pytest.fixture
def make_pipeline(tmp_path: Path) -> Callable[..., dlt.Pipeline]:
    def make(name: str = "cometchat") -> dlt.Pipeline:
        return build_pipeline(
            destination=dlt.destinations.duckdb(str(tmp_path / f"{name}.duckdb")),
            pipeline_name=name,
            progress=None,
            pipelines_dir=str(tmp_path / "pipelines"),
        )

    return make
