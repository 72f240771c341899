import pytest

from sources.cometchat.credentials import CometChatCredentials
from sources.cometchat.errors import CometChatConfigError


def test_default_base_url_uses_app_id_and_region():
    credentials = CometChatCredentials(app_id="abc123", api_key="k", region="in")
    assert credentials.api_base_url == "https://abc123.api-in.cometchat.io/v3"


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/v3", "http://localhost:1/v3", "http://[::1]:5/v3", "https://x.example/v3/"]
)
def test_accepts_https_and_loopback_http(url):
    assert CometChatCredentials(app_id="a", api_key="k", base_url=url).api_base_url == url.rstrip("/")


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
