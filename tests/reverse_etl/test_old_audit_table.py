"""A `tag_changes` table made by older code in the dataset: loaded into when it can take the rows, else the run
stops before any PUT with what to do."""

import json
from datetime import UTC, datetime

import dlt
import duckdb
import pyarrow as pa
import pytest

from pipelines.audit_table import IncompatibleAuditTable
from pipelines.tag_sync import AUDIT_COLUMNS, journal_dir, load_audit, sync_tags

from .helpers import changes_frame, cli_env, client_for, run_cli, successful_puts, truth_tags, write_csv

TEXT, JSON, BIGINT, TIMESTAMP = "text", "json", "bigint", "timestamp"


def _column(data_type: str, nullable: bool = True, **hints) -> dict:
    return {"data_type": data_type, "nullable": nullable, **hints}


# The first version (no key; tag lists as json), and the one before the tag lists became text (json, keyed).
FIRST_VERSION = {
    "run_id": _column(TEXT, False), "row": _column(BIGINT), "viewer_uid": _column(TEXT, False),
    "conversation_id": _column(TEXT, False), "mode": _column(TEXT), "old_tags": _column(JSON),
    "new_tags": _column(JSON), "status": _column(TEXT, False), "error": _column(TEXT),
    "changed_at": _column(TIMESTAMP, False),
}  # fmt: skip
JSON_VERSION = {
    "run_id": _column(TEXT, False, primary_key=True), "position": _column(BIGINT, False, primary_key=True),
    **{name: column for name, column in FIRST_VERSION.items() if name != "run_id"},
}  # fmt: skip
OLD_ROW = {
    "run_id": "old-run", "position": 1, "row": 2, "viewer_uid": "alice", "conversation_id": "group_team",
    "mode": "set", "old_tags": ["x"], "new_tags": ["y", "z"], "status": "applied", "error": None,
    "changed_at": datetime(2026, 1, 1, tzinfo=UTC),
}  # fmt: skip


def make_old_table(pipeline: dlt.Pipeline, columns: dict) -> None:
    """`tag_changes` as the older code made it, with one row: the first version from Python rows, the next
    one from an arrow table with the tag lists as JSON text under json hints."""
    row = {name: value for name, value in OLD_ROW.items() if name in columns}
    if "position" in columns:
        row |= {name: json.dumps(row[name]) for name in ("old_tags", "new_tags")}

    @dlt.resource(name="tag_changes", write_disposition="append", columns=columns, max_table_nesting=0)
    def tag_changes():
        yield pa.Table.from_pylist([row]) if "position" in columns else [row]

    pipeline.run(tag_changes(), schema=dlt.Schema("cometchat"))


def storage_types(pipeline: dlt.Pipeline, table: str = "tag_changes") -> dict[str, str]:
    with pipeline.sql_client() as sql:
        rows = sql.execute_sql(
            "SELECT column_name, data_type FROM information_schema.columns "
            f"WHERE table_schema = '{pipeline.dataset_name}' AND table_name = '{table}'"
        )
    return dict(rows)


def audit_rows(pipeline: dlt.Pipeline, table: str = "tag_changes") -> list[tuple]:
    frame = pipeline.dataset()[table].df().sort_values(["run_id", "position"])
    return [
        (r.run_id, r.viewer_uid, json.loads(r.old_tags), json.loads(r.new_tags), r.status)
        for r in frame.itertuples()
    ]


@pytest.mark.timeout(120)
def test_json_tag_columns_of_an_older_table_take_the_new_rows(make_emulator, make_pipeline):
    emulator = make_emulator(seed=81)
    pipeline = make_pipeline()
    make_old_table(pipeline, JSON_VERSION)
    assert storage_types(pipeline)["old_tags"] == "JSON"
    truth = truth_tags(emulator)
    first, second = sorted(truth)[:2]

    results = sync_tags(
        changes_frame([(*first, "a;b", "set"), (*second, "c", "set")]), client_for(emulator), pipeline
    )

    assert list(results["status"]) == ["applied", "applied"] and results.attrs["audit_error"] is None
    run_id = results.attrs["run_id"]
    assert sorted(audit_rows(pipeline)) == sorted(
        [
            ("old-run", "alice", ["x"], ["y", "z"], "applied"),
            (run_id, first[0], truth[first], ["a", "b"], "applied"),
            (run_id, second[0], truth[second], ["c"], "applied"),
        ]
    )
    assert storage_types(pipeline)["old_tags"] == "JSON"  # loaded into as it is, not altered
    # a killed run's rows are merged on (run_id, position): loaded twice, still one row each
    for _ in range(2):
        load_audit(pipeline, [_audit_columns("killed-run", first[0])], merge=True)
    assert [row for row in audit_rows(pipeline) if row[0] == "killed-run"] == [
        ("killed-run", first[0], ["q"], [], "failed")
    ]


def _audit_columns(run_id: str, viewer: str) -> dict[str, list]:
    values = {
        "run_id": run_id, "position": 1, "row": 2, "viewer_uid": viewer, "conversation_id": "group_team",
        "mode": "set", "old_tags": '["q"]', "new_tags": "[]", "status": "failed", "error": "interrupted",
        "changed_at": datetime(2026, 1, 2, tzinfo=UTC),
    }  # fmt: skip
    assert set(values) == set(AUDIT_COLUMNS)
    return {name: [value] for name, value in values.items()}


@pytest.mark.timeout(120)
def test_a_table_of_the_first_version_stops_the_run_before_any_put_and_says_what_to_do(
    make_emulator, make_pipeline
):
    emulator = make_emulator(seed=82)
    pipeline = make_pipeline()
    make_old_table(pipeline, FIRST_VERSION)
    truth = truth_tags(emulator)
    key = sorted(truth)[0]
    changes = changes_frame([(*key, "new-tag", "set")])
    client = client_for(emulator)
    emulator.reset_stats()

    with pytest.raises(IncompatibleAuditTable) as refused:
        sync_tags(changes, client, pipeline)

    message = str(refused.value)
    assert "cometchat_data.tag_changes was made by an older version" in message
    assert "lacks the column position" in message and "Nothing was sent" in message
    assert "its column _dlt_load_id must be filled" in message
    assert "ALTER TABLE cometchat_data.tag_changes RENAME TO tag_changes_v1" in message
    assert emulator.stats()["total"] == 0
    assert truth_tags(emulator) == truth
    assert not pipeline.has_pending_data
    assert not journal_dir(pipeline).exists()  # refused before the run's journal was started
    # a dry run records nothing, so it still shows the plan
    assert list(sync_tags(changes, client, pipeline, dry_run=True)["status"]) == ["planned"]

    # what the message says to do works: the old rows are kept aside, the run is recorded
    with pipeline.sql_client() as sql:
        sql.execute_sql("ALTER TABLE cometchat_data.tag_changes RENAME TO tag_changes_v1")
    results = sync_tags(changes, client, pipeline)
    assert list(results["status"]) == ["applied"] and results.attrs["audit_error"] is None
    assert audit_rows(pipeline) == [(results.attrs["run_id"], key[0], truth[key], ["new-tag"], "applied")]
    with pipeline.sql_client() as sql:
        assert sql.execute_sql("SELECT run_id FROM cometchat_data.tag_changes_v1") == [("old-run",)]


FIRST_VERSION_DDL = """
CREATE SCHEMA cometchat_data;
CREATE TABLE cometchat_data.tag_changes (
    run_id VARCHAR NOT NULL, "row" BIGINT, viewer_uid VARCHAR NOT NULL, conversation_id VARCHAR NOT NULL,
    mode VARCHAR, old_tags JSON, new_tags JSON, status VARCHAR NOT NULL, error VARCHAR,
    changed_at TIMESTAMP WITH TIME ZONE NOT NULL, _dlt_load_id VARCHAR NOT NULL, _dlt_id VARCHAR NOT NULL
);
INSERT INTO cometchat_data.tag_changes VALUES
    ('old-run', 2, 'alice', 'group_team', 'set', '["x"]', '["y"]', 'applied', NULL, now(), '1', 'a');
"""


@pytest.mark.timeout(120)
def test_the_cli_exits_2_with_one_line_and_sends_nothing(make_emulator, tmp_path):
    emulator = make_emulator(seed=83)
    # the table as the first version's DuckDB held it; this machine's pipeline folder does not know it
    with duckdb.connect(str(tmp_path / "cometchat.duckdb")) as connection:
        connection.execute(FIRST_VERSION_DDL)
    write_csv(tmp_path / "changes.csv", [(*sorted(truth_tags(emulator))[0], "vip", "set")])
    emulator.reset_stats()

    status, out, err = run_cli(emulator, tmp_path, "changes.csv", env=cli_env(emulator, tmp_path))

    assert status == 2, out + err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in out + err
    assert err.startswith("Configuration error: the table ") and "RENAME TO tag_changes_v1" in err
    assert successful_puts(emulator) == [] and emulator.stats()["total"] == 0
