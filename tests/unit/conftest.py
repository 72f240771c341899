"""Fixtures of the unit tests that drive the source against a requests_mock'ed API at BASE."""

import dlt
import pytest

from sources.cometchat.client import CometChatClient
from sources.cometchat.credentials import CometChatCredentials

BASE = "https://app1.api-us.cometchat.io/v3"


@pytest.fixture
def client(requests_mock) -> CometChatClient:
    return CometChatClient(CometChatCredentials(app_id="app1", api_key="k" * 40), requests_per_minute=1e6)


@pytest.fixture
def pipeline(tmp_path) -> dlt.Pipeline:
    return dlt.pipeline(
        "unit", destination=dlt.destinations.duckdb(str(tmp_path / "u.duckdb")), pipelines_dir=str(tmp_path)
    )
