"""Rate limits, latency, injected faults and request stats, observed from the client side."""

import time

import pytest
import requests

from sources.cometchat_emulator import FAULT_KINDS, Emulator, EmulatorConfig, EmulatorError

from .client import ApiClient, error_of

LIMIT_HEADERS = ("X-Rate-Limit", "X-Rate-Limit-Remaining", "X-Rate-Limit-Reset")
RATELIMIT_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


@pytest.fixture(scope="module")
def small():
    with Emulator(EmulatorConfig(users=8, groups=2, members_per_group=3, messages=120)) as emu:
        client = ApiClient(emu)
        yield emu, client
        client.session.close()


@pytest.fixture
def fresh(small):
    """The module's small emulator with default knobs and empty stats (configure also restarts the window)."""
    emu, client = small
    emu.configure(
        rate_limit=0, rate_window=60, latency_ms=0, fault_rate=0, fault_kinds=FAULT_KINDS, slow_seconds=2
    )
    emu.reset_stats()
    return emu, client


def limits(response: requests.Response) -> tuple[int, int, int]:
    old = tuple(int(response.headers[name]) for name in LIMIT_HEADERS)
    new = tuple(int(response.headers[name]) for name in RATELIMIT_HEADERS)
    assert old == new, "both header spellings must agree"
    return old  # type: ignore[return-value]


def test_nominal_limit_headers_when_the_limit_is_off(api):
    first, second = api.get("/users"), api.get("/groups")
    limit, remaining, reset = limits(first)
    assert limit == 20_000
    assert limits(second)[1] in (remaining - 1, 20_000 - 1)  # a new window may have started in between
    assert time.time() - 1 <= reset <= time.time() + 61


def test_rate_limit_429_with_retry_after_and_both_spellings(fresh):
    emu, api = fresh
    emu.configure(rate_limit=3, rate_window=30)
    responses = []
    for _ in range(8):
        responses.append(api.get("/users"))
        if responses[-1].status_code == 429:
            break
    limited = responses[-1]
    assert limited.status_code == 429
    assert error_of(limited)["code"] == "ERR_TOO_MANY_REQUESTS"
    limit, remaining, reset = limits(limited)
    assert (limit, remaining) == (3, 0)
    retry_after = int(limited.headers["Retry-After"])
    assert 1 <= retry_after <= 30
    assert reset >= int(time.time()) and reset % 30 == 0
    assert [limits(r)[1] for r in responses[-4:-1]] == [2, 1, 0]
    statuses = emu.stats()["by_status"]
    assert statuses["429"] == 1 and statuses["200"] == len(responses) - 1


def test_window_resets_and_requests_pass_again(fresh):
    emu, api = fresh
    emu.configure(rate_limit=2, rate_window=1)
    for _ in range(6):
        response = api.get("/groups")
        if response.status_code == 429:
            break
    assert response.status_code == 429
    time.sleep(int(response.headers["Retry-After"]))
    assert api.get("/groups").status_code == 200
    emu.configure(rate_limit=0)
    assert all(api.get("/groups").status_code == 200 for _ in range(5))
    assert limits(api.get("/groups"))[0] == 20_000


def test_latency_is_added_to_every_request(fresh):
    emu, api = fresh
    emu.configure(latency_ms=250)
    started = time.monotonic()
    assert api.get("/users").status_code == 200
    assert api.get("/nope").status_code == 404
    assert time.monotonic() - started >= 0.5
    emu.configure(latency_ms=0)
    started = time.monotonic()
    api.get("/users")
    assert time.monotonic() - started < 0.25


@pytest.mark.parametrize(
    ("kind", "code"),
    [("500", "ERR_EXCEPTION"), ("502", "ERR_BAD_GATEWAY"), ("503", "ERR_SERVICE_UNAVAILABLE")],
)
def test_server_error_faults(fresh, kind, code):
    emu, api = fresh
    emu.configure(fault_rate=1.0, fault_kinds=[kind])
    response = api.get("/users")
    assert response.status_code == int(kind)
    assert error_of(response)["code"] == code
    assert error_of(response)["source"] == "chat-api"
    limits(response)
    stats = emu.stats()
    assert stats["faults"] == {kind: 1}
    assert stats["requests"] == [{"method": "GET", "route": "/users", "status": int(kind), "count": 1}]


def test_429_storm_fault(fresh):
    emu, api = fresh
    emu.configure(fault_rate=1.0, fault_kinds=["429"])
    for _ in range(3):
        response = api.get("/messages")
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "1"
        assert error_of(response)["code"] == "ERR_TOO_MANY_REQUESTS"
        limits(response)
    assert emu.stats()["by_status"] == {"429": 3}


def test_faulted_requests_are_not_processed(fresh):
    emu, api = fresh
    truth = emu.ground_truth(messages=False)
    row = next(c for c in truth["conversations"] if c["conversationType"] == "group")
    emu.configure(fault_rate=1.0, fault_kinds=["503"])
    path = f"/groups/{row['with']}/conversation"
    assert api.put(path, {"tags": ["never-stored"]}, on_behalf_of=row["viewer"]).status_code == 503
    emu.configure(fault_rate=1.0, fault_kinds=["reset"])
    with pytest.raises(requests.exceptions.ConnectionError):
        api.put(path, {"tags": ["lost"]}, on_behalf_of=row["viewer"])
    emu.configure(fault_rate=0)
    assert api.get(path, on_behalf_of=row["viewer"]).json()["data"]["tags"] == row["tags"]
    # Every PUT attempt is recorded, also the ones a fault answered.
    puts = [(p["path"], p["body"], p["status"]) for p in emu.stats()["puts"]]
    assert puts == [(f"/v3{path}", {"tags": ["never-stored"]}, 503), (f"/v3{path}", {"tags": ["lost"]}, 0)]


def test_reset_fault_is_a_connection_reset(fresh):
    emu, api = fresh
    emu.configure(fault_rate=1.0, fault_kinds=["reset"])
    with pytest.raises(requests.exceptions.ConnectionError) as caught:
        api.get("/users")
    assert "reset" in str(caught.value).lower()
    emu.configure(fault_rate=0)
    assert api.get("/users").status_code == 200  # the client reconnects
    stats = emu.stats()
    assert stats["faults"] == {"reset": 1}
    assert {"method": "GET", "route": "/users", "status": 0, "count": 1} in stats["requests"]


def test_truncate_fault_processes_then_cuts_the_body(fresh):
    emu, api = fresh
    truth = emu.ground_truth(messages=False)
    row = next(c for c in truth["conversations"] if c["conversationType"] == "user")
    emu.configure(fault_rate=1.0, fault_kinds=["truncate"])
    path = f"/users/{row['with']}/conversation"
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError)):
        api.put(path, {"tags": ["stored-anyway"]}, on_behalf_of=row["viewer"])
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError)):
        api.get("/messages", {"limit": 200})
    emu.configure(fault_rate=0)
    assert api.get(path, on_behalf_of=row["viewer"]).json()["data"]["tags"] == ["stored-anyway"]
    assert emu.stats()["faults"] == {"truncate": 2}


def test_truncated_body_is_shorter_than_its_content_length(fresh):
    emu, api = fresh
    emu.configure(fault_rate=1.0, fault_kinds=["truncate"])
    response = api.session.get(
        api.base_url + "/users", headers={"apikey": api.api_key}, stream=True, timeout=10
    )
    announced = int(response.headers["Content-Length"])
    received = b""
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError)):
        for chunk in response.iter_content(1024):
            received += chunk
    assert 0 < len(received) < announced


def test_slow_fault_answers_normally_after_a_pause(fresh):
    emu, api = fresh
    emu.configure(fault_rate=1.0, fault_kinds=["slow"], slow_seconds=0.6)
    started = time.monotonic()
    response = api.get("/users")
    assert response.status_code == 200 and len(response.json()["data"]) == 8
    assert time.monotonic() - started >= 0.6


def test_fault_sequence_is_seeded_and_admin_is_never_faulted(fresh):
    emu, api = fresh

    def statuses() -> list[int]:
        emu.configure(fault_rate=0.5, fault_kinds=["500", "502"])
        return [api.get("/groups").status_code for _ in range(24)]

    first = statuses()
    assert set(first) == {200, 500, 502}
    assert statuses() == first
    emu.configure(fault_rate=1.0, fault_kinds=["reset"])
    assert len(emu.ground_truth(messages=False)["users"]) == 8
    emu.configure(fault_rate=0)


def test_stats_count_by_route_template_and_ignore_admin(fresh):
    emu, api = fresh
    emu.reset_stats()
    truth = emu.ground_truth(messages=False)
    uid = truth["users"][0]["uid"]
    api.get(f"/users/{uid}")
    api.get(f"/users/{truth['users'][1]['uid']}")
    api.get("/users/nobody")
    api.get("/messages", {"limit": 5})
    api.get("/what")
    stats = emu.stats()
    assert stats["total"] == 5
    assert stats["requests"] == [
        {"method": "GET", "route": "/messages", "status": 200, "count": 1},
        {"method": "GET", "route": "/users/{uid}", "status": 200, "count": 2},
        {"method": "GET", "route": "/users/{uid}", "status": 404, "count": 1},
        {"method": "GET", "route": "unknown", "status": 404, "count": 1},
    ]
    assert stats["by_status"] == {"200": 3, "404": 2}
    assert stats["puts"] == []
    emu.reset_stats()
    assert emu.stats()["total"] == 0


def test_configure_rejects_bad_values(fresh):
    emu, _ = fresh
    for bad in ({"fault_kinds": ["504"]}, {"fault_rate": 2}, {"rate_limit": -1}, {"bogus": 1}):
        with pytest.raises(EmulatorError):
            emu.configure(**bad)
    settings = emu.configure(latency_ms=5)
    assert settings["latency_ms"] == 5 and settings["rate_limit"] == 0
