# taskwatch developer entry points. Every target bootstraps .venv on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
PYTEST_ARGS ?=

.PHONY: all venv test lint fmt demo bench clean help

all: lint test

help:
	@echo "make test    run the test suite (installs what it needs)"
	@echo "make demo    run the daemon against the embedded emulator (DURATION=60 to stop)"
	@echo "make bench   benchmarks against peers: prints a table, writes bench-results.json (QUICK=1)"
	@echo "make lint    ruff check + format check, mypy --strict, import-linter layers"
	@echo "make fmt     apply ruff format and safe fixes"
	@echo "make clean   remove .venv and caches"

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip uv >/dev/null
	@$(VENV)/bin/uv pip install --python $(PY) -q -e '.[dev]' \
	  || $(PY) -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

venv: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

DURATION ?=
demo: $(STAMP)
	$(PY) -m taskwatch demo $(if $(DURATION),--duration $(DURATION),)

QUICK ?=
bench: $(STAMP)
	$(PY) -m tests.bench.run $(if $(QUICK),--quick,)

lint: $(STAMP)
	$(VENV)/bin/ruff check taskwatch tests
	$(VENV)/bin/ruff format --check taskwatch tests
	$(VENV)/bin/mypy --strict taskwatch
	$(VENV)/bin/lint-imports

fmt: $(STAMP)
	$(VENV)/bin/ruff format taskwatch tests
	$(VENV)/bin/ruff check --fix taskwatch tests

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis build *.egg-info
