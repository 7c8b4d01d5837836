# ami-fieldkit — every target bootstraps .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test lint typecheck contracts pytest bench reliability fmt lock clean docs-images

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	@touch $(STAMP)

## The whole system on simulators: office server, meters, an enrolled laptop, the app.
demo: $(STAMP)
	PYTHONPATH=$(CURDIR) $(BIN)/fieldkit demo

## Everything CI checks.
test: lint typecheck contracts pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

contracts: $(STAMP)
	$(BIN)/lint-imports

pytest: $(STAMP)
	$(BIN)/pytest -n 2 -q

## Measured, not timed tests: figures go to docs/performance.md. Every benchmark of issue 13,
## at sizes that keep the whole target near 15 minutes on 2 cores; the big runs (the review
## pages on 1M visits, 200 laptops for 5 minutes) are in docs/performance.md and
## docs/reliability.md with their commands.
bench: $(STAMP)
	$(BIN)/python benchmarks/c1218_read.py
	$(BIN)/python benchmarks/modbus_read.py
	$(BIN)/python benchmarks/visit_save.py
	$(BIN)/python benchmarks/check_wall.py
	$(BIN)/python benchmarks/tui_latency.py --runs 3
	$(BIN)/python benchmarks/sync_ingest.py --visits 5000
	$(BIN)/python benchmarks/review_latency.py --visits 20000 --samples 20
	$(BIN)/python benchmarks/sync_load.py --laptops 50 --seconds 60

## The long campaigns: the C12.18 link-fault sessions (2000), the fuzz targets (60,000
## inputs each), the kill -9 loops over `fieldkit check` and `fieldkit sync` (1000 cycles
## each), disk full, the secrets canary, sync through the fault proxy (10 devices x 300
## visits, server restarts), the sync state machine, 200 laptops syncing at once for
## 5 minutes on each engine, schemathesis on both engines, every demo meter read through
## the app. Figures in .reliability/ and
## docs/reliability.md. CI runs the fast slice.
KILL_CYCLES ?= 1000
SYNC_DEVICES ?= 10
SYNC_VISITS ?= 300
LOAD_LAPTOPS ?= 200
LOAD_SECONDS ?= 300
reliability: $(STAMP)
	FIELDKIT_FUZZ_EXAMPLES=60000 FIELDKIT_RELIABILITY_SESSIONS=2000 FIELDKIT_MODBUS_READS=2000 \
	FIELDKIT_SCHEMATHESIS_EXAMPLES=300 FIELDKIT_CSV_FUZZ_EXAMPLES=3000 \
	FIELDKIT_SYNC_DEVICES=$(SYNC_DEVICES) FIELDKIT_SYNC_VISITS=$(SYNC_VISITS) \
	FIELDKIT_LOAD_LAPTOPS=$(LOAD_LAPTOPS) FIELDKIT_LOAD_SECONDS=$(LOAD_SECONDS) \
	FIELDKIT_LOAD_INTERVAL=15 FIELDKIT_LOAD_ENGINES=sqlite,postgresql \
	FIELDKIT_KILL_CYCLES=$(KILL_CYCLES) FIELDKIT_SYNC_KILL_CYCLES=$(KILL_CYCLES) \
	FIELDKIT_SYNC_MACHINE_EXAMPLES=200 FIELDKIT_SYNC_MACHINE_STEPS=30 \
	FIELDKIT_DEMO_ALL_METERS=1 \
	$(BIN)/pytest -n 2 -q -s --timeout 7200 \
		tests/reliability tests/sim/test_secrets_canary.py tests/server/test_hostile_http.py \
		tests/server/test_fuzz_csv_imports.py tests/tui/test_whole_system.py

## The field guide's screenshots: the app's 80x24 snapshots (update those first).
docs-images: $(STAMP)
	$(BIN)/python -m tests.tui.test_docs_images

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## Re-pin every dependency after changing pyproject.toml.
lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e ' > requirements.lock

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
