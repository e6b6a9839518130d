# Two commands for a fresh machine with Python 3.9+: `make demo` and `make test`.
# Each creates .venv when it is missing and installs what it needs.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint check clean screenshots

demo: $(VENV)/.runtime-installed
	$(BIN)/python src/main.py --demo

test: $(VENV)/.dev-installed
	$(BIN)/python -m pytest

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
