# Two commands for a fresh machine with Python 3.9+: `make demo` and `make test`.
# Each creates .venv when it is missing and installs what it needs.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

# Tests run on PYTEST_WORKERS processes (pytest-xdist; 4 on 2 CPUs: many tests wait on loopback servers); `make test PYTEST_WORKERS=0` runs them in this process.
PYTEST_WORKERS ?= 4
PYTEST := $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist worksteal

.PHONY: demo test test-all test-unit test-integration test-e2e lint check clean screenshots

demo: $(VENV)/.runtime-installed
	$(BIN)/python src/main.py --demo

# Every tier; the hypothesis tests use the fast profile unless CI=true or HYPOTHESIS_PROFILE=ci (docs/testing.md).
test: $(VENV)/.dev-installed
	$(PYTEST)

# Also the slow 10,000-site checks and the full hypothesis counts, as CI runs them.
test-all: $(VENV)/.dev-installed
	HYPOTHESIS_PROFILE=ci MIST_TEST_SLOW=1 $(PYTEST)

test-unit: $(VENV)/.dev-installed
	$(PYTEST) -m unit

test-integration: $(VENV)/.dev-installed
	$(PYTEST) -m integration

test-e2e: $(VENV)/.dev-installed
	$(PYTEST) -m e2e

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

check: test lint

# PNGs of the alert email at 390, 600 and 1280 px in tests/artifacts/ (needs Chromium).
screenshots: $(VENV)/.dev-installed
	$(BIN)/python tests/screenshots.py

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime-installed: requirements.txt | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.runtime-installed $@

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
