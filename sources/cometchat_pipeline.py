"""Loads a CometChat app with the `cometchat` source: the example that `dlt init cometchat <destination>` copies.

Credentials go to `[sources.cometchat.credentials]` in .dlt/secrets.toml (app_id, region, api_key).
"""

import dlt
from cometchat import cometchat_source


def load_cometchat() -> None:
    """Every user, group, membership, conversation and message; later runs load only what changed."""
    pipeline = dlt.pipeline(pipeline_name="cometchat", destination="duckdb", dataset_name="cometchat_data")
    load_info = pipeline.run(cometchat_source())
    print(load_info)


if __name__ == "__main__":
    load_cometchat()
