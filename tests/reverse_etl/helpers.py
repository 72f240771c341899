"""Helpers for the reverse-ETL tests: clients, CLI runs, loaded tables and the emulator's tags as truth."""

import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import dlt
import pandas as pd

from sources.cometchat import CometChatClient, CometChatCredentials
from tests.source.cli import cli_env

REPO = Path(__file__).resolve().parents[2]
APPLY_TAGS = REPO / "pipelines" / "apply_tags.py"


def client_for(emulator, requests_per_minute: float = 60_000, **options) -> CometChatClient:
    credentials = CometChatCredentials(
        app_id=emulator.app_id, api_key=emulator.api_key, base_url=emulator.base_url
    )
    return CometChatClient(credentials, requests_per_minute=requests_per_minute, **options)


def truth_tags(emulator) -> dict[tuple[str, str], list[str]]:
    """(viewer, conversationId) -> the viewer's tags, as the emulator holds them."""
    return {
        (c["viewer"], c["conversationId"]): list(c["tags"])
        for c in emulator.ground_truth(messages=False)["conversations"]
    }


def successful_puts(emulator) -> list[dict]:
    return [put for put in emulator.stats()["puts"] if put["status"] == 200]


def changes_frame(rows: list[tuple]) -> pd.DataFrame:
    """Rows of (on_behalf_of, conversation_id, tags[, mode])."""
    return pd.DataFrame(
        [dict(zip(("on_behalf_of", "conversation_id", "tags", "mode"), row, strict=False)) for row in rows]
    )


def write_csv(path: Path, rows: list[tuple], header: str = "on_behalf_of,conversation_id,tags,mode") -> Path:
    frame = changes_frame(rows)
    text = (
        header
        + "\n"
        + frame.to_csv(index=False, header=False, columns=header.split(","), lineterminator="\n")
    )
    path.write_text(text, encoding="utf-8")
    return path


def conversation_tables(pipeline: dlt.Pipeline) -> dict[tuple[str, str], list[str]]:
    """(viewer_uid, conversation_id) -> tags, from both loaded conversation tables and their tag child tables."""
    dataset = pipeline.dataset()
    tables = set(pipeline.default_schema.data_table_names())
    loaded: dict[tuple[str, str], list[str]] = {}
    for kind in ("user", "group"):
        parents = dataset[f"{kind}_conversations"].df()
        tags: dict[str, list[str]] = {}
        if f"{kind}_conversations__tags" in tables:
            child = dataset[f"{kind}_conversations__tags"].df().sort_values("_dlt_list_idx")
            for row in child.to_dict("records"):
                tags.setdefault(row["_dlt_parent_id"], []).append(row["value"])
        for row in parents.to_dict("records"):
            loaded[(row["viewer_uid"], row["conversation_id"])] = tags.get(row["_dlt_id"], [])
    return loaded


def start_cli(emulator, workdir: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(APPLY_TAGS), *args],
        cwd=workdir,
        env=env or cli_env(emulator, workdir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_cli(emulator, workdir: Path, *args: str, env: dict | None = None, timeout: float = 120):
    process = start_cli(emulator, workdir, *args, env=env)
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def put_path(viewer: str, cid: str) -> str:
    if cid.startswith("group_"):
        return f"/v3/groups/{quote(cid[len('group_') :], safe='')}/conversation"
    low, high = cid.split("_user_")
    return f"/v3/users/{quote(high if viewer == low else low, safe='')}/conversation"
