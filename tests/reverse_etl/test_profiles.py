"""Tag exactness under every plausible reading of the single-conversation endpoints (emulator profiles):
answers without `tags`, answers as one-element arrays, and a PUT that merges instead of replacing."""

import pytest

from pipelines.tag_sync import sync_tags

from .helpers import changes_frame, client_for, conversation_tables, successful_puts, truth_tags

PROFILES = [
    (),
    ("conversation_without_tags", "conversation_as_array"),
    ("tags_put_merges",),
    ("tags_put_merges", "conversation_without_tags", "conversations_without_uid"),
]


def changes_for(truth: dict) -> list[tuple]:
    """Replacements (which a merging PUT gets wrong), additions (which it gets right) and a clear."""
    tagged = [key for key in sorted(truth) if truth[key]]
    untagged = [key for key in sorted(truth) if not truth[key]]
    rows = [(*key, "fresh;list", "set") for key in tagged[:4]]  # drops the old tags
    rows += [(*key, f"added-{n}", "add") for n, key in enumerate(tagged[4:8])]  # keeps them, appends
    rows += [(*key, "new;tags", "set") for key in untagged[:4]]  # nothing to keep: a merge is a replace
    rows.append((*tagged[8], "", "set"))  # clear
    return rows


def desired(current: list[str], cell: str, mode: str) -> list[str]:
    tags = [t for t in cell.split(";") if t]
    return current + [t for t in tags if t not in current] if mode == "add" else tags


def merged(current: list[str], sent: list[str]) -> list[str]:
    return current + [t for t in sent if t not in current]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("profiles", PROFILES, ids=lambda p: "+".join(p) or "default")
def test_tags_end_exactly_as_asked_or_the_row_says_why_not(profiles, make_emulator, make_pipeline):
    emulator = make_emulator(seed=61, profiles=profiles)
    truth = truth_tags(emulator)
    rows = changes_for(truth)
    client = client_for(emulator)
    pipeline = make_pipeline()
    emulator.reset_stats()

    results = sync_tags(changes_frame(rows), client, pipeline, max_workers=2)

    merging = "tags_put_merges" in profiles
    held = truth_tags(emulator)
    for result, (viewer, cid, cell, mode) in zip(results.itertuples(), rows, strict=True):
        want = desired(truth[(viewer, cid)], cell, mode)
        assert result.current_tags == truth[(viewer, cid)]
        assert result.desired_tags == want
        stored = merged(truth[(viewer, cid)], want) if merging else want
        assert held[(viewer, cid)] == stored
        if stored == want:
            assert (result.status, result.error) == ("applied", ""), result
        else:
            # the API kept tags it was told to drop: failed, with what it holds and why
            assert result.status == "failed"
            assert "merged into the old list instead of replacing it" in result.error
            assert str(stored) in result.error
    assert len(successful_puts(emulator)) == len(rows)
    assert (results["status"] == "failed").sum() == (5 if merging else 0)
    # the audit says the same, and the loaded tables show what the API holds
    audit = pipeline.dataset()["tag_changes"].df().sort_values("position")
    assert list(audit["status"]) == list(results["status"])
    assert conversation_tables(pipeline) == held

    # the same changes again: what was applied is unchanged; what the API merged is tried again
    emulator.reset_stats()
    again = sync_tags(changes_frame(rows), client, pipeline, max_workers=2)
    assert len(emulator.stats()["puts"]) == (5 if merging else 0)
    assert list(again["status"] == "unchanged") == list(results["status"] == "applied")
