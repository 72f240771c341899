"""Exact under every behaviour profile of the emulator: a full load, then changes of every kind (new messages in
one second across pages, an edit, a delete, a later reaction and reply, a tag, deletions of a user, a group,
a membership and a conversation), then an incremental load; both equal the ground truth."""

import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

from sources.cometchat_emulator.profiles import PROFILES

from .changes import change_everything
from .conftest import load_from
from .matching import assert_matches_ground_truth

SMALL = {"messages": 500, "users": 30, "groups": 4, "members_per_group": 5, "seed": 3}
COMBINED = (
    "unanchored_newest",
    "anchor_ignores_id",
    "capped_pages",
    "conversations_without_uid",
    "edits_without_actions",
    "keyed_group_data",
    "numeric_ids",
    "to_timestamp_ignored",
)
# toTimestamp matters only where windows are read: these two run within the combinations below.
ALONE = {"conversations_shifting", "to_timestamp_exclusive", "to_timestamp_ignored"}
CASES = [
    (),
    *((name,) for name in PROFILES if name not in ALONE),
    # Rows only move between pages when there are several pages.
    ("conversations_shifting", "capped_pages"),
    COMBINED,
    (
        "anchor_inclusive",
        "capped_pages",
        "conversations_shifting",
        "tags_put_merges",
        "to_timestamp_exclusive",
    ),
]


@pytest.mark.parametrize("profiles", CASES, ids=lambda profiles: "+".join(profiles) or "default")
def test_full_then_incremental_load_is_exact(make_emulator, make_pipeline, monkeypatch, profiles):
    if "updates_ignored" in profiles:  # the updates pass cannot work: re-read the whole (short) history
        monkeypatch.setenv("SOURCES__COMETCHAT__LATE_CHANGES", "lookback")
        monkeypatch.setenv("SOURCES__COMETCHAT__MESSAGE_LOOKBACK_SECONDS", str(60 * 86_400))
    emulator = make_emulator(profiles=profiles, **SMALL)
    pipeline = make_pipeline()

    load_from(emulator, pipeline)
    if "conversations_shifting" not in profiles:  # its moves add messages while the first run reads
        assert_matches_ground_truth(pipeline, emulator.ground_truth())

    before = emulator.ground_truth(messages=False)
    change_everything(emulator)
    load_from(emulator, pipeline)

    after = emulator.ground_truth()
    assert len(after["users"]) == len(before["users"]) - 1
    assert len(after["groups"]) == len(before["groups"]) - 1
    assert_matches_ground_truth(pipeline, after)


def test_more_than_a_page_in_one_second_with_an_ignored_id_stops_with_a_clear_error(
    make_emulator, make_pipeline
):
    emulator = make_emulator(profiles=("anchor_ignores_id", "capped_pages"), **SMALL)
    newest = emulator.ground_truth()["messages"][-1]["sentAt"]
    emulator.add_messages(60, sent_at=newest + 1)
    pipeline = make_pipeline()
    with pytest.raises(PipelineStepFailed, match="ignores the id anchor and more than a page of messages"):
        load_from(emulator, pipeline)


def test_an_api_that_ignores_updated_at_stops_the_updates_pass_with_a_clear_error(
    make_emulator, make_pipeline
):
    emulator = make_emulator(profiles=("updates_ignored",), **SMALL)
    pipeline = make_pipeline()
    load_from(emulator, pipeline)
    emulator.add_messages(1)
    with pytest.raises(PipelineStepFailed, match="the API ignores updatedAt; set late_changes to 'lookback'"):
        load_from(emulator, pipeline)
