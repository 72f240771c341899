"""A 429 storm and 5xx/reset faults while planning and applying: the tags still end exactly as asked."""

from collections import Counter

import pytest

from sources.cometchat.reverse_etl import apply_tag_changes

from .helpers import changes_frame, client_for, successful_puts, truth_tags

ROWS = 30


def changes_for(truth: dict) -> tuple[list[tuple], dict]:
    keys = sorted(truth)[:ROWS]
    rows = [(*key, f"storm-{n % 4};checked", "set") for n, key in enumerate(keys)]
    expected = dict(truth)
    expected.update({key: [f"storm-{n % 4}", "checked"] for n, key in enumerate(keys)})
    return rows, expected


@pytest.mark.timeout(120)
def test_a_429_storm_ends_exact_without_a_repeated_put(make_emulator, tmp_path):
    emulator = make_emulator(seed=21)
    rows, expected = changes_for(truth_tags(emulator))
    emulator.reset_stats()
    emulator.configure(fault_rate=0.2, fault_kinds=["429"])
    client = client_for(emulator)

    results = apply_tag_changes(changes_frame(rows), client)

    emulator.configure(fault_rate=0.0)
    stats = emulator.stats()
    assert stats["by_status"].get("429", 0) > 0
    assert client.stats.retries >= stats["by_status"]["429"]
    assert set(results["status"]) == {"applied"}
    assert truth_tags(emulator) == expected
    # a 429 is answered before the request is processed, so every conversation got exactly one PUT
    per_key = Counter((put["on_behalf_of"], put["path"]) for put in successful_puts(emulator))
    assert len(per_key) == ROWS and set(per_key.values()) == {1}


@pytest.mark.timeout(120)
def test_5xx_resets_and_truncated_answers_end_exact(make_emulator, tmp_path):
    emulator = make_emulator(seed=22)
    rows, expected = changes_for(truth_tags(emulator))
    emulator.reset_stats()
    emulator.configure(fault_rate=0.3, fault_kinds=["500", "502", "503", "reset", "truncate"])
    client = client_for(emulator)

    results = apply_tag_changes(changes_frame(rows), client)

    emulator.configure(fault_rate=0.0)
    assert sum(emulator.stats()["faults"].values()) > 0 and client.stats.retries > 0
    assert set(results["status"]) == {"applied"}
    assert truth_tags(emulator) == expected
    # a retried PUT (after a truncated answer) repeats the same full list, which is harmless
    for put in successful_puts(emulator):
        assert put["body"]["tags"] in ([f"storm-{n}", "checked"] for n in range(4))
