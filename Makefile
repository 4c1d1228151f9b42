# movavg: `make run` sets up and runs the demo; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint test-fast test-nobrowser browser postgres bench screenshots clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)  ## demo: bundled CO2 sample -> data/incoming, one flow run on the ephemeral Prefect API
	$(BIN)/movavg demo

test: $(STAMP) browser postgres lint  ## the whole suite, as CI runs it
	$(BIN)/python -m pytest

lint: $(STAMP)  ## ruff, with the settings in pyproject.toml
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test-nobrowser: $(STAMP)  ## everything but the headless-Chromium UI test and the PostgreSQL one
	$(BIN)/python -m pytest -m 'not browser and not postgres'

browser:  ## Debian's chromium for the UI test (Playwright's own browser download does not work offline)
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "the UI test needs Debian's chromium: sudo apt-get install chromium (or: make test-nobrowser)"; exit 1; fi; }

postgres:  ## Debian's PostgreSQL for the test of a Prefect server on PostgreSQL under a Dask fan-out
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	  else echo "the PostgreSQL test needs Debian's postgresql: sudo apt-get install postgresql (or: make test-nobrowser)"; exit 1; fi; }

test-fast: $(STAMP)  ## unit tests only (no training, no flows)
	$(BIN)/python -m pytest -m 'not slow'

screenshots: $(STAMP) browser  ## refresh docs/ui-*.png from a real server and two runs over twelve series
	$(BIN)/python scripts/screenshots.py

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_window.py
	$(BIN)/python benchmarks/bench_rerun.py
	$(BIN)/python benchmarks/bench_many_series.py
	$(BIN)/python benchmarks/bench_many_series.py --runners --series 40
	$(BIN)/python benchmarks/bench_scale.py
	$(BIN)/python benchmarks/bench_forecast.py
	$(BIN)/python benchmarks/bench_warm_start.py
	$(BIN)/python benchmarks/bench_monitor.py
	$(BIN)/python benchmarks/bench_stack.py
	$(BIN)/python benchmarks/bench_fold_warm.py
	$(BIN)/python benchmarks/bench_retrain_noise.py

clean:  ## remove what the pipeline wrote and move its input files back to data/incoming (keeps the venv)
	@if [ -x $(BIN)/movavg ]; then $(BIN)/movavg clean --yes; else echo "no $(BIN)/movavg: nothing ran here yet"; fi
