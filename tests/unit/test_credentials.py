import tomllib
from pathlib import Path

import pytest
from dlt.common.configuration import resolve_configuration

from sources.cometchat import CometChatClient
from sources.cometchat.credentials import CometChatCredentials, check_credentials
from sources.cometchat.errors import CometChatConfigError
from sources.cometchat.loopback import is_loopback

EXAMPLE_SECRETS = Path(__file__).resolve().parents[2] / ".dlt" / "secrets.toml.example"


def test_default_base_url_uses_app_id_and_region():
    credentials = CometChatCredentials(app_id="abc123", api_key="k", region="in")
    assert credentials.api_base_url == "https://abc123.api-in.cometchat.io/v3"


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/v3", "http://localhost:1/v3", "http://[::1]:5/v3", "https://x.example/v3/"]
)
def test_accepts_https_and_loopback_http(url):
    credentials = CometChatCredentials(app_id="a", api_key="k", base_url=url)
    check_credentials(credentials)
    assert credentials.api_base_url == url.rstrip("/")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"base_url": "http://10.0.0.5/v3"}, "https"),
        ({"base_url": "ftp://x/v3"}, "not a URL"),
        ({"region": "mars"}, "region"),
        ({"app_id": " "}, "app_id"),
        ({"api_key": ""}, "api_key"),
    ],
)
def test_rejects_bad_configuration(fields, message):
    with pytest.raises(CometChatConfigError, match=message):
        CometChatCredentials(**{"app_id": "a", "api_key": "k", **fields})
    unchecked = CometChatCredentials()  # as dlt builds it before filling it from config
    for name, value in {"app_id": "a", "api_key": "k", **fields}.items():
        setattr(unchecked, name, value)
    with pytest.raises(CometChatConfigError, match=message):
        check_credentials(unchecked)
    with pytest.raises(CometChatConfigError, match=message):
        CometChatClient(unchecked)


def test_credentials_are_a_dlt_configspec_resolved_from_config(monkeypatch):
    monkeypatch.setenv("SOURCES__COMETCHAT__CREDENTIALS__APP_ID", "app9")
    monkeypatch.setenv("SOURCES__COMETCHAT__CREDENTIALS__API_KEY", "k" * 40)
    credentials = resolve_configuration(
        CometChatCredentials(), sections=("sources", "cometchat", "credentials")
    )
    assert credentials.app_id == "app9" and credentials.region == "us"
    assert "k" * 40 not in repr(credentials) + str(credentials)


def test_every_value_of_the_example_secrets_file_is_refused_at_once():
    example = tomllib.loads(EXAMPLE_SECRETS.read_text())["sources"]["cometchat"]["credentials"]
    for field in ("app_id", "api_key"):
        with pytest.raises(CometChatConfigError, match=f"{field} still holds an example value"):
            CometChatCredentials(**{"app_id": "a", "api_key": "k", field: example[field]})


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST", True),
        ("127.0.0.1", True),
        ("127.5.4.3", True),
        ("::1", True),
        ("[::1]", True),
        ("127.example.com", False),  # a name that merely starts with 127.
        ("10.0.0.1", False),
        ("example.com", False),
    ],
)
def test_one_loopback_rule_for_the_source_and_the_emulator(host, loopback):
    from sources.cometchat_emulator import config

    assert is_loopback(host) is loopback
    assert config.is_loopback is is_loopback


KEY = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize("key", [KEY + "\n", KEY + " ", " " + KEY, "\t" + KEY + "\r\n"])
def test_a_key_with_surrounding_whitespace_is_named_never_echoed(key):
    with pytest.raises(CometChatConfigError, match="leading or trailing whitespace") as caught:
        CometChatCredentials(app_id="a", api_key=key)
    assert KEY[:8] not in str(caught.value)


@pytest.mark.parametrize("key", [KEY[:20] + " " + KEY[20:], KEY + "\x00x", KEY + "é"])
def test_a_key_a_header_cannot_carry_is_refused_without_echo(key):
    with pytest.raises(CometChatConfigError, match="api_key contains") as caught:
        CometChatCredentials(app_id="a", api_key=key)
    assert KEY[:8] not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "problem", "shown"),
    [
        ("https://admin:s3cr3t-pw@api.example.com/v3", "user name or password", "https://api.example.com/v3"),
        ("http://admin:s3cr3t-pw@127.0.0.1:8080/v3", "user name or password", "http://127.0.0.1:8080/v3"),
        ("https://s3cr3t-pw@api.example.com/v3", "user name or password", "https://api.example.com/v3"),
        ("https://api.example.com/v3?token=s3cr3t-pw", "query string", "https://api.example.com/v3"),
        ("http://127.0.0.1:9/v3?apikey=s3cr3t-pw", "query string", "http://127.0.0.1:9/v3"),
        ("https://api.example.com/v3#s3cr3t-pw", "fragment", "https://api.example.com/v3"),
        ("http://user:s3cr3t-pw@10.0.0.5/v3", "user name or password", "http://10.0.0.5/v3"),
        ("http://[::1:s3cr3t-pw/v3", "not a URL", ""),
    ],
)
def test_a_base_url_with_secrets_is_refused_without_echoing_them(url, problem, shown):
    with pytest.raises(CometChatConfigError, match=problem) as caught:
        CometChatCredentials(app_id="a", api_key=KEY, base_url=url)
    assert "s3cr3t-pw" not in str(caught.value)
    assert shown in str(caught.value)


@pytest.mark.parametrize("app_id", ["evil.example.com/x?", "a b", "app\n", "a@b"])
def test_an_app_id_that_would_change_the_host_is_refused(app_id):
    with pytest.raises(CometChatConfigError, match="app_id may hold only"):
        CometChatCredentials(app_id=app_id, api_key=KEY)
