# taskwatch developer entry points. Every target bootstraps .venv on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
PYTEST_ARGS ?=

.PHONY: all venv test lint fmt demo demo-venv bench clean help

all: lint test

help:
	@echo "make test    run the test suite (installs what it needs)"
	@echo "make demo    run the daemon against the embedded emulator (DURATION=60 to stop)"
	@echo "make bench   benchmarks against peers: prints a table, writes bench-results.json (QUICK=1)"
	@echo "make lint    ruff check + format check, mypy --strict, import-linter layers"
	@echo "make fmt     apply ruff format and safe fixes"
	@echo "make clean   remove .venv, .venv-demo and caches"

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

# The demo runs from a lean venv of its own: `pip install .` (the daemon's and the emulator's
# dependencies, no dev extra: no pytest, mypy, SDKs, kubectl), so a first look needs no test tools.
# uv installs it when the dev venv or PATH has one, else pip. `python -m taskwatch` from the
# checkout runs the checkout's code (the current directory comes first on sys.path).
DEMO_VENV := .venv-demo
DEMO_PY := $(DEMO_VENV)/bin/python
DEMO_STAMP := $(DEMO_VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
UV := $(firstword $(wildcard $(VENV)/bin/uv) $(shell command -v uv 2>/dev/null))

$(DEMO_STAMP): pyproject.toml
	@test -x $(DEMO_PY) || $(PYTHON) -m venv $(if $(UV),--without-pip,) $(DEMO_VENV)
	@$(if $(UV),$(UV) pip install --python $(DEMO_PY) -q .,$(DEMO_PY) -m pip install -q .)
	@rm -f $(DEMO_VENV)/.installed-*
	@touch $@

demo-venv: $(DEMO_STAMP)

DURATION ?=
demo: $(DEMO_STAMP)
	$(DEMO_PY) -m taskwatch demo $(if $(DURATION),--duration $(DURATION),)

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
	rm -rf $(VENV) $(DEMO_VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis build *.egg-info
