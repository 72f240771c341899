"""The write-ahead journal and how a killed run's rows become its audit rows, without HTTP."""

import orjson

from sources.cometchat.reverse_etl import journal
from sources.cometchat.reverse_etl.changes import ConversationRef
from sources.cometchat.reverse_etl.journal import Journal, leftover_journals
from sources.cometchat.reverse_etl.plan import Current, Unavailable
from sources.cometchat.reverse_etl.results import (
    NOT_ANSWERED,
    NOT_PLANNED,
    NOT_SENT,
    journal_records,
    unanswered,
)

AT = "2026-01-01T00:00:00+00:00"
INPUTS = [
    [2, "alice", "group_team", "set"],
    [3, "bob", "group_team", "set"],
    [4, "carol", "group_team", "set"],
]
INPUTS += [[5, "dave", "group_team", "set"], [6, "erin", "group_team", "add"], [7, "x", "nonsense", "set"]]
PLAN_ROWS = [
    [2, "alice", "group_team", "set", ["old"], ["a"], "update", ""],
    [3, "bob", "group_team", "set", ["old"], ["b"], "update", ""],
    [4, "carol", "group_team", "set", ["old"], ["c"], "update", ""],
    [5, "dave", "group_team", "set", ["old"], ["d"], "update", ""],
    [6, "erin", "group_team", "add", ["e"], ["e"], "unchanged", ""],
    [7, "x", "nonsense", "set", [], [], "rejected", "unparsable conversation_id"],
]
UPDATES = [[viewer, "group", "team", "group_team", [tag], [n]] for n, (viewer, tag) in enumerate(
    [("alice", "a"), ("bob", "b"), ("carol", "c"), ("dave", "d")], start=1
)]  # fmt: skip
TEAM = ConversationRef("group", "group_team", "team")


def test_a_run_killed_while_planning_records_every_input_row_as_failed_and_unsent(tmp_path):
    killed = Journal(tmp_path, "run-1")
    killed.start(INPUTS, AT)
    killed.close()
    (tmp_path / "run-0.tmp").write_text("half")  # died before its journal was in place

    [run] = leftover_journals(tmp_path)
    assert unanswered(run) == []
    records = journal_records(run, {})
    assert [(r["position"], r["row"], r["viewer_uid"], r["status"], r["error"]) for r in records] == [
        (n, row, viewer, "failed", NOT_PLANNED) for n, (row, viewer, _, _) in enumerate(INPUTS, start=1)
    ]
    assert not (tmp_path / "run-0.tmp").exists()


def test_a_run_killed_while_sending_gets_each_rows_outcome_once(tmp_path):
    killed = Journal(tmp_path, "run-1")
    killed.start(INPUTS, AT)
    killed.planned(PLAN_ROWS, UPDATES, AT)
    killed.sending(0)
    killed.answered(0, "applied", "", "2026-01-01T00:00:01+00:00")
    killed.sending(1)
    killed.answered(1, "failed", "ERR_BAD_REQUEST: no", "2026-01-01T00:00:02+00:00")
    killed.sending(2)  # in flight when the run died, and the API applied it
    # update 3 (dave) was never sent
    killed._write({"event": "answ"})  # cut short by the kill
    killed.close()

    [run] = leftover_journals(tmp_path)
    assert unanswered(run) == [("carol", "group", "team", "group_team")]
    records = journal_records(run, {("carol", "group_team"): Current(["c"], TEAM)})
    assert [(r["position"], r["viewer_uid"], r["status"], r["error"]) for r in records] == [
        (1, "alice", "applied", None),
        (2, "bob", "failed", "ERR_BAD_REQUEST: no"),
        (3, "carol", "applied", None),
        (4, "dave", "failed", NOT_SENT),
        (5, "erin", "unchanged", None),
        (6, "x", "rejected", "unparsable conversation_id"),
    ]
    assert records[0]["changed_at"].isoformat() == "2026-01-01T00:00:01+00:00"
    assert records[3]["changed_at"].isoformat() == AT
    assert all(r["run_id"] == "run-1" for r in records)

    # the PUT in flight did not land, or its conversation cannot be read: failed
    for state in (Current(["old"], TEAM), Unavailable("gone")):
        assert journal_records(run, {("carol", "group_team"): state})[2]["error"] == NOT_ANSWERED


def test_no_journal_directory_means_no_leftovers(tmp_path):
    assert leftover_journals(tmp_path / "missing") == []


def test_inputs_plan_rows_and_updates_are_written_in_chunks_and_read_back_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(journal, "CHUNK", 4)  # 6 rows and 4 updates: a full chunk and a short one each
    run_journal = Journal(tmp_path, "run-1")
    run_journal.start(iter(INPUTS), AT)
    run_journal.planned(iter(PLAN_ROWS), iter(UPDATES), AT)
    run_journal.close()

    events = [orjson.loads(line)["event"] for line in run_journal.path.read_bytes().splitlines()]
    assert events == ["inputs", "input_rows", "input_rows", "plan_rows", "plan_rows", "plan_updates", "plan"]
    [run] = leftover_journals(tmp_path)
    assert run.inputs == INPUTS
    assert run.plan == {"rows": PLAN_ROWS, "updates": UPDATES, "at": AT}


def test_a_journal_of_the_older_format_with_everything_in_one_line_still_reads(tmp_path):
    lines = [
        {"event": "inputs", "run_id": "run-1", "at": AT, "rows": INPUTS},
        {"event": "plan_rows", "rows": PLAN_ROWS},
        {"event": "plan", "at": AT, "updates": UPDATES},
        {"event": "sending", "u": 0},
    ]
    (tmp_path / "run-1.jsonl").write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))

    [run] = leftover_journals(tmp_path)
    assert run.inputs == INPUTS
    assert run.plan == {"rows": PLAN_ROWS, "updates": UPDATES, "at": AT}
    assert unanswered(run) == [("alice", "group", "team", "group_team")]


def test_a_plan_cut_short_before_its_last_line_counts_as_no_plan(tmp_path, monkeypatch):
    monkeypatch.setattr(journal, "CHUNK", 2)
    killed = Journal(tmp_path, "run-1")
    killed.start(INPUTS, AT)
    killed.planned(PLAN_ROWS, UPDATES, AT)
    killed.close()
    lines = killed.path.read_bytes().splitlines(keepends=True)
    killed.path.write_bytes(b"".join(lines[:-1]))  # killed before the plan line: no PUT went out

    [run] = leftover_journals(tmp_path)
    assert run.plan is None
    assert [r["status"] for r in journal_records(run, {})] == ["failed"] * len(INPUTS)
