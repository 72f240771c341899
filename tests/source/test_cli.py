"""`python pipelines/run.py`: credentials, one-line errors, options, and a key that never leaks."""

import subprocess
import sys
from datetime import UTC, datetime

import pytest

from pipelines.cli_support import DEMO_DATA
from pipelines.loading import table_row_counts
from pipelines.run import PROGRESS_CHOICES
from pipelines.tag_sync import load_audit
from sources.cometchat.reverse_etl.results import records_to_columns
from sources.cometchat_emulator import Emulator, EmulatorConfig

from .cli import RUN_PY, run_cli
from .loaded import tables
from .matching import assert_matches_ground_truth


def test_demo_loads_the_bundled_emulator_exactly_with_no_account(tmp_path, cli_pipeline):
    """The README's main job, as a user runs it: no credentials anywhere, only `--demo`."""
    env = {"PATH": "/usr/bin:/bin", "DLT_DATA_DIR": str(tmp_path / "dlt"), "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, str(RUN_PY), "--demo", "--progress", "none"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "Loaded into duckdb dataset 'cometchat_data'" in result.stdout
    with Emulator(EmulatorConfig(**DEMO_DATA)) as emulator:  # same seed and sizes: the same data
        truth = emulator.ground_truth()
    pipeline = cli_pipeline(tmp_path)
    assert_matches_ground_truth(pipeline, truth)


def test_missing_credentials_say_how_to_set_them(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "DLT_DATA_DIR": str(tmp_path / "dlt"), "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, str(RUN_PY)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "SOURCES__COMETCHAT__CREDENTIALS__API_KEY" in result.stderr and "secrets.toml" in result.stderr
    assert "Traceback" not in result.stderr


def test_wrong_key_fails_fast_with_one_line_and_no_key(emulator, tmp_path):
    wrong_key = "0123456789abcdef0123456789abcdef01234567"
    process = run_cli(emulator, tmp_path, env_extra={"SOURCES__COMETCHAT__CREDENTIALS__API_KEY": wrong_key})
    out, err = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "AUTH_ERR_APIKEY_NOT_FOUND" in err
    assert "Traceback" not in err + out
    assert len([line for line in err.splitlines() if "rejected the credentials" in line]) == 1
    assert wrong_key not in out + err


def test_wrong_app_id_fails_fast(emulator, tmp_path):
    process = run_cli(
        emulator, tmp_path, env_extra={"SOURCES__COMETCHAT__CREDENTIALS__APP_ID": "someone-elses-app"}
    )
    out, err = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "AUTH_ERR_INVALID_APPID" in err
    assert "Traceback" not in err + out


def test_key_appears_in_no_output_log_trace_or_table(emulator, tmp_path):
    process = run_cli(emulator, tmp_path, env_extra={"RUNTIME__LOG_LEVEL": "DEBUG"})
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    assert "Requests:" in out
    assert emulator.api_key not in out + err
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert emulator.api_key.encode() not in path.read_bytes(), path


def test_subset_of_resources_and_custom_dataset(emulator, tmp_path, cli_pipeline):
    process = run_cli(emulator, tmp_path, "--resources", "users,groups", "--dataset-name", "chat_subset")
    _out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    pipeline = cli_pipeline(tmp_path, "chat_subset")
    assert {"users", "groups"} <= tables(pipeline)
    assert "messages" not in tables(pipeline)


def test_full_refresh_reloads_everything(emulator, tmp_path):
    for args in ((), ("--full-refresh",)):
        # One cursor: time windows leave out the copies of messages in earlier windows (test_windows.py).
        process = run_cli(emulator, tmp_path, *args, env_extra={"SOURCES__COMETCHAT__BACKFILL_WINDOWS": "1"})
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
    # The summary's table: name, rows extracted by this run, rows stored.
    extracted = {
        line.split()[0]: int(line.split()[1]) for line in out.splitlines() if line.startswith("messages ")
    }
    truth = emulator.ground_truth()["messages"]
    # The whole history again, each message once (one_copy.py: the copies edit/delete actions carry are left out).
    assert extracted["messages"] == len(truth)


def test_full_refresh_of_some_resources_keeps_every_other_table(emulator, tmp_path, cli_pipeline):
    process = run_cli(emulator, tmp_path)
    _out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    audit_row = {
        "run_id": "r1", "position": 1, "row": 1, "viewer_uid": "u1", "conversation_id": "group_g1", "mode": "set",
        "old_tags": [], "new_tags": ["vip"], "status": "applied", "error": None,
        "changed_at": datetime(2026, 1, 1, tzinfo=UTC),
    }  # fmt: skip
    load_audit(cli_pipeline(tmp_path), [records_to_columns([audit_row])])

    process = run_cli(emulator, tmp_path, "--resources", "users", "--full-refresh")
    _out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err

    pipeline = cli_pipeline(tmp_path)
    stored = table_row_counts(pipeline)
    truth = emulator.ground_truth()
    assert stored["users"] == len(truth["users"])
    assert stored["messages"] == len(truth["messages"])
    assert len(pipeline.dataset()["tag_changes"].df()) == 1


def test_unknown_resource_is_a_usage_error(tmp_path):
    result = subprocess.run(
        [sys.executable, str(RUN_PY), "--resources", "mesages"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "unknown resource" in result.stderr


def test_rejects_plain_http_outside_loopback(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DLT_DATA_DIR": str(tmp_path / "dlt"),
        "SOURCES__COMETCHAT__CREDENTIALS__APP_ID": "app",
        "SOURCES__COMETCHAT__CREDENTIALS__API_KEY": "k" * 40,
        "SOURCES__COMETCHAT__CREDENTIALS__BASE_URL": "http://cometchat.example.com/v3",
    }
    result = subprocess.run(
        [sys.executable, str(RUN_PY)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "https" in result.stderr


@pytest.mark.parametrize("progress", PROGRESS_CHOICES)
def test_every_progress_choice_offered_works(emulator, tmp_path, progress):
    process = run_cli(emulator, tmp_path, "--resources", "users", "--progress", progress)
    _out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert "Traceback" not in err
