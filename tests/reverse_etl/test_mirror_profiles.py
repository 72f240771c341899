"""Mirror mode (`managed_prefix`) reads every conversation's tags: exact when the API serves short pages
(`capped_pages`) and when the app-wide list moves while it is read (`conversations_shifting`), or a clear stop."""

import pytest

from pipelines.tag_sync import sync_tags
from sources.cometchat.errors import CometChatError
from sources.cometchat.reverse_etl import apply_tag_changes

from .helpers import changes_frame, client_for, conversation_tables, truth_tags

SMALL = {"messages": 300, "users": 24, "groups": 3, "members_per_group": 5, "seed": 71}
PROFILES = [("capped_pages",), ("conversations_shifting", "capped_pages")]
PREFIX = "auto:"


def stale_everywhere(emulator) -> dict[tuple[str, str], list[str]]:
    """Every conversation gets a stale managed tag next to its hand-set tags; returns the tags it holds."""
    for key, tags in truth_tags(emulator).items():
        emulator.set_conversation_tags(*key, [*tags, f"{PREFIX}stale"])
    return truth_tags(emulator)


def chosen(truth: dict) -> list[tuple[str, str]]:
    """Every third conversation is returned by the 'query': it keeps one managed tag, `auto:keep`."""
    return sorted(truth)[::3]


def expected_after(truth: dict, kept: list[tuple[str, str]]) -> dict[tuple[str, str], list[str]]:
    return {
        key: [tag for tag in tags if not tag.startswith(PREFIX)] + ([f"{PREFIX}keep"] if key in kept else [])
        for key, tags in truth.items()
    }


@pytest.mark.timeout(120)
@pytest.mark.parametrize("profiles", PROFILES, ids="+".join)
def test_mirror_mode_removes_exactly_the_managed_tags_the_rows_no_longer_name(
    profiles, make_emulator, make_pipeline
):
    emulator = make_emulator(profiles=profiles, **SMALL)
    truth = stale_everywhere(emulator)
    kept = chosen(truth)
    assert len(truth) > 3 * 25  # the app-wide list spans several capped pages
    changes = changes_frame([(*key, f"{PREFIX}keep", "set") for key in kept])
    client = client_for(emulator)
    pipeline = make_pipeline()
    emulator.reset_stats()

    # the first read of the app-wide list is the one the shifting profile moves rows under
    results = sync_tags(changes, client, pipeline, managed_prefix=PREFIX, max_workers=2)

    expected = expected_after(truth, kept)
    assert truth_tags(emulator) == expected
    removals = results[results["mode"] == "remove"]
    assert {(r.on_behalf_of, r.conversation_id) for r in removals.itertuples()} == set(truth) - set(kept)
    assert len(results) == len(truth)
    assert set(results["status"]) == {"applied"}
    # hand-set tags are never touched: every PUT carries them
    assert len([put for put in emulator.stats()["puts"] if put["status"] == 200]) == len(truth)
    assert conversation_tables(pipeline) == expected

    emulator.reset_stats()
    again = sync_tags(changes, client, pipeline, managed_prefix=PREFIX, max_workers=2)
    assert emulator.stats()["puts"] == []
    assert len(again) == len(kept) and set(again["status"]) == {"unchanged"}


@pytest.mark.timeout(60)
def test_the_dry_run_shows_every_removal_while_the_list_moves(make_emulator):
    emulator = make_emulator(profiles=PROFILES[1], **SMALL)
    truth = stale_everywhere(emulator)
    kept = chosen(truth)
    changes = changes_frame([(*key, f"{PREFIX}keep", "set") for key in kept])
    emulator.reset_stats()

    plan = apply_tag_changes(changes, client_for(emulator), dry_run=True, managed_prefix=PREFIX)

    assert emulator.stats()["puts"] == []
    expected = expected_after(truth, kept)
    assert {(r.on_behalf_of, r.conversation_id): r.desired_tags for r in plan.itertuples()} == expected
    assert set(plan["status"]) == {"planned"}


def test_a_list_that_keeps_moving_stops_the_run_before_any_put(make_emulator, monkeypatch):
    emulator = make_emulator(profiles=PROFILES[1], **SMALL)
    truth = stale_everywhere(emulator)
    # every pass meets the list moving: as if the app had live traffic on every read
    monkeypatch.setattr("sources.cometchat.reverse_etl.plan.MAX_LIST_PASSES", 1)
    emulator.reset_stats()

    with pytest.raises(CometChatError, match="kept moving while it was read"):
        apply_tag_changes(
            changes_frame([(*sorted(truth)[0], f"{PREFIX}keep", "set")]),
            client_for(emulator),
            managed_prefix=PREFIX,
        )
    assert emulator.stats()["puts"] == []
