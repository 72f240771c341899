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


class LostPutAnswers:
    """Cuts short every answer to a PUT (the PUT itself is processed), and nothing else."""

    def __init__(self, client, emulator) -> None:
        self.client, self.emulator = client, emulator

    def __getattr__(self, name):
        return getattr(self.client, name)

    def put(self, *args, **kwargs):
        self.emulator.configure(fault_rate=1.0, fault_kinds=["truncate"])
        try:
            return self.client.put(*args, **kwargs)
        finally:
            self.emulator.configure(fault_rate=0.0)


@pytest.mark.timeout(120)
def test_a_put_whose_answers_are_all_lost_is_settled_by_reading_the_conversation(make_emulator):
    emulator = make_emulator(seed=23)
    truth = truth_tags(emulator)
    keys = sorted(truth)[:3]
    rows = [(*key, f"lost-{n}", "set") for n, key in enumerate(keys)]
    emulator.reset_stats()
    client = LostPutAnswers(client_for(emulator, max_attempts=2), emulator)

    results = apply_tag_changes(changes_frame(rows), client, max_workers=1)

    assert list(results["status"]) == ["applied"] * 3 and set(results["error"]) == {""}
    assert all(truth_tags(emulator)[key] == [f"lost-{n}"] for n, key in enumerate(keys))
    # the client sent each PUT again after its lost answer (the only repeat), and the run counts it
    per_key = Counter((put["on_behalf_of"], put["path"]) for put in emulator.stats()["puts"])
    assert sorted(per_key.values()) == [2, 2, 2]
    assert results.attrs["put_retries"] == 3 and results.attrs["puts_sent"] == 3
    reads = [
        r
        for r in emulator.stats()["requests"]
        if r["method"] == "GET" and r["route"].endswith("/conversation")
    ]
    assert sum(r["count"] for r in reads) == 3
