"""A thin HTTP client for the contract tests: raw `requests` calls plus the two pagination walks."""

from __future__ import annotations

from typing import Any

import requests

from sources.cometchat_emulator import Emulator

NO_KEY = object()


class ApiClient:
    def __init__(self, emulator: Emulator) -> None:
        self.base_url = emulator.base_url
        self.api_key = emulator.api_key
        self.session = requests.Session()
        self.session.trust_env = False

    def request(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        on_behalf_of: str | None = None,
        headers: dict[str, str] | None = None,
        api_key: Any = None,
        json: Any = None,
    ) -> requests.Response:
        sent = {} if api_key is NO_KEY else {"apikey": api_key or self.api_key}
        if on_behalf_of is not None:
            sent["onBehalfOf"] = on_behalf_of
        sent.update(headers or {})
        return self.session.request(
            method, self.base_url + path, params=params, headers=sent, json=json, timeout=30
        )

    def get(self, path: str, params: dict[str, Any] | None = None, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, params, **kwargs)

    def ok(self, path: str, params: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        response = self.get(path, params, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()

    def put(self, path: str, json: Any, **kwargs: Any) -> requests.Response:
        return self.request("PUT", path, json=json, **kwargs)

    def all_pages(self, path: str, params: dict[str, Any] | None = None, **kwargs: Any) -> list[dict]:
        """Page-number walk that trusts only the has-more flag `total_pages`."""
        items, page = [], 1
        while True:
            body = self.ok(path, {**(params or {}), "page": page}, **kwargs)
            items += body["data"]
            pagination = body["meta"]["pagination"]
            assert pagination["current_page"] == page
            if pagination["total_pages"] == page:
                return items
            assert pagination["total_pages"] == page + 1
            page += 1

    def all_messages(self, path: str, params: dict[str, Any] | None = None, **kwargs: Any) -> list[dict]:
        """Cursor walk forward with the (sentAt, id) of meta.next until an empty page."""
        params = dict(params or {})
        items: list[dict] = []
        while True:
            body = self.ok(path, params, **kwargs)
            if not body["data"]:
                assert "next" not in body["meta"]
                return items
            items += body["data"]
            following = body["meta"]["next"]
            params.update(affix="append", sentAt=following["sentAt"], id=following["id"])


def error_of(response: requests.Response) -> dict[str, Any]:
    return response.json()["error"]
