"""The obvious alternative: dlt's generic `rest_api` source over the same endpoints.

Two configurations of it:
- `tuned`, the baseline: what a skilled dlt user would write. Parquet files, `max_table_nesting=1`,
  file rotation so that both normalize workers get work, 2 normalize workers (`TUNED_SETTINGS`).
- `defaults`: the same source on dlt's defaults everywhere (insert_values, one normalize worker,
  unlimited nesting), kept as a second row.
Both use the largest page sizes the API documents.
"""

from typing import Any

from dlt.sources import DltSource
from dlt.sources.rest_api import rest_api_source

# dlt settings of the tuned baseline, as environment variables (the worker sets them before dlt reads them).
TUNED_SETTINGS = {
    "NORMALIZE__WORKERS": "2",
    "DATA_WRITER__FILE_MAX_ITEMS": "50000",
    "DATA_WRITER__BUFFER_MAX_ITEMS": "5000",
}
TUNED_FILE_FORMAT = "parquet"
TUNED_MAX_TABLE_NESTING = 1


def baseline_source(base_url: str, api_key: str, tuned: bool = True) -> DltSource:
    page_numbers: dict[str, Any] = {
        "type": "page_number",
        "base_page": 1,
        "page_param": "page",
        "total_path": None,
    }
    source = rest_api_source(
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
    if tuned:
        source.max_table_nesting = TUNED_MAX_TABLE_NESTING
    return source
