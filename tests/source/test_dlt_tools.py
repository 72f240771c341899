"""dlt's own tools and plain dlt code find the data run.py wrote; honest exit status; one run at a time."""

import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import dlt
import pytest

from pipelines import run as run_cli_module
from pipelines.loading import LoadIncompleteError, build_pipeline, check_nothing_pending
from sources.cometchat import cometchat_source

from .cli import REPO, RUN_PY, cli_env, run_cli
from .conftest import emulator_credentials, load_from
from .expected import expected_messages
from .loaded import loaded_messages
from .matching import assert_matches_ground_truth
from .test_resilience import wait_for_message_pages

DLT_CLI = Path(sys.executable).parent / "dlt"

READ_BACK = """
import dlt, sys
attached = dlt.attach("cometchat").dataset()["messages"].df()
plain = dlt.pipeline("cometchat", destination="duckdb", dataset_name="cometchat_data").dataset()["messages"].df()
print(len(attached), len(plain), attached["id"].nunique())
"""


def _run(workdir: Path, env: dict, *command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=300)


def test_dlt_cli_attach_and_a_plain_pipeline_read_what_run_py_loaded(make_emulator, tmp_path):
    emulator = make_emulator(messages=600)
    env = cli_env(emulator, tmp_path)
    loaded = _run(tmp_path, env, sys.executable, str(RUN_PY), "--progress", "none")
    assert loaded.returncode == 0, loaded.stderr
    assert sorted(path.name for path in tmp_path.glob("*.duckdb")) == ["cometchat.duckdb"]

    info = _run(tmp_path, env, str(DLT_CLI), "pipeline", "cometchat", "info")
    assert info.returncode == 0, info.stderr
    assert "messages with 6 table(s)" in info.stdout
    schema = _run(tmp_path, env, str(DLT_CLI), "pipeline", "cometchat", "schema")
    assert schema.returncode == 0 and "messages__entities" in schema.stdout
    trace = _run(tmp_path, env, str(DLT_CLI), "pipeline", "cometchat", "trace")
    assert trace.returncode == 0 and emulator.api_key not in trace.stdout + trace.stderr

    read = _run(tmp_path, env, sys.executable, "-c", READ_BACK)
    assert read.returncode == 0, read.stderr
    messages = len(emulator.ground_truth()["messages"])
    assert read.stdout.split() == [str(messages)] * 3
    assert sorted(path.name for path in tmp_path.glob("*.duckdb")) == ["cometchat.duckdb"]


def test_after_dlt_drop_the_next_run_reloads_the_resource_and_new_data_lands(
    make_emulator, tmp_path, cli_pipeline
):
    emulator = make_emulator(messages=600)
    env = cli_env(emulator, tmp_path)
    assert _run(tmp_path, env, sys.executable, str(RUN_PY), "--progress", "none").returncode == 0

    dropped = _run(tmp_path, env, str(DLT_CLI), "--yes", "pipeline", "cometchat", "drop", "users")
    assert dropped.returncode == 0, dropped.stderr
    emulator.add_messages(10)
    emulator.reset_stats()
    again = _run(tmp_path, env, sys.executable, str(RUN_PY), "--progress", "none")

    assert again.returncode == 0, again.stderr
    assert emulator.stats()["total"] > 0
    pipeline = cli_pipeline(tmp_path)
    assert not pipeline.has_pending_data
    assert_matches_ground_truth(pipeline, emulator.ground_truth())


def test_a_pending_package_is_finished_first_and_the_run_still_loads(make_emulator, make_pipeline):
    emulator = make_emulator(messages=300)
    pipeline = make_pipeline()
    load_from(emulator, pipeline)
    credentials = emulator_credentials(emulator)
    pipeline.extract(cometchat_source(credentials=credentials).with_resources("users"))  # left pending
    assert pipeline.has_pending_data
    emulator.add_messages(7)

    load_from(emulator, pipeline)

    assert not pipeline.has_pending_data
    assert loaded_messages(pipeline) == expected_messages(emulator.ground_truth())


def test_a_package_left_pending_is_an_error_not_a_success(make_emulator, make_pipeline):
    emulator = make_emulator(messages=100)
    pipeline = make_pipeline()
    pipeline.extract(cometchat_source(credentials=emulator_credentials(emulator)).with_resources("users"))
    with pytest.raises(LoadIncompleteError, match="still pending"):
        check_nothing_pending(pipeline)
    pipeline.normalize()
    with pytest.raises(LoadIncompleteError, match="still pending"):
        check_nothing_pending(pipeline)
    pipeline.load()
    check_nothing_pending(pipeline)


def test_a_failure_after_the_load_is_a_warning_and_exit_0(
    make_emulator, tmp_path, monkeypatch, caplog, capsys
):
    emulator = make_emulator(messages=100)
    for name, value in cli_env(emulator, tmp_path).items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)

    def broken_counts(pipeline: dlt.Pipeline) -> dict[str, int]:
        raise RuntimeError('relation "cometchat_data.tag_changes" does not exist')

    monkeypatch.setattr(run_cli_module, "table_row_counts", broken_counts)
    caplog.set_level(logging.WARNING)
    status = run_cli_module.main(["--progress", "none", "--pipeline-name", "warn_only"])

    assert status == 0
    assert "Loaded, but the stored row counts could not be read" in caplog.text
    assert "Loaded into duckdb" in capsys.readouterr().out


def test_a_second_run_while_one_is_running_is_refused_at_start(make_emulator, tmp_path, cli_pipeline):
    emulator = make_emulator(seed=8, messages=6000)
    emulator.configure(latency_ms=100)
    first = run_cli(emulator, tmp_path)
    wait_for_message_pages(emulator, 1)

    started = time.monotonic()
    second = run_cli(emulator, tmp_path)
    _out, err = second.communicate(timeout=60)
    assert second.returncode == 2, err
    assert time.monotonic() - started < 30
    assert [line for line in err.splitlines() if line.strip()] == [
        "Another run of pipeline 'cometchat' is in progress; this one was not started"
    ]
    emulator.configure(latency_ms=0)
    _out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert_matches_ground_truth(cli_pipeline(tmp_path), emulator.ground_truth())


def test_the_example_secrets_fail_at_once_with_one_line_and_no_request(tmp_path):
    (tmp_path / ".dlt").mkdir()
    shutil.copy(REPO / ".dlt" / "secrets.toml.example", tmp_path / ".dlt" / "secrets.toml")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "DLT_DATA_DIR": str(tmp_path / "dlt")}
    started = time.monotonic()
    result = _run(tmp_path, env, sys.executable, str(RUN_PY), "--progress", "none")
    assert result.returncode == 2
    assert time.monotonic() - started < 20
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "an example value" in lines[0], result.stderr
    assert "Could not reach" not in result.stderr and "Retrying" not in result.stderr


def test_run_py_works_from_the_repo_root_without_path_hacks(tmp_path):
    assert "sys.path" not in RUN_PY.read_text()
    result = _run(REPO, {**os.environ}, sys.executable, "pipelines/run.py", "--help")
    assert result.returncode == 0 and "--destination" in result.stdout


def test_build_pipeline_uses_dlts_default_duckdb_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pipeline = build_pipeline(pipelines_dir=str(tmp_path / "p"), progress=None)
    assert pipeline.pipeline_name == "cometchat" and pipeline.dataset_name == "cometchat_data"
    credentials = pipeline.destination_client().config.credentials
    assert Path(credentials.database).resolve() == (tmp_path / "cometchat.duckdb").resolve()


def test_duckdb_memory_is_capped_and_a_configured_file_still_wins(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pipeline = build_pipeline(pipeline_name="capped", pipelines_dir=str(tmp_path / "p"), progress=None)
    pipeline.run([{"a": 1}], table_name="t")
    with pipeline.sql_client() as client:
        assert client.execute_sql("SELECT current_setting('memory_limit')")[0][0] == "61.0 MiB"  # 64 MB
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(tmp_path / "elsewhere.duckdb"))
    configured = build_pipeline(pipeline_name="moved", pipelines_dir=str(tmp_path / "p"), progress=None)
    configured.run([{"a": 1}], table_name="t")
    assert (tmp_path / "elsewhere.duckdb").exists() and not (tmp_path / "moved.duckdb").exists()
