"""pipelines/lake.py: DuckDB's delta extension comes from the `duckdb-extension-delta` wheel, never a download."""

import logging
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipelines.lake import install_delta_extension

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fresh_home(tmp_path, monkeypatch):
    """DuckDB's extension folder (`~/.duckdb/extensions`) starts empty: HOME points at a new folder."""
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def delta_extension(connection: duckdb.DuckDBPyConnection) -> tuple:
    return connection.execute(
        "SELECT installed, install_path, installed_from FROM duckdb_extensions() WHERE extension_name = 'delta'"
    ).fetchone()


def test_the_extension_is_installed_from_the_wheel_and_loads(fresh_home):
    import duckdb_extension_delta

    assert install_delta_extension()

    with duckdb.connect() as connection:
        installed, install_path, installed_from = delta_extension(connection)
        assert installed and install_path.startswith(str(fresh_home / ".duckdb" / "extensions"))
        assert installed_from.startswith(duckdb_extension_delta.__path__[0])
        assert f"v{duckdb.__version__}" in installed_from
        connection.execute("LOAD delta")
    assert install_delta_extension(), "a second call finds it installed"


def test_without_the_wheel_nothing_is_installed_and_the_log_says_so(fresh_home, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "duckdb_extension_delta", None)  # import fails

    with caplog.at_level(logging.INFO, logger="pipelines.lake"):
        assert not install_delta_extension()

    assert "duckdb-extension-delta is not installed" in caplog.text
    with duckdb.connect() as connection:
        assert not delta_extension(connection)[0]


def test_a_wheel_for_another_duckdb_version_is_named_in_a_warning(fresh_home, monkeypatch, caplog, tmp_path):
    import duckdb_extension_delta

    other = tmp_path / "other_wheel"
    (other / "extensions" / "v0.0.1").mkdir(parents=True)
    monkeypatch.setattr(duckdb_extension_delta, "__path__", [str(other)])

    with caplog.at_level(logging.INFO, logger="pipelines.lake"):
        assert not install_delta_extension()

    assert f"no delta extension for DuckDB {duckdb.__version__}" in caplog.text
    with duckdb.connect() as connection:
        assert not delta_extension(connection)[0]


def test_processes_installing_at_once_all_end_with_a_working_extension(fresh_home):
    # Without the lock, about a third of such processes crashed, or found the extension torn and unloadable.
    script = (
        "import duckdb; from pipelines.lake import install_delta_extension; "
        "assert install_delta_extension(); duckdb.connect().execute('LOAD delta'); print('loaded')"
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script],
            cwd=REPO_ROOT,
            env=os.environ | {"HOME": str(fresh_home)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(6)
    ]
    outputs = [process.communicate(timeout=120)[0] for process in processes]

    assert [process.returncode for process in processes] == [0] * 6, outputs
    assert all(output.strip() == "loaded" for output in outputs), outputs
