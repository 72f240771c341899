"""notebooks/conversation_analysis.ipynb runs top to bottom from a clean kernel on freshly loaded demo data.

Its key figures are compared with the emulator's ground truth, recomputed here from the API-shaped records
(plain Python, not the notebook's pandas code). The committed copy must show every chart and a real plan.
"""

import importlib.util
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from statistics import median
from types import ModuleType

import nbformat

from pipelines.loading import DATASET_NAME, PIPELINE_NAME

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
NOTEBOOK = NOTEBOOKS / "conversation_analysis.ipynb"
DAY = 86_400
# overview, messages per day, most active, first reply, threads, unread backlog, types/attachments/reactions, tags
CHART_CELLS = 8
# The notebook's defaults for the tags it decides.
DORMANT_DAYS = 30
VIP_CONVERSATIONS = 5


def refresh_module() -> ModuleType:
    """notebooks/refresh_notebook.py: demo loading, parameter injection and execution, shared with the tests."""
    spec = importlib.util.spec_from_file_location("refresh_notebook", NOTEBOOKS / "refresh_notebook.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def expected_key_figures(truth: dict) -> dict:
    messages = truth["messages"]
    chat = [m for m in messages if m["category"] != "action"]
    conversations = truth["conversations"]
    per_conversation = Counter(m["conversationId"] for m in chat)
    ranking = sorted(per_conversation.items(), key=lambda item: (-item[1], item[0]))
    per_type = Counter(c["conversationType"] for c in conversations)
    return {
        "users": len(truth["users"]),
        "groups": len(truth["groups"]),
        "messages": len(messages),
        "chat_messages": len(chat),
        "user_conversations": per_type["user"],
        "group_conversations": per_type["group"],
        "top_conversation": ranking[0][0],
        "top_conversation_messages": ranking[0][1],
        "thread_replies": sum(1 for m in messages if m.get("parentId")),
        "deleted_messages": sum(1 for m in messages if m.get("deletedAt")),
        "unread_backlog": sum(int(c["unreadMessageCount"]) for c in conversations),
        "reactions": sum(len((m.get("data") or {}).get("reactions") or []) for m in messages),
        "conversation_tags": len({tag for c in conversations for tag in c["tags"]}),
        "dry_run_actions": expected_plan(truth, chat, ranking),
        **expected_activity(chat),
        **expected_threads(messages),
        "chat_message_types": dict(sorted(Counter(m["type"] for m in chat).items())),
        "attachments": sum(len((m.get("data") or {}).get("attachments") or []) for m in messages),
    }


def expected_activity(chat: list[dict]) -> dict:
    """Messages per day by conversation type, the busiest sender, and first replies in one-to-one chats."""
    per_day: Counter = Counter(m["sentAt"] // DAY for m in chat)
    busiest_day = min(per_day, key=lambda day: (-per_day[day], day))
    by_type = Counter("one-to-one" if m["receiverType"] == "user" else "group" for m in chat)
    openings: dict[str, dict] = {}
    first_reply: dict[str, int] = {}
    for m in sorted((m for m in chat if m["receiverType"] == "user" and not m.get("parentId")),
                    key=lambda m: (m["conversationId"], m["sentAt"], int(m["id"]))):  # fmt: skip
        opening = openings.setdefault(m["conversationId"], m)
        if m["sender"] != opening["sender"] and m["conversationId"] not in first_reply:
            first_reply[m["conversationId"]] = m["sentAt"] - opening["sentAt"]
    return {
        "chat_messages_by_conversation_type": dict(sorted(by_type.items())),
        "busiest_day": datetime.fromtimestamp(busiest_day * DAY, UTC).strftime("%Y-%m-%d"),
        "busiest_day_messages": per_day[busiest_day],
        "top_sender_messages": max(Counter(m["sender"] for m in chat).values()),
        "answered_one_to_one": len(first_reply),
        "first_reply_median_seconds": round(float(median(first_reply.values())), 1),
    }


def expected_threads(messages: list[dict]) -> dict:
    sent_at = {m["id"]: m["sentAt"] for m in messages}
    replies: dict[str, list[int]] = {}
    for m in messages:
        if m.get("parentId"):
            replies.setdefault(str(m["parentId"]), []).append(m["sentAt"])
    alive = [max(times) - sent_at[parent] for parent, times in replies.items() if parent in sent_at]
    return {
        "threads": len(replies),
        "most_thread_replies": max(len(times) for times in replies.values()),
        "thread_alive_median_seconds": round(float(median(alive)), 1),
    }


def expected_plan(truth: dict, chat: list[dict], ranking: list[tuple[str, int]]) -> dict[str, int]:
    """`dormant` on conversations silent for DORMANT_DAYS before the newest chat message (or never used),
    `vip` on the busiest one-to-one conversations, added for every viewer; a viewer who has them already is
    left unchanged."""
    newest = max(m["sentAt"] for m in chat)
    last_chat: dict[str, int] = {}
    for m in chat:
        last_chat[m["conversationId"]] = max(last_chat.get(m["conversationId"], 0), int(m["sentAt"]))
    one_to_one = {c["conversationId"] for c in truth["conversations"] if c["conversationType"] == "user"}
    vip = [conversation for conversation, _ in ranking if conversation in one_to_one][:VIP_CONVERSATIONS]
    actions: Counter = Counter()
    for c in truth["conversations"]:
        wanted = set()
        last = last_chat.get(c["conversationId"])
        if last is None or last < newest - DORMANT_DAYS * DAY:
            wanted.add("dormant")
        if c["conversationId"] in vip:
            wanted.add("vip")
        if wanted:
            actions["unchanged" if wanted <= set(c["tags"]) else "update"] += 1
    return dict(sorted(actions.items()))


def chart_cells(notebook: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [
        cell
        for cell in notebook.cells
        if cell.cell_type == "code" and any("image/png" in output.get("data", {}) for output in cell.outputs)
    ]


def output_text(cell: nbformat.NotebookNode) -> str:
    parts = []
    for output in cell.outputs:
        parts.append(output.get("text", ""))
        parts.append(output.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def dry_run_cell(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    return next(c for c in notebook.cells if c.cell_type == "code" and "dry_run=True" in c.source)


def test_notebook_runs_from_scratch_and_matches_ground_truth(tmp_path: Path):
    refresh = refresh_module()
    duckdb_path, pipelines_dir, truth = refresh.load_demo(tmp_path)
    key_figures_path = tmp_path / "key_figures.json"

    executed = refresh.execute_notebook(  # raises CellExecutionError if any cell fails
        nbformat.read(NOTEBOOK, as_version=4),
        {
            "DUCKDB_PATH": str(duckdb_path),
            "PIPELINES_DIR": str(pipelines_dir),
            "KEY_FIGURES_PATH": str(key_figures_path),
            "SAVE_IMAGES": False,
        },
    )

    assert json.loads(key_figures_path.read_text()) == expected_key_figures(truth)
    assert len(chart_cells(executed)) == CHART_CELLS
    plan = output_text(dry_run_cell(executed))
    assert "update" in plan and "group_" in plan
    warnings = [o for c in executed.cells for o in c.get("outputs", []) if o.get("name") == "stderr"]
    assert not warnings, warnings


def test_committed_notebook_shows_every_chart_and_a_real_plan():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]

    assert len(chart_cells(notebook)) == CHART_CELLS
    assert not [o for cell in code for o in cell.outputs if o.output_type == "error"]
    assert all(cell.execution_count is not None for cell in code), "committed without running every cell"
    plan = output_text(dry_run_cell(notebook))
    assert "update" in plan and "dormant" in plan and "vip" in plan
    # Volatile metadata stays out of the committed file.
    assert not [cell.metadata["execution"] for cell in notebook.cells if "execution" in cell.metadata]
    assert "version" not in notebook.metadata.get("language_info", {})
    assert "widgets" not in notebook.metadata
    parameters = next(cell for cell in code if "parameters" in cell.metadata.get("tags", []))
    for name in ("PIPELINE_NAME", "DATASET_NAME", "DUCKDB_PATH", "PIPELINES_DIR", "DEMO", "KEY_FIGURES_PATH"):
        assert f"{name} =" in parameters.source
    # The defaults read what `python pipelines/run.py` writes in the repository root.
    assert f'PIPELINE_NAME = "{PIPELINE_NAME}"' in parameters.source
    assert f'DATASET_NAME = "{DATASET_NAME}"' in parameters.source
    assert f'"../{PIPELINE_NAME}.duckdb"' in parameters.source
    assert (NOTEBOOKS / "images" / "messages_per_day.png").stat().st_size > 10_000
