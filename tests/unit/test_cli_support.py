"""The CLIs' client: every `[sources.cometchat]` setting reaches it, and a command-line budget wins."""

import pytest
from dlt.common.configuration.exceptions import ConfigFieldMissingException

from pipelines.cli_support import _describe, client_for


@pytest.fixture
def configured(monkeypatch):
    monkeypatch.setenv("SOURCES__COMETCHAT__CREDENTIALS__APP_ID", "app1")
    monkeypatch.setenv("SOURCES__COMETCHAT__CREDENTIALS__API_KEY", "k-123")
    monkeypatch.setenv("SOURCES__COMETCHAT__CREDENTIALS__REGION", "eu")
    monkeypatch.setenv("SOURCES__COMETCHAT__REQUESTS_PER_MINUTE", "1200")
    monkeypatch.setenv("SOURCES__COMETCHAT__MAX_WORKERS", "9")


def test_the_configured_budget_and_workers_reach_the_client(configured):
    with client_for(demo=False, requests_per_minute=None) as client:
        assert client.budget.requests_per_minute == 1200
        assert client.max_workers == 9
        assert client.credentials.region == "eu"
        assert client.credentials.api_base_url == "https://app1.api-eu.cometchat.io/v3"


def test_a_command_line_budget_overrides_the_configured_one(configured):
    with client_for(demo=False, requests_per_minute=300) as client:
        assert client.budget.requests_per_minute == 300
        assert client.max_workers == 9


def test_missing_credentials_raise_dlts_error_and_the_cli_says_how_to_set_them(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no .dlt folder here
    for name in ("APP_ID", "API_KEY"):
        monkeypatch.delenv(f"SOURCES__COMETCHAT__CREDENTIALS__{name}", raising=False)
    with (
        pytest.raises(ConfigFieldMissingException) as raised,
        client_for(demo=False, requests_per_minute=None),
    ):
        pass
    status, line = _describe(raised.value)
    assert status == 2
    assert "\n" not in line
    assert "SOURCES__COMETCHAT__CREDENTIALS__API_KEY" in line and "secrets.toml" in line


def test_the_configured_request_deadline_reaches_the_client(configured, monkeypatch):
    monkeypatch.setenv("SOURCES__COMETCHAT__REQUEST_DEADLINE_SECONDS", "7.5")
    with client_for(demo=False, requests_per_minute=None) as client:
        assert client.request_deadline_seconds == 7.5
        assert client._rest.session.get_adapter("https://x").deadline_seconds == 7.5
