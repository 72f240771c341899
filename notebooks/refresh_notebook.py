"""Regenerate the committed outputs of conversation_analysis.ipynb from freshly loaded demo data.

    .venv/bin/python notebooks/refresh_notebook.py

Loads the seeded demo emulator (the same data as `pipelines/run.py --demo`) into a DuckDB file in a temporary
directory, executes the notebook from a clean kernel against it, saves `images/messages_per_day.png`, strips
volatile metadata and writes the notebook back in place. The tests use `execute_notebook` and
`strip_volatile_metadata` from here too.
"""

import argparse
import copy
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent
REPO_ROOT = NOTEBOOKS.parent
NOTEBOOK = NOTEBOOKS / "conversation_analysis.ipynb"
CELL_TIMEOUT_SECONDS = 120
INJECTED_TAG = "injected-parameters"


def load_demo(directory: Path, emulator_settings: dict[str, Any] | None = None) -> tuple[Path, Path, dict]:
    """Loads a seeded emulator into `directory`; returns the DuckDB path, the pipelines dir and the ground truth."""
    sys.path.insert(0, str(REPO_ROOT))
    import dlt

    from pipelines.cli_support import DEMO_DATA, DEMO_REQUESTS_PER_MINUTE
    from pipelines.loading import PIPELINE_NAME, build_pipeline, run_load
    from sources.cometchat import CometChatClient, CometChatCredentials
    from sources.cometchat_emulator import Emulator, EmulatorConfig

    duckdb_path = directory / f"{PIPELINE_NAME}.duckdb"  # dlt's default file for the pipeline
    pipelines_dir = directory / "pipelines"
    with Emulator(EmulatorConfig(**(emulator_settings or DEMO_DATA))) as emulator:
        credentials = CometChatCredentials(
            app_id=emulator.app_id, api_key=emulator.api_key, base_url=emulator.base_url
        )
        pipeline = build_pipeline(
            destination=dlt.destinations.duckdb(str(duckdb_path)),
            progress=None,
            pipelines_dir=str(pipelines_dir),
        )
        run_load(pipeline, CometChatClient(credentials, requests_per_minute=DEMO_REQUESTS_PER_MINUTE))
        truth = emulator.ground_truth()
    return duckdb_path, pipelines_dir, truth


def execute_notebook(
    notebook: nbformat.NotebookNode, parameters: dict[str, Any], cwd: Path = NOTEBOOKS
) -> nbformat.NotebookNode:
    """Runs a copy of `notebook` from a clean `python3` kernel with `parameters` overriding the parameters cell.

    The overrides go into a cell inserted after the one tagged `parameters` (as papermill does); it is removed
    again afterwards, so the result keeps the notebook's own cells. Raises `CellExecutionError` on any error.
    """
    executed = copy.deepcopy(notebook)
    index = next(
        i for i, cell in enumerate(executed.cells) if "parameters" in cell.get("metadata", {}).get("tags", [])
    )
    source = "\n".join(f"{name} = {value!r}" for name, value in parameters.items())
    injected = nbformat.v4.new_code_cell(source, metadata={"tags": [INJECTED_TAG]})
    executed.cells.insert(index + 1, injected)
    client = NotebookClient(
        executed,
        timeout=CELL_TIMEOUT_SECONDS,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": str(cwd)}},
    )
    client.execute()
    executed.cells = [c for c in executed.cells if INJECTED_TAG not in c.get("metadata", {}).get("tags", [])]
    return executed


def strip_volatile_metadata(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Drops what changes from run to run without changing the content: timings, versions, widget state."""
    notebook.metadata.pop("widgets", None)
    notebook.metadata.pop("papermill", None)
    notebook.metadata.setdefault("language_info", {"name": "python"}).pop("version", None)
    notebook.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    count = 0
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("collapsed", None)
        cell.metadata.pop("scrolled", None)
        if cell.cell_type != "code":
            continue
        count += 1
        cell.execution_count = count if cell.outputs or cell.source.strip() else None
        for output in cell.outputs:
            if "execution_count" in output:
                output["execution_count"] = cell.execution_count
            output.get("metadata", {}).pop("transient", None)
    return notebook


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--notebook", type=Path, default=NOTEBOOK, help="the notebook to refresh in place")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    notebook = nbformat.read(args.notebook, as_version=4)
    with tempfile.TemporaryDirectory(prefix="cometchat-notebook-") as tmp:
        print("Loading the demo data ...", file=sys.stderr)
        duckdb_path, pipelines_dir, _truth = load_demo(Path(tmp))
        print(f"Executing {args.notebook.name} ...", file=sys.stderr)
        executed = execute_notebook(
            notebook,
            {"DUCKDB_PATH": str(duckdb_path), "PIPELINES_DIR": str(pipelines_dir), "SAVE_IMAGES": True},
            cwd=args.notebook.resolve().parent,
        )
    strip_volatile_metadata(executed)
    nbformat.validate(executed)
    nbformat.write(executed, args.notebook)
    print(f"Wrote {args.notebook} and images/messages_per_day.png", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
