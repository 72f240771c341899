"""apply_tag_changes against the emulator over HTTP: exact tags, idempotence, dry run, audit and refresh."""

import json
import threading

import pytest

from pipelines.loading import run_load
from pipelines.tag_sync import sync_tags
from sources.cometchat import reverse_etl
from sources.cometchat.reverse_etl import apply_tag_changes
from sources.cometchat.reverse_etl.plan import APP_WIDE_MIN_VIEWERS

from .helpers import changes_frame, client_for, conversation_tables, put_path, successful_puts, truth_tags

SEED = 11


def pick_changes(truth: dict) -> list[tuple]:
    """A mix of every mode over real conversations, with one key changed by two rows and one no-op."""
    keys = sorted(truth)
    tagged = [key for key in keys if truth[key]]
    untagged = [key for key in keys if not truth[key]]
    rows: list[tuple] = []
    for n, (viewer, cid) in enumerate(untagged[:12]):
        rows.append((viewer, cid, f"wave-{n % 3};vip", "set"))
    rows.append((*untagged[12], '["renewal;q3", " spaced "]', "set"))
    add, remove, clear, same, both = tagged[:5], tagged[5:10], tagged[10:13], tagged[13:15], tagged[15]
    rows += [(viewer, cid, "added;" + truth[(viewer, cid)][0], "add") for viewer, cid in add]
    rows += [(viewer, cid, truth[(viewer, cid)][0], "remove") for viewer, cid in remove]
    rows += [(viewer, cid, "", "set") for viewer, cid in clear]
    rows += [(viewer, cid, ";".join(truth[(viewer, cid)]), "") for viewer, cid in same]
    rows += [(*both, "extra", "add"), (*both, truth[both][0], "remove")]
    rows.append(rows[0])  # an identical duplicate merges
    return rows


def expected_tags(truth: dict, rows: list[tuple]) -> dict:
    expected = {key: list(tags) for key, tags in truth.items()}
    applied = set()
    for viewer, cid, cell, mode in rows:
        if (viewer, cid, cell, mode) in applied:
            continue
        applied.add((viewer, cid, cell, mode))
        tags = ["renewal;q3", "spaced"] if cell.startswith("[") else [t for t in cell.split(";") if t]
        current = expected[(viewer, cid)]
        if mode == "add":
            expected[(viewer, cid)] = current + [t for t in tags if t not in current]
        elif mode == "remove":
            expected[(viewer, cid)] = [t for t in current if t not in tags]
        else:
            expected[(viewer, cid)] = list(dict.fromkeys(tags))
    return expected


def test_tags_end_exactly_as_asked_then_a_rerun_sends_nothing(make_emulator, make_pipeline):
    emulator = make_emulator(seed=SEED)
    client = client_for(emulator)
    pipeline = make_pipeline()
    run_load(pipeline, client, resources=["user_conversations", "group_conversations"])
    truth = truth_tags(emulator)
    rows = pick_changes(truth)
    expected = expected_tags(truth, rows)
    changed = {key for key in expected if expected[key] != truth[key]}
    emulator.reset_stats()

    results = sync_tags(changes_frame(rows), client, pipeline)

    assert truth_tags(emulator) == expected
    puts = successful_puts(emulator)
    assert len(emulator.stats()["puts"]) == len(puts) == len(changed) == results.attrs["puts_sent"]
    assert sorted((p["on_behalf_of"], p["path"], tuple(p["body"]["tags"])) for p in puts) == sorted(
        (viewer, put_path(viewer, cid), tuple(expected[(viewer, cid)])) for viewer, cid in changed
    )
    assert list(results["row"]) == list(range(1, len(rows) + 1))
    assert results["status"].value_counts().to_dict() == {"applied": len(rows) - 2, "unchanged": 2}
    for result, (viewer, cid, _, _) in zip(results.itertuples(), rows, strict=True):
        assert (result.on_behalf_of, result.conversation_id) == (viewer, cid)
        assert result.current_tags == truth[(viewer, cid)]
        assert result.desired_tags == expected[(viewer, cid)]
        assert result.action == ("update" if (viewer, cid) in changed else "unchanged")
        assert result.error == ""

    # the audit and the refreshed conversation tables agree with the API
    assert conversation_tables(pipeline) == expected
    audit = pipeline.dataset()["tag_changes"].df()
    assert len(audit) == len(rows) and audit["run_id"].nunique() == 1
    assert audit["run_id"].iloc[0] == results.attrs["run_id"]
    by_row = audit.set_index("row")
    for result in results.itertuples():
        logged = by_row.loc[result.row]
        assert (logged.viewer_uid, logged.conversation_id, logged.status) == (
            result.on_behalf_of,
            result.conversation_id,
            result.status,
        )
        assert (json.loads(logged.old_tags), json.loads(logged.new_tags)) == (
            result.current_tags,
            result.desired_tags,
        )

    # the same changes again: no PUT, every row unchanged
    emulator.reset_stats()
    again = sync_tags(changes_frame(rows), client, pipeline)
    stats = emulator.stats()
    assert stats["puts"] == [] and again.attrs["puts_sent"] == 0
    assert set(again["status"]) == {"unchanged"}
    listings = sum(
        r["count"] for r in stats["requests"] if r["route"] == "/conversations" and r["method"] == "GET"
    )
    viewers = {row[0] for row in rows}
    assert len(viewers) >= APP_WIDE_MIN_VIEWERS
    # the plan reads the app-wide list (one page holds this small app) instead of one list per viewer;
    # nothing was sent, so nothing is refreshed
    assert listings == 1
    assert truth_tags(emulator) == expected
    assert conversation_tables(pipeline) == expected
    audit = pipeline.dataset()["tag_changes"].df()
    assert len(audit) == 2 * len(rows)
    assert set(audit[audit["run_id"] == again.attrs["run_id"]]["status"]) == {"unchanged"}


def test_dry_run_shows_the_plan_and_sends_nothing(make_emulator, make_pipeline, tmp_path):
    emulator = make_emulator(seed=SEED)
    client = client_for(emulator)
    truth = truth_tags(emulator)
    rows = pick_changes(truth)
    expected = expected_tags(truth, rows)
    emulator.reset_stats()
    pipeline = make_pipeline()

    plan = sync_tags(changes_frame(rows), client, pipeline, dry_run=True)

    assert emulator.stats()["puts"] == []
    assert {r["method"] for r in emulator.stats()["requests"]} == {"GET"}
    assert truth_tags(emulator) == truth
    assert plan.attrs["dry_run"] and plan.attrs["puts_sent"] == 0
    for result, (viewer, cid, _, _) in zip(plan.itertuples(), rows, strict=True):
        changed = expected[(viewer, cid)] != truth[(viewer, cid)]
        assert result.current_tags == truth[(viewer, cid)]
        assert result.desired_tags == expected[(viewer, cid)]
        assert (result.action, result.status) == (
            ("update", "planned") if changed else ("unchanged", "unchanged")
        )
    # nothing was loaded either
    assert not list(tmp_path.glob("*.duckdb"))


def test_each_kind_of_bad_row_is_rejected_while_good_rows_apply(make_emulator, make_pipeline):
    emulator = make_emulator(seed=SEED)
    truth_data = emulator.ground_truth(messages=False)
    truth = truth_tags(emulator)
    uids = sorted(u["uid"] for u in truth_data["users"])
    pairs = {cid for _, cid in truth if "_user_" in cid}
    stranger_a, stranger_b = next(
        (a, b) for a in uids for b in uids if a < b and f"{a}_user_{b}" not in pairs
    )
    some_pair = sorted(pairs)[0]
    outsider = next(u for u in uids if u not in some_pair.split("_user_"))
    members = {(m["guid"], m["uid"]) for m in truth_data["members"]}
    guid = truth_data["groups"][0]["guid"]
    non_member = next(u for u in uids if (guid, u) not in members)
    keys = sorted(truth)
    tagged = next(key for key in keys if len(truth[key]) >= 2)
    good = [key for key in keys if key != tagged][:6]
    contradicted_set, contradicted_add = good[4], good[5]
    good = good[:4]

    rows = [
        (*good[0], "fine;ok", "set"),
        ("", good[1][1], "x", "set"),
        (good[1][0], "", "x", "set"),
        (good[1][0], "hello-world", "x", "set"),
        (outsider, some_pair, "x", "set"),
        (stranger_a, f"{stranger_a}_user_{stranger_b}", "x", "set"),
        (non_member, f"group_{guid}", "x", "set"),
        ("nobody-at-all", f"group_{guid}", "x", "set"),
        (good[1][0], "group_no-such-group", "x", "set"),
        (*tagged, ";".join(f"n{n}" for n in range(24)), "add"),
        (*good[1], "ok;" + "x" * 101, "set"),
        (*good[2], "ok;;fine", "set"),
        (*contradicted_set, "a", "set"),
        (*contradicted_set, "b", "add"),
        (*contradicted_add, "a", "add"),
        (*contradicted_add, "a", "remove"),
        (*good[2], "x", "merge"),
        (*good[3], '["unclosed', "set"),
        (*good[1], "good-after-all", "set"),
        (*good[3], "tail", "add"),
    ]
    emulator.reset_stats()
    results = sync_tags(changes_frame(rows), client_for(emulator), make_pipeline())

    reasons = [
        "",
        "missing value: on_behalf_of",
        "missing value: conversation_id",
        "unparsable conversation_id",
        f"{outsider} is not a participant of the user conversation {some_pair}",
        f"{stranger_a} is not a participant of {stranger_a}_user_{stranger_b} (ERR_CONVERSATION_NOT_ACCESSIBLE)",
        f"{non_member} is not a participant of group_{guid} (ERR_CONVERSATION_NOT_ACCESSIBLE)",
        "ERR_UID_NOT_FOUND",
        "ERR_GUID_NOT_FOUND",
        f"the final list would hold {len(truth[tagged]) + 24} tags",
        "tag 2 has 101 characters",
        "tag 2 is blank",
        "a set row must be the only change",
        "a set row must be the only change",
        "both add and remove 'a'",
        "both add and remove 'a'",
        "unknown mode 'merge'",
        "not a JSON array",
        "",
        "",
    ]
    statuses = ["applied"] + ["rejected"] * 17 + ["applied", "applied"]
    assert list(results["status"]) == statuses
    for result, reason in zip(results.itertuples(), reasons, strict=True):
        assert reason in result.error, (result.row, result.error)
        assert bool(result.error) == bool(reason)
    expected = dict(truth)
    expected[good[0]] = ["fine", "ok"]
    expected[good[1]] = ["good-after-all"]
    expected[good[3]] = [*truth[good[3]], "tail"] if "tail" not in truth[good[3]] else truth[good[3]]
    assert truth_tags(emulator) == expected
    assert len(successful_puts(emulator)) == len(emulator.stats()["puts"]) == 3


class FailingPuts:
    """Turns every PUT into a 503 from the first PUT on, so the plan is read but no PUT succeeds."""

    def __init__(self, client, emulator) -> None:
        self.client, self.emulator, self.armed = client, emulator, False
        self.arming = threading.Lock()  # a second worker's PUT must not slip out before the fault is on

    def __getattr__(self, name):
        return getattr(self.client, name)

    def put(self, *args, **kwargs):
        with self.arming:
            if not self.armed:
                self.emulator.configure(fault_rate=1.0, fault_kinds=["503"])
                self.armed = True
        return self.client.put(*args, **kwargs)


@pytest.mark.timeout(120)
def test_a_put_the_api_keeps_refusing_is_failed_with_its_code_and_the_rerun_applies_it(
    make_emulator, make_pipeline
):
    emulator = make_emulator(seed=SEED)
    truth = truth_tags(emulator)
    keys = sorted(truth)[:3]
    rows = [(*key, "retry-me", "set") for key in keys]
    pipeline = make_pipeline()
    client = FailingPuts(client_for(emulator, max_attempts=2), emulator)

    results = sync_tags(changes_frame(rows), client, pipeline, max_workers=2)

    emulator.configure(fault_rate=0.0)
    assert set(results["status"]) == {"failed"}
    assert all(error.startswith("ERR_SERVICE_UNAVAILABLE: ") for error in results["error"])
    assert truth_tags(emulator) == truth
    audit = pipeline.dataset()["tag_changes"].df()
    assert set(audit["status"]) == {"failed"} and len(audit) == 3

    again = sync_tags(changes_frame(rows), client_for(emulator), pipeline)
    assert set(again["status"]) == {"applied"}
    assert all(truth_tags(emulator)[key] == ["retry-me"] for key in keys)
    # a dataset never loaded before: the refresh creates the conversation tables, tags nested as the loader does
    assert conversation_tables(pipeline) == truth_tags(emulator)


def test_the_puts_run_as_concurrently_as_the_client_allows(make_emulator, monkeypatch, tmp_path):
    emulator = make_emulator(seed=SEED)
    rows = [(*key, "wide", "set") for key in sorted(truth_tags(emulator))[:4]]
    widths = []
    real_send = reverse_etl.send_updates

    def spy(client, updates, max_workers, journal=None):
        widths.append(max_workers)
        return real_send(client, updates, max_workers, journal)

    monkeypatch.setattr(reverse_etl, "send_updates", spy)
    apply_tag_changes(changes_frame(rows), client_for(emulator, max_workers=9))
    apply_tag_changes(changes_frame(rows), client_for(emulator, max_workers=9), max_workers=3)

    assert widths == [9, 3]
