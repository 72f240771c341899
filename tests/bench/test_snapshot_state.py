"""The state benchmark at tiny sizes: a conversation-rich app loads exactly, and its state does not grow with it.

The sizes are chosen so that every count kept in the state (rows of each snapshot table, the cursor's message
id) has as many digits at both sizes: then nothing that grows with the rows may change the state's size.
"""

import pytest

from pipelines.bench.snapshot_state import check_conversations, emulator_config, worker

SAME_SIZE = ("state file bytes (state.json, local)", "state bytes (JSON, as dlt encodes it)")
# The stored row is compressed (random digests compress a few bytes better or worse) and carries the load's
# timestamps as text: within a few dozen bytes, not the same to the byte.
ABOUT_THE_SAME_SIZE = (
    "_dlt_pipeline_state: newest row bytes",
    "_dlt_pipeline_state: its state column bytes (compressed)",
)


def load(make_emulator, tmp_path, monkeypatch, users: int, per_user: int, messages: int) -> tuple[dict, dict]:
    emulator = make_emulator(
        seed=1,
        users=users,
        conversations_per_user=per_user,
        messages=messages,
        groups=3,
        members_per_group=20,
    )
    monkeypatch.setenv("COMETCHAT_BENCH_API_KEY", emulator.api_key)
    workdir = tmp_path / f"{users}x{per_user}"
    workdir.mkdir()
    figures = worker(emulator.base_url, emulator.app_id, str(workdir))
    rows = check_conversations(emulator.ground_truth(messages=False), workdir / "bench.duckdb", users)
    return figures, rows


def test_every_user_gets_its_conversations_and_the_state_stays_the_same_size(
    make_emulator, tmp_path, monkeypatch
):
    small, small_rows = load(make_emulator, tmp_path, monkeypatch, users=30, per_user=4, messages=500)
    large, large_rows = load(make_emulator, tmp_path, monkeypatch, users=90, per_user=10, messages=900)
    for users, per_user, rows, figures in ((30, 4, small_rows, small), (90, 10, large_rows, large)):
        assert rows["user_conversations"]["exact"] and rows["group_conversations"]["exact"]
        assert rows["user_conversations"]["loaded"] == users * per_user
        assert rows["user_conversations per viewer"] == {
            "viewers": users, "of users": users, "fewest": per_user, "most": per_user
        }  # fmt: skip
        assert figures["rows loaded"]["user_conversations"] == users * per_user
    assert small["resource state"].keys() == large["resource state"].keys()
    for figure in SAME_SIZE:
        assert small[figure] == large[figure], figure
    for figure in ABOUT_THE_SAME_SIZE:
        assert abs(small[figure] - large[figure]) <= 32, figure
    assert small["state bytes (JSON, as dlt encodes it)"] < 2_000


def test_the_default_messages_are_the_fewest_that_open_every_conversation():
    config = emulator_config(users=50, conversations_per_user=3, pairs=None, messages=None, groups=2)
    assert config.effective_user_conversations == 50 * 3 // 2
    assert config.top_level_messages() >= config.effective_user_conversations
    with pytest.raises(ValueError, match="messages must be at least"):
        emulator_config(
            users=50, conversations_per_user=3, pairs=None, messages=config.messages - 1, groups=2
        )
