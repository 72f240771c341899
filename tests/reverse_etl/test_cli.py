"""`python pipelines/apply_tags.py`: unusable files, exit statuses, the report, the demo example, no key anywhere."""

import csv
import json
from pathlib import Path

import pytest

from pipelines import apply_tags

from .helpers import REPO, cli_env, conversation_tables, put_path, run_cli, successful_puts, truth_tags

GOOD_HEADER = "on_behalf_of,conversation_id,tags,mode"


@pytest.fixture
def quiet_main(monkeypatch):
    """main() in this process, without adding log handlers bound to pytest's captured streams."""
    monkeypatch.setattr(apply_tags, "configure_logging", lambda: None)
    return apply_tags.main


UNUSABLE = {
    "missing": None,
    "directory": "dir",
    "latin1": f"{GOOD_HEADER}\nrené,group_x,été,set\n".encode("latin-1"),
    "utf16": f"{GOOD_HEADER}\nalice,group_x,vip,set\n".encode("utf-16"),
    "no_tags_column": b"on_behalf_of,conversation_id\nalice,group_x\n",
    "empty": b"",
    "header_only": f"\ufeff{GOOD_HEADER}\r\n".encode(),
    "workbook": b"PK\x03\x04\x14\x00\x06\x00\x08\x00",
}


@pytest.mark.parametrize("kind", sorted(UNUSABLE))
def test_an_unusable_file_exits_2_with_one_line_and_sends_nothing(
    kind, emulator, quiet_main, tmp_path, monkeypatch, capsys
):
    for name, value in cli_env(emulator, tmp_path).items():
        if name.startswith(("SOURCES__", "DLT_")):
            monkeypatch.setenv(name, value)
    path = tmp_path / "changes.csv"
    if UNUSABLE[kind] == "dir":
        path.mkdir()
    elif UNUSABLE[kind] is not None:
        path.write_bytes(UNUSABLE[kind])
    emulator.reset_stats()

    status = quiet_main([str(path), "--report", str(tmp_path / "report.csv")])

    out, err = capsys.readouterr()
    assert status == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("Unusable changes file: "), err
    assert "Traceback" not in out + err
    assert emulator.stats()["total"] == 0
    assert not (tmp_path / "report.csv").exists()


def test_an_unusable_file_in_a_real_process_prints_no_traceback(emulator, tmp_path):
    (tmp_path / "changes.csv").write_text("on_behalf_of,tags\nalice,vip\n")
    emulator.reset_stats()
    status, out, err = run_cli(emulator, tmp_path, "changes.csv")
    assert status == 2
    assert err.strip() == (
        "Unusable changes file: changes.csv lacks the required column(s) conversation_id; "
        "the header must name on_behalf_of, conversation_id, tags and optionally mode"
    )
    assert out == ""
    assert emulator.stats()["total"] == 0


def test_a_report_path_that_cannot_be_written_is_found_before_anything_is_sent(
    emulator, quiet_main, tmp_path, capsys
):
    path = tmp_path / "changes.csv"
    path.write_text(f"{GOOD_HEADER}\nalice,group_x,vip,set\n")
    emulator.reset_stats()
    assert quiet_main([str(path), "--report", str(tmp_path / "no" / "such" / "report.csv")]) == 2
    assert "cannot write the report" in capsys.readouterr().err
    assert emulator.stats()["total"] == 0


def test_missing_credentials_exit_2(tmp_path):
    (tmp_path / "changes.csv").write_text(f"{GOOD_HEADER}\nalice,group_x,vip,set\n")
    env = {"PATH": "/usr/bin:/bin", "DLT_DATA_DIR": str(tmp_path / "dlt"), "HOME": str(tmp_path)}
    status, _out, err = run_cli(None, tmp_path, "changes.csv", env=env)
    assert status == 2
    assert "SOURCES__COMETCHAT__CREDENTIALS__API_KEY" in err and "Traceback" not in err


def write_windows_csv(path: Path, rows: list[list[str]]) -> None:
    """A UTF-8 BOM and Windows line endings, as Excel writes them; both are fine."""
    with path.open("w", encoding="utf-8-sig", newline="") as file:
        writer = csv.writer(file, lineterminator="\r\n")
        writer.writerow(GOOD_HEADER.split(","))
        writer.writerows(rows)


def read_report(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    for row in rows:
        row["current_tags"] = json.loads(row["current_tags"])
        row["desired_tags"] = json.loads(row["desired_tags"])
    return rows


def test_dry_run_apply_and_rerun_with_reports_exit_statuses_and_no_key_anywhere(
    make_emulator, tmp_path, cli_pipeline
):
    emulator = make_emulator(seed=31)
    truth = truth_tags(emulator)
    keys = sorted(truth)[:6]
    lines = [[*key, json.dumps(["a;b", f"k{n}"]), ""] for n, key in enumerate(keys[:3])]
    lines += [[*key, "x; y ;x", ""] for key in keys[3:5]]
    lines.append([*keys[5], "ok;;blank", "set"])
    good = {key: ["a;b", f"k{n}"] for n, key in enumerate(keys[:3])} | {key: ["x", "y"] for key in keys[3:5]}
    changes = tmp_path / "changes.csv"
    write_windows_csv(changes, lines)
    env = cli_env(emulator, tmp_path, RUNTIME__LOG_LEVEL="DEBUG")
    outputs = []

    emulator.reset_stats()
    status, out, err = run_cli(
        emulator, tmp_path, "changes.csv", "--dry-run", "--report", "plan.csv", env=env
    )
    outputs.append(out + err)
    assert status == 1, err  # the blank-tag row is rejected
    assert emulator.stats()["puts"] == []
    assert "Dry run of 6 row(s): 1 rejected, 5 planned; 0 PUTs sent" in out
    plan = read_report(tmp_path / "plan.csv")
    assert [row["row"] for row in plan] == ["2", "3", "4", "5", "6", "7"]
    assert [row["status"] for row in plan] == ["planned"] * 5 + ["rejected"]
    assert plan[5]["error"] == "tag 2 is blank"
    assert [row["current_tags"] for row in plan] == [truth[key] for key in keys]
    assert [row["desired_tags"] for row in plan[:5]] == [good[key] for key in keys[:5]]
    assert not (tmp_path / "cometchat.duckdb").exists()

    status, out, err = run_cli(emulator, tmp_path, "changes.csv", "--report", "applied.csv", env=env)
    outputs.append(out + err)
    assert status == 1, err
    assert "6 row(s): 5 applied, 1 rejected; 5 PUT(s) sent" in out
    assert truth_tags(emulator) == truth | good
    assert len(successful_puts(emulator)) == 5
    assert [row["status"] for row in read_report(tmp_path / "applied.csv")] == ["applied"] * 5 + ["rejected"]

    write_windows_csv(changes, lines[:5])
    emulator.reset_stats()
    status, out, err = run_cli(emulator, tmp_path, "changes.csv", "--report", "again.csv", env=env)
    outputs.append(out + err)
    assert status == 0, err
    assert emulator.stats()["puts"] == []
    assert "5 row(s): 5 unchanged; 0 PUT(s) sent" in out
    assert {row["status"] for row in read_report(tmp_path / "again.csv")} == {"unchanged"}

    pipeline = cli_pipeline(tmp_path)
    assert conversation_tables(pipeline) == truth | good
    audit = pipeline.dataset()["tag_changes"].df()
    assert audit["status"].value_counts().to_dict() == {"applied": 5, "rejected": 1, "unchanged": 5}

    key = emulator.api_key
    assert all(key not in output for output in outputs)
    scanned = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert len(scanned) > 10
    for path in scanned:
        assert key.encode() not in path.read_bytes(), path


def test_default_mode_fills_empty_mode_cells_and_the_audit_lands_in_the_named_dataset(
    make_emulator, tmp_path, cli_pipeline
):
    emulator = make_emulator(seed=32)
    truth = truth_tags(emulator)
    added, replaced = sorted(truth)[:2]
    write_windows_csv(tmp_path / "changes.csv", [[*added, "added-by-test", ""], [*replaced, "only", "set"]])
    env = cli_env(emulator, tmp_path)

    status, out, err = run_cli(
        emulator, tmp_path, "changes.csv", "--mode", "add", "--dataset-name", "chat_tags", env=env
    )
    assert status == 0, err
    assert "2 row(s): 2 applied; 2 PUT(s) sent" in out
    assert truth_tags(emulator) == truth | {added: [*truth[added], "added-by-test"], replaced: ["only"]}
    audit = cli_pipeline(tmp_path, "chat_tags").dataset()["tag_changes"].df()
    assert sorted(audit["status"]) == ["applied", "applied"]


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def test_rows_that_cannot_be_sent_are_rejected_alone_and_the_report_is_safe_to_open(make_emulator, tmp_path):
    emulator = make_emulator(seed=33)
    truth = truth_tags(emulator)
    (viewer, cid), other = sorted(truth)[:2]
    rows = [
        [viewer, cid, "first", "set"],
        ["ユーザー", cid, "x", "set"],  # cannot go into the onBehalfOf header
        ["bad\r\nuid", cid, "x", "set"],  # CR/LF inside a quoted cell
        [".", "group_team", "x", "set"],
        [viewer, f"{viewer}_user_.", "x", "set"],  # would be PUT /users/./conversation = /users/conversation
        [viewer, "group_..", "x", "set"],
        [viewer, "group_te\x07am", "x", "set"],
        ["=cmd|' /C calc'!A0", "@SUM(A1)", "+1", "-1"],
        [*other, "second", "set"],
    ]
    write_windows_csv(tmp_path / "changes.csv", rows)
    emulator.reset_stats()

    status, out, err = run_cli(emulator, tmp_path, "changes.csv", "--report", "report.csv")

    assert status == 1, err
    assert "9 row(s): 2 applied, 7 rejected; 2 PUT(s) sent" in out
    assert sorted(put["path"] for put in successful_puts(emulator)) == sorted(
        put_path(*key) for key in ((viewer, cid), other)
    )
    assert len(emulator.stats()["puts"]) == 2
    report = read_report(tmp_path / "report.csv")
    assert [row["status"] for row in report] == ["applied"] + ["rejected"] * 7 + ["applied"]
    assert "HTTP header" in report[1]["error"] and "control character" in report[2]["error"]
    assert all("dot segment" in row["error"] for row in report[3:6])
    # formula-like cells are neutralised with a leading apostrophe; the rest are as they were
    assert (report[7]["on_behalf_of"], report[7]["conversation_id"], report[7]["mode"]) == (
        "'=cmd|' /c calc'!a0",  # ids are lowercased
        "'@sum(a1)",
        "'-1",
    )
    with (tmp_path / "report.csv").open(encoding="utf-8", newline="") as file:
        cells = [cell for line in csv.reader(file) for cell in line]
    assert not [cell for cell in cells if cell.startswith(FORMULA_STARTS)]


@pytest.mark.timeout(120)
def test_the_example_file_plans_against_the_demo_emulator(tmp_path):
    env = cli_env_without_account(tmp_path)
    example = REPO / "pipelines" / "examples" / "tag_changes.csv"
    status, out, err = run_cli(None, tmp_path, str(example), "--demo", "--dry-run", env=env)
    assert status == 0, err
    assert "Dry run of 8 row(s): 1 unchanged, 7 planned; 0 PUTs sent" in out
    assert '["renewal;q3", "vip"]' in out


def cli_env_without_account(workdir: Path) -> dict[str, str]:
    import os

    env = {name: value for name, value in os.environ.items() if not name.startswith("SOURCES__")}
    return env | {"DLT_DATA_DIR": str(workdir / "dlt")}
