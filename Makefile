# movavg: `make run` sets up and runs the demo; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)  ## demo: bundled CO2 sample -> data/incoming, one flow run on the ephemeral Prefect API
	$(BIN)/movavg demo

test: $(STAMP)  ## the whole suite, as CI runs it
	$(BIN)/python -m pytest

test-fast: $(STAMP)  ## unit tests only (no training, no flows)
	$(BIN)/python -m pytest -m 'not slow'

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_window.py
	$(BIN)/python benchmarks/bench_rerun.py

clean:  ## remove what the pipeline wrote (keeps the venv)
	rm -rf data/incoming data/raw data/processed data/quarantine data/cache data/ledger.jsonl artifacts/models \
	       artifacts/forecasts artifacts/champion.json artifacts/history.jsonl
