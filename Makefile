PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

## The main job: a full load of the bundled emulator into ./cometchat.duckdb (dlt's default file of the `cometchat` pipeline).
demo: $(STAMP)
	$(BIN)/python pipelines/run.py --demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: $(STAMP) lint
	$(BIN)/python -m pytest -n 3 --dist worksteal -q --durations=15

bench: $(STAMP)
	$(BIN)/python -m pipelines.bench

clean:
	rm -rf $(VENV) *.duckdb .pytest_cache
