"""Running `python pipelines/run.py` in a real process against an emulator, in a throwaway working directory."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RUN_PY = REPO / "pipelines" / "run.py"


def cli_env(emulator, workdir: Path, **extra: str) -> dict[str, str]:
    """The environment of a CLI run against `emulator`, with dlt's data folder inside `workdir`."""
    return {
        **os.environ,
        "SOURCES__COMETCHAT__CREDENTIALS__APP_ID": emulator.app_id,
        "SOURCES__COMETCHAT__CREDENTIALS__API_KEY": emulator.api_key,
        "SOURCES__COMETCHAT__CREDENTIALS__BASE_URL": emulator.base_url,
        "SOURCES__COMETCHAT__REQUESTS_PER_MINUTE": "60000",
        "DLT_DATA_DIR": str(workdir / "dlt"),
        **extra,
    }


def run_cli(emulator, workdir: Path, *args: str, env_extra: dict | None = None, **popen) -> subprocess.Popen:
    env = cli_env(emulator, workdir, **(env_extra or {}))
    return subprocess.Popen(
        [sys.executable, str(RUN_PY), "--progress", "none", *args],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )
