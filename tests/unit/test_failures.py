"""Distinct causes, distinct one-line errors naming the endpoint: unreachable, refused by the API, unreadable."""

import socket
import sys
from pathlib import Path

import pytest

from pipelines import run
from sources.cometchat.client import CometChatClient
from sources.cometchat.credentials import CometChatCredentials
from sources.cometchat.errors import (
    CometChatApiError,
    CometChatUnreachableError,
    CometChatUnreadableError,
)

APP = "app1"
HOST = f"{APP}.api-us.cometchat.io"
BASE = f"https://{HOST}/v3"
KEY = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def no_backoff(monkeypatch):
    monkeypatch.setattr("sources.cometchat.client.BACKOFF_FACTOR_SECONDS", 0.0)


@pytest.fixture
def unresolvable(monkeypatch) -> list[str]:
    """Name resolution fails for the API host (and nothing leaves the machine); returns the lookups made."""
    lookups: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if host == HOST:
            lookups.append(host)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups


def run_cli(monkeypatch, tmp_path: Path, capsys, *args: str) -> tuple[int, str]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt"))
    monkeypatch.setenv("SOURCES__COMETCHAT__CREDENTIALS__APP_ID", APP)
    monkeypatch.setenv("SOURCES__COMETCHAT__CREDENTIALS__API_KEY", KEY)
    monkeypatch.setenv("SOURCES__COMETCHAT__REQUESTS_PER_MINUTE", "100000")
    monkeypatch.delenv("COMETCHAT_DEBUG", raising=False)
    monkeypatch.setattr(sys, "argv", ["run.py"])
    with pytest.raises(SystemExit) as exited:
        run.main(["--progress", "none", "--resources", "users", *args])
    return int(exited.value.code), capsys.readouterr().err


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("CometChat")]


def test_a_host_that_does_not_resolve_fails_at_once_with_one_line(
    monkeypatch, tmp_path, capsys, unresolvable, no_backoff
):
    status, err = run_cli(monkeypatch, tmp_path, capsys)
    assert status == 1
    assert error_lines(err) == [
        f"CometChat is unreachable: GET /v3/users: the host '{HOST}' does not resolve (DNS) "
        "(not retried, it cannot heal)"
    ]
    assert unresolvable == [HOST]  # one attempt, no retries
    assert "retry" not in err and "Traceback" not in err and KEY not in err


def test_a_refused_connection_is_unreachable_after_the_retries(no_backoff):
    with socket.socket() as probe:  # a loopback port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    credentials = CometChatCredentials(app_id=APP, api_key=KEY, base_url=f"http://127.0.0.1:{port}/v3")
    client = CometChatClient(credentials, requests_per_minute=1e6, max_attempts=3)
    with pytest.raises(CometChatUnreachableError) as caught:
        client.get("users")
    assert str(caught.value) == (
        "CometChat is unreachable: GET /v3/users: the connection was refused (after 3 attempts)"
    )
    assert client.stats.retries == 2


def test_a_200_with_malformed_json_is_an_unreadable_answer(monkeypatch, tmp_path, capsys, requests_mock):
    requests_mock.get(
        f"{BASE}/users", text='{"data": [{"uid": "u1"', headers={"Content-Type": "application/json"}
    )
    status, err = run_cli(monkeypatch, tmp_path, capsys)
    assert status == 1
    [line] = error_lines(err)
    assert line.startswith(
        "CometChat answered GET /v3/users with something unreadable: HTTP 200, malformed JSON"
    )
    assert "unreachable" not in err and "Traceback" not in err


def test_an_api_refusal_names_the_endpoint_and_the_code(monkeypatch, tmp_path, capsys, requests_mock):
    refusal = {"error": {"code": "ERR_BAD_REQUEST", "message": "perPage is too big"}}
    requests_mock.get(f"{BASE}/users", status_code=400, json=refusal)
    status, err = run_cli(monkeypatch, tmp_path, capsys)
    assert status == 1
    assert error_lines(err) == [
        "CometChat refused GET /v3/users (ERR_BAD_REQUEST, HTTP 400): perPage is too big"
    ]


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (
            {"text": "<html><body>Bad gateway</body></html>", "headers": {"Content-Type": "text/html"}},
            "malformed JSON",
        ),
        ({"json": {}}, "not the API's envelope"),
        ({"json": ["u1"]}, "not the API's envelope"),
        ({"text": ""}, "malformed JSON"),
    ],
)
def test_a_success_that_is_not_the_envelope_is_never_an_empty_page(requests_mock, answer, problem):
    client = CometChatClient(CometChatCredentials(app_id=APP, api_key=KEY), requests_per_minute=1e6)
    requests_mock.get(f"{BASE}/users", **answer)
    with pytest.raises(CometChatUnreadableError, match=problem) as caught:
        list(client.pages("users"))
    assert "GET /v3/users" in str(caught.value)
    assert requests_mock.call_count == 1


def test_an_api_message_that_echoes_the_key_is_redacted(requests_mock):
    client = CometChatClient(CometChatCredentials(app_id=APP, api_key=KEY), requests_per_minute=1e6)
    echo = {"error": {"code": "ERR_BAD_REQUEST", "message": f"bad header apikey={KEY}"}}
    requests_mock.get(f"{BASE}/users", status_code=400, json=echo)
    with pytest.raises(CometChatApiError) as caught:
        client.get("users")
    assert KEY not in str(caught.value) and "apikey=***" in str(caught.value)
