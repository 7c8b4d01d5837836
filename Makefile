# ami-fieldkit — every target bootstraps .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test lint typecheck contracts pytest reliability bench fmt lock clean

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	@touch $(STAMP)

## The whole system on simulators (today: a simulated meter read and checked by the CLI).
demo: $(STAMP)
	$(BIN)/fieldkit demo

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

## Measured, not timed tests: figures go to docs/performance.md.
bench: $(STAMP)
	$(BIN)/python benchmarks/c1218_read.py
	$(BIN)/python benchmarks/visit_save.py

## The crash-safety tests at length: the kill -9 loop over `fieldkit check` (1000 cycles),
## disk full, the secrets canary. CI runs the same tests with 50 kill cycles.
KILL_CYCLES ?= 1000
reliability: $(STAMP)
	FIELDKIT_KILL_CYCLES=$(KILL_CYCLES) $(BIN)/pytest -q -s --timeout 7200 \
		tests/reliability tests/sim/test_secrets_canary.py

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## Re-pin every dependency after changing pyproject.toml.
lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e ' > requirements.lock

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
