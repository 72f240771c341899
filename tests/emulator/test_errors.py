"""Auth and error envelopes: every documented error code, as the client sees it over HTTP."""

import socket
from urllib.parse import urlsplit

import pytest

from .client import NO_KEY

INVALID_ENDPOINT = "The API endpoint is invalid. Please verify the API call."


def assert_envelope(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert list(body) == ["error"]
    error = body["error"]
    assert set(error) <= {"message", "devMessage", "source", "code", "details"}
    assert {"message", "devMessage", "source", "code"} <= set(error)
    assert error["source"] == "chat-api"
    assert error["code"] == code
    assert "Traceback" not in response.text
    return error


def test_missing_and_blank_api_key(api):
    assert_envelope(api.get("/users", api_key=NO_KEY), 401, "AUTH_ERR_EMPTY_APIKEY")
    blank = api.session.get(api.base_url + "/users", headers={"apikey": ""}, timeout=10)
    assert_envelope(blank, 401, "AUTH_ERR_EMPTY_APIKEY")


def test_unknown_api_key_is_not_echoed(api):
    wrong = "0123456789abcdef0123456789abcdef01234567"
    error = assert_envelope(api.get("/users", api_key=wrong), 401, "AUTH_ERR_APIKEY_NOT_FOUND")
    assert wrong not in error["message"] + error["devMessage"]


@pytest.mark.parametrize("name", ["apikey", "APIKEY", "apiKey", "ApiKey"])
def test_header_names_are_case_insensitive(api, name):
    response = api.session.get(api.base_url + "/users", headers={name: api.api_key}, timeout=10)
    assert response.status_code == 200


def test_wrong_app_id_header_or_host(api, emulator):
    assert_envelope(api.get("/users", headers={"appId": "someone-elses-app"}), 401, "AUTH_ERR_INVALID_APPID")
    assert api.get("/users", headers={"appId": emulator.app_id.upper()}).status_code == 200
    foreign_host = {"Host": "someone-elses-app.api-us.cometchat.io"}
    error = assert_envelope(api.get("/users", headers=foreign_host), 401, "AUTH_ERR_INVALID_APPID")
    assert "someone-elses-app" in error["message"]
    assert api.get("/users", headers={"Host": f"{emulator.app_id}.api-eu.cometchat.io"}).status_code == 200
    assert api.get("/users", headers={"Host": "localhost"}).status_code == 200


def test_key_is_checked_before_the_app_id(api):
    response = api.get("/users", api_key=NO_KEY, headers={"appId": "other"})
    assert_envelope(response, 401, "AUTH_ERR_EMPTY_APIKEY")


def test_unknown_uid_guid_message(api):
    error = assert_envelope(api.get("/users/NoSuch-User"), 404, "ERR_UID_NOT_FOUND")
    assert error["message"] == (
        "The UID nosuch-user does not exist, please make sure you have created a user with UID nosuch-user."
    )
    assert_envelope(api.get("/messages", on_behalf_of="nobody_1"), 404, "ERR_UID_NOT_FOUND")
    assert_envelope(api.get("/groups/No_Group"), 404, "ERR_GUID_NOT_FOUND")
    assert_envelope(api.get("/messages/123456"), 404, "ERR_MSG_NOT_FOUND")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nothing-here"),
        ("GET", "/users/a/b/c/d"),
        ("DELETE", "/users"),
        ("POST", "/messages"),
        ("PATCH", "/conversations"),
        ("PUT", "/users/x"),
        ("GET", ""),
    ],
)
def test_unknown_route_or_wrong_method(api, method, path):
    error = assert_envelope(api.request(method, path), 404, "ERR_API_NOT_FOUND")
    assert error["message"] == INVALID_ENDPOINT


def test_paths_outside_v3(api):
    origin = api.base_url.removesuffix("/v3")
    for path in ("/", "/v2.0/users", "/v33/users"):
        response = api.session.get(origin + path, headers={"apikey": api.api_key}, timeout=10)
        assert_envelope(response, 404, "ERR_API_NOT_FOUND")


def test_bad_request_details(api):
    error = assert_envelope(api.get("/messages", {"limit": "5000"}), 400, "ERR_BAD_REQUEST")
    assert error["details"] == {"limit": ["The limit must be between 1 and 1000."]}
    assert error["message"] == error["devMessage"] == "Failed to validate the data sent with the request."


def test_errors_carry_rate_limit_headers(api):
    for response in (api.get("/users", api_key=NO_KEY), api.get("/nope"), api.get("/users/none")):
        assert {"X-Rate-Limit", "X-RateLimit-Limit", "X-RateLimit-Reset"} <= set(response.headers)


def raw_exchange(emulator, request: bytes) -> bytes:
    url = urlsplit(emulator.base_url)
    with socket.create_connection((url.hostname, url.port), timeout=5) as sock:
        sock.sendall(request)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return reply


def test_malformed_requests_get_a_json_envelope_not_html(emulator):
    # An unparsable request line is answered HTTP/0.9 style: the body alone.
    reply = raw_exchange(emulator, b"BROKEN\r\n\r\n")
    assert reply.startswith(b'{"error":') and b'"source":"chat-api"' in reply
    oversized = b"GET /v3/users HTTP/1.1\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n"
    reply = raw_exchange(emulator, oversized)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431")
    assert body.startswith(b'{"error":') and b"<html" not in reply.lower() and b"Traceback" not in reply
