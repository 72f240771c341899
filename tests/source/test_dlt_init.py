"""`dlt init cometchat duckdb --location <this repo>` works as for any verified source, and what it writes loads."""

import os
import subprocess
import sys
import tomllib
from pathlib import Path

from .cli import REPO
from .matching import assert_matches_ground_truth

DLT_CLI = Path(sys.executable).parent / "dlt"


def test_dlt_init_copies_a_source_that_loads_on_its_own(make_emulator, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    env = {**os.environ, "DLT_DATA_DIR": str(tmp_path / "dlt"), "RUNTIME__DLTHUB_TELEMETRY": "false"}
    init = subprocess.run(
        [str(DLT_CLI), "--non-interactive", "init", "cometchat", "duckdb", "--location", str(REPO)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert init.returncode == 0, init.stdout + init.stderr
    assert "Verified source cometchat was added to your project" in init.stdout
    assert (project / "cometchat" / "__init__.py").is_file()
    assert (project / "cometchat_pipeline.py").is_file()
    assert "dlt[duckdb,parquet]" in (project / "requirements.txt").read_text()
    secrets = tomllib.loads((project / ".dlt" / "secrets.toml").read_text())
    assert set(secrets["sources"]["cometchat"]["credentials"]) >= {"app_id", "api_key"}

    # Left as `dlt init` wrote them, the credentials fail at once, before any request.
    placeholder = subprocess.run(
        [sys.executable, "cometchat_pipeline.py"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert placeholder.returncode != 0
    assert "still holds an example value" in placeholder.stderr

    emulator = make_emulator(messages=400)
    credentials = {
        "SOURCES__COMETCHAT__CREDENTIALS__APP_ID": emulator.app_id,
        "SOURCES__COMETCHAT__CREDENTIALS__API_KEY": emulator.api_key,
        "SOURCES__COMETCHAT__CREDENTIALS__BASE_URL": emulator.base_url,
        "SOURCES__COMETCHAT__REQUESTS_PER_MINUTE": "60000",
    }
    # Run from the project only: the copied package must not import anything of this repository.
    clean_env = {**env, **credentials, "PYTHONPATH": str(project), "PYTHONSAFEPATH": "1"}
    loaded = subprocess.run(
        [sys.executable, "-S", "-c", RUN_WITHOUT_REPO.format(site=_site_packages())],
        cwd=project,
        env=clean_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert loaded.returncode == 0, loaded.stderr
    import dlt

    pipeline = dlt.pipeline(
        "cometchat",
        destination=dlt.destinations.duckdb(str(project / "cometchat.duckdb")),
        dataset_name="cometchat_data",
        pipelines_dir=str(tmp_path / "dlt" / "pipelines"),
    )
    assert_matches_ground_truth(pipeline, emulator.ground_truth())


# `-S` skips site.py, and with it the editable install of this repository; only the venv's packages are added.
RUN_WITHOUT_REPO = """
import sys, runpy
sys.path.append({site!r})
runpy.run_path("cometchat_pipeline.py", run_name="__main__")
assert not any(name == "sources" or name.startswith("sources.") for name in sys.modules), "imported the repo"
"""


def _site_packages() -> str:
    import sysconfig

    return sysconfig.get_paths()["purelib"]
