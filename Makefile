# driftgate: the two commands a new machine needs are `make serve` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup serve test lint protos bench perf-analyzer

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

setup: $(VENV)/.installed

serve: setup  ## gateway + registry sidecar + demo model, state under ./.driftgate
	$(BIN)/driftgate serve

test: setup  ## the whole test suite (CI runs exactly this)
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check driftgate tests bench scripts
	$(BIN)/mypy

protos: setup
	$(BIN)/python scripts/gen_protos.py

perf-analyzer:
	bash scripts/install_perf_analyzer.sh
