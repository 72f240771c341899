"""pandas stays out of the loader's process while it loads into DuckDB (pipelines/pandas_hidden.py): pyarrow and
DuckDB would import it (about 40 MB resident) only to ask whether a value is a pandas object. The test process
has pandas loaded already, so these runs happen in fresh interpreters."""

import json
import os
import subprocess
import sys
from pathlib import Path

from .matching import assert_matches_ground_truth

REPO = Path(__file__).resolve().parents[2]

# Two loads as run.py runs them (the second reads the stored member versions back through
# `pipeline.dataset()`), then what an analyst does next in the same process.
TWO_LOADS = """
import json, logging, sys
from pipelines.loading import build_pipeline, capped_duckdb, run_load, table_row_counts
from sources.cometchat import CometChatClient, CometChatCredentials

class Warnings(logging.Handler):
    messages = []
    def emit(self, record):
        self.messages.append(record.getMessage())

logging.getLogger("sources").addHandler(Warnings())
base_url, app_id, api_key, workdir = sys.argv[1:]
credentials = CometChatCredentials(app_id=app_id, api_key=api_key, base_url=base_url)
pipeline = build_pipeline(
    destination=capped_duckdb(f"{workdir}/chat.duckdb"),
    pipeline_name="chat",
    progress=None,
    pipelines_dir=f"{workdir}/pipelines",
)
imported = []
for _ in range(2):
    run_load(pipeline, CometChatClient(credentials, requests_per_minute=60_000), messages_per_load=300)
    imported.append("pandas" in sys.modules)
print(json.dumps({
    "pandas_imported": imported,
    "warnings": [message for message in Warnings.messages if "could not be read" in message],
    "stored": table_row_counts(pipeline),  # through pandas: it imports as usual once the load is done
}))
"""


def test_run_load_into_duckdb_never_imports_pandas_and_ends_exact(make_emulator, tmp_path):
    emulator = make_emulator(messages=700)
    workdir = tmp_path / "work"
    run = subprocess.run(
        [sys.executable, "-c", TWO_LOADS, emulator.base_url, emulator.app_id, emulator.api_key, str(workdir)],
        cwd=REPO,
        env={**os.environ, "DLT_DATA_DIR": str(tmp_path / "dlt")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.splitlines()[-1])
    assert result["pandas_imported"] == [False, False]
    assert result["warnings"] == []  # the second run read the stored member versions without pandas
    assert result["stored"]["messages"] == len(emulator.ground_truth()["messages"])

    import dlt

    pipeline = dlt.pipeline(
        "chat",
        destination=dlt.destinations.duckdb(str(workdir / "chat.duckdb")),
        dataset_name="cometchat_data",
        pipelines_dir=str(workdir / "pipelines"),
    )
    assert_matches_ground_truth(pipeline, emulator.ground_truth())


HIDDEN_THEN_BACK = """
import pyarrow as pa
from pipelines.pandas_hidden import pandas_hidden

with pandas_hidden() as hidden:
    assert hidden
    pa.array([1.0])  # pyarrow asks for pandas here, and takes it as absent
    try:
        import pandas
    except ModuleNotFoundError as error:
        print(error)
import pandas as pd

print(pa.table({"x": [1.0, None]}).to_pandas()["x"].isna().tolist())  # pyarrow loads it again where it needs it
print(pa.array(pd.Series([1.0, float("nan")])).null_count)  # and reads pandas objects as such from then on
"""


def test_pandas_is_hidden_only_inside_the_block_and_pyarrow_finds_it_again():
    run = subprocess.run(
        [sys.executable, "-c", HIDDEN_THEN_BACK], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    message, to_pandas, nulls = run.stdout.splitlines()
    assert message.startswith(
        "No module named 'pandas': hidden while the loader runs (pipelines.pandas_hidden)"
    )
    assert to_pandas == "[False, True]"
    assert nulls == "1"


def test_nothing_is_hidden_once_pandas_is_imported():
    import pandas  # the test process has it anyway

    from pipelines.pandas_hidden import pandas_hidden

    with pandas_hidden() as hidden:
        import pandas.testing  # noqa: F401  (imported in the block: nothing fails)

    assert hidden is False
