"""The write-ahead journal of PUTs and how an interrupted run's PUTs reach the audit, without HTTP."""

from sources.cometchat.reverse_etl.audit import journal_records, unanswered
from sources.cometchat.reverse_etl.changes import ConversationRef
from sources.cometchat.reverse_etl.journal import Journal
from sources.cometchat.reverse_etl.plan import Current, Unavailable

TEAM = ConversationRef("group", "group_team", "team")


def put(viewer: str, new_tags: list[str], ref: ConversationRef = TEAM) -> dict:
    return {
        "viewer_uid": viewer,
        "conversation_type": ref.conversation_type,
        "target": ref.target,
        "conversation_id": ref.conversation_id,
        "old_tags": ["old"],
        "new_tags": new_tags,
        "rows": [{"row": 2, "mode": "set"}, {"row": 5, "mode": "set"}],
        "sent_at": "2026-01-01T00:00:00+00:00",
    }


def test_an_interrupted_runs_puts_are_settled_and_audited(tmp_path):
    killed = Journal(tmp_path, "run-1")
    killed.sending(0, put("alice", ["a"]))
    killed.answered(0, "applied", "", "2026-01-01T00:00:01+00:00")
    killed.sending(1, put("bob", ["b"]))
    killed.answered(1, "failed", "ERR_EXCEPTION: boom", "2026-01-01T00:00:02+00:00")
    killed.sending(2, put("carol", ["c"]))  # in flight when the run died, and the API applied it
    killed.sending(3, put("dave", ["d"]))  # in flight, never processed
    killed.sending(4, put("erin", ["e"]))  # in flight; the conversation cannot be read any more
    with killed.path.open("a") as file:
        file.write('{"run_id": "run-1", "event": "answ')  # cut short by the kill

    current = Journal(tmp_path, "run-2")
    leftovers = current.leftovers()
    assert list(leftovers) == [killed.path]
    assert [(viewer, ref) for viewer, ref in unanswered(leftovers)] == [
        ("carol", TEAM),
        ("dave", TEAM),
        ("erin", TEAM),
    ]

    live = {
        ("carol", "group_team"): Current(["c"], TEAM),
        ("dave", "group_team"): Current(["old"], TEAM),
        ("erin", "group_team"): Unavailable("gone"),
    }
    records = journal_records(leftovers, live)
    assert [(r["viewer_uid"], r["row"], r["status"]) for r in records] == [
        (viewer, row, status)
        for viewer, status in [
            ("alice", "applied"),
            ("bob", "failed"),
            ("carol", "applied"),
            ("dave", "failed"),
            ("erin", "failed"),
        ]
        for row in (2, 5)
    ]
    assert records[2]["error"] == "ERR_EXCEPTION: boom"
    assert records[6]["error"].startswith("the run was interrupted before the API answered")
    assert all(r["run_id"] == "run-1" and r["old_tags"] == ["old"] for r in records)
    assert records[0]["changed_at"].isoformat() == "2026-01-01T00:00:01+00:00"
    assert records[4]["changed_at"].isoformat() == "2026-01-01T00:00:00+00:00"

    current.sending(0, put("zed", ["z"]))
    current.discard(list(leftovers))
    assert list(tmp_path.iterdir()) == []


def test_no_journal_directory_means_no_leftovers(tmp_path):
    assert Journal(tmp_path / "missing", "run").leftovers() == {}
    assert journal_records({}, {}) == []
