"""The obvious alternative: dlt's generic `rest_api` source, configured plainly for the same endpoints.

It uses dlt's defaults everywhere (file format, workers, retries) and the largest page sizes the API
documents, which is what a dlt user would write in an afternoon.
"""

from typing import Any

from dlt.sources import DltSource
from dlt.sources.rest_api import rest_api_source


def baseline_source(base_url: str, api_key: str) -> DltSource:
    page_numbers: dict[str, Any] = {
        "type": "page_number",
        "base_page": 1,
        "page_param": "page",
        "total_path": None,
    }
    return rest_api_source(
        {
            "client": {
                "base_url": base_url,
                "auth": {"type": "api_key", "name": "apikey", "api_key": api_key, "location": "header"},
            },
            "resource_defaults": {"write_disposition": "merge", "endpoint": {"data_selector": "data"}},
            "resources": [
                {
                    "name": "users",
                    "primary_key": "uid",
                    "endpoint": {
                        "path": "users",
                        "params": {"perPage": 1000, "withTags": "true"},
                        "paginator": page_numbers,
                    },
                },
                {
                    "name": "groups",
                    "primary_key": "guid",
                    "endpoint": {
                        "path": "groups",
                        "params": {"perPage": 1000, "withTags": "true"},
                        "paginator": page_numbers,
                    },
                },
                {
                    "name": "group_members",
                    "primary_key": ["_groups_guid", "uid"],
                    "endpoint": {
                        "path": "groups/{resources.groups.guid}/members",
                        "params": {"perPage": 1000},
                        "paginator": page_numbers,
                    },
                    "include_from_parent": ["guid"],
                },
                {
                    "name": "conversations",
                    "primary_key": ["uid", "conversationId"],
                    "endpoint": {
                        "path": "conversations",
                        "params": {"perPage": 1000, "withTags": "true"},
                        "paginator": page_numbers,
                    },
                },
                {
                    "name": "messages",
                    "primary_key": "id",
                    "endpoint": {
                        "path": "messages",
                        "params": {"limit": 1000, "affix": "append", "withTags": "true"},
                        "paginator": {"type": "cursor", "cursor_path": "meta.next.id", "cursor_param": "id"},
                    },
                },
            ],
        }
    )
