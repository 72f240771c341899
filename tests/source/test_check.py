"""`run.py --check` names every behaviour profile of the emulator on its own line, and only that one."""

import re

import pytest

from pipelines.check import run_check
from sources.cometchat import CometChatClient
from sources.cometchat_emulator.profiles import PROFILES

from .cli import run_cli
from .conftest import emulator_credentials

SMALL = {"messages": 500, "users": 30, "groups": 4, "seed": 3}
# The behaviour line on which each profile shows.
LINE_OF = {
    "unanchored_newest": "first request",
    "anchor_ignores_id": "message anchor",
    "anchor_inclusive": "message anchor",
    "capped_pages": "page size",
    "conversations_without_uid": "conversation list",
    "conversations_shifting": "conversation order",
    "conversation_without_tags": "single conversation",
    "conversation_as_array": "single conversation",
    "edits_without_actions": "edits and deletes",
    "updates_ignored": "late changes",
    "keyed_group_data": "shapes",
    "numeric_ids": "shapes",
}
NOT_PROBED = {
    "tags_put_merges",  # a write; the reverse ETL verifies every PUT instead
    # The loader is exact under every reading of toTimestamp (it drops what lies past the end itself).
    "to_timestamp_exclusive",
    "to_timestamp_ignored",
}


def check(emulator) -> tuple[int, dict[str, str]]:
    lines: list[str] = []
    client = CometChatClient(emulator_credentials(emulator), requests_per_minute=60_000)
    emulator.reset_stats()
    status = run_check(client, lines.append)
    verdicts = {}
    for line in lines:
        match = re.match(r"(.+?)\s+\[([^\]]+)\]", line)
        assert match, line
        verdicts[match.group(1).strip()] = match.group(2)
    return status, verdicts


def named_profiles(verdicts: dict[str, str]) -> dict[str, set[str]]:
    return {
        behaviour: set(verdict.split(",")) & set(PROFILES)
        for behaviour, verdict in verdicts.items()
        if set(verdict.split(",")) & set(PROFILES)
    }


def test_every_profile_is_either_probed_or_said_to_be_unprobed():
    assert set(LINE_OF) | NOT_PROBED == set(PROFILES)


def test_the_documented_behaviour_names_no_profile_in_a_handful_of_requests(emulator):
    status, verdicts = check(emulator)
    assert status == 0
    assert verdicts["credentials"] == "ok"
    assert named_profiles(verdicts) == {}
    assert verdicts["message anchor"] == "documented" and verdicts["single conversation"] == "documented"
    assert verdicts["tag PUT"] == "unknown"
    assert emulator.stats()["total"] <= 12
    assert not emulator.stats()["puts"], "read-only"


@pytest.mark.parametrize("profile", sorted(LINE_OF))
def test_each_profile_is_named_on_its_line_and_nowhere_else(make_emulator, profile):
    extra = ("capped_pages",) if profile == "conversations_shifting" else ()
    emulator = make_emulator(profiles=(profile, *extra), **SMALL)
    status, verdicts = check(emulator)
    assert status == 0
    expected = {LINE_OF[profile]: {profile}}
    if extra:
        expected["page size"] = {"capped_pages"}
    assert named_profiles(verdicts) == expected
    assert not emulator.stats()["puts"], "read-only"


def test_the_cli_prints_the_lines_and_a_wrong_key_exits_2(emulator, tmp_path):
    ok = run_cli(emulator, tmp_path, "--check")
    out, err = ok.communicate(timeout=120)
    assert ok.returncode == 0, err
    assert "[documented]" in out and "credentials" in out
    assert emulator.api_key not in out + err

    for setting, value, code in (
        ("API_KEY", "0" * 40, "AUTH_ERR_APIKEY_NOT_FOUND"),
        ("APP_ID", "otherapp", "AUTH_ERR_INVALID_APPID"),
    ):
        bad = run_cli(
            emulator, tmp_path, "--check", env_extra={f"SOURCES__COMETCHAT__CREDENTIALS__{setting}": value}
        )
        out, err = bad.communicate(timeout=120)
        assert bad.returncode == 2, setting
        assert code in out + err


def test_an_unknown_region_is_unusable(emulator, tmp_path):
    bad = run_cli(
        emulator,
        tmp_path,
        "--check",
        env_extra={
            "SOURCES__COMETCHAT__CREDENTIALS__REGION": "mars",
            "SOURCES__COMETCHAT__CREDENTIALS__BASE_URL": "",
        },
    )
    out, err = bad.communicate(timeout=120)
    assert bad.returncode == 2
    assert "region" in (out + err).lower()
