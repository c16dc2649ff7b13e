# Polyops. `make help` lists the targets. Everything runs from .venv, which the
# Makefile creates and fills on first use (only Python >= 3.11 is needed).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_ARGS ?=
CHAOS_ARGS ?= --trials 20 --seed 1

.DEFAULT_GOAL := help
.PHONY: help install demo test lint typecheck contracts unit format bench chaos migrate sim clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Polyops needs Python >= 3.11 (set PYTHON=...)")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## create .venv and install Polyops with its dev tools

demo: $(STAMP) ## run the whole product offline: simulator, paper trading, terminal chat
	$(BIN)/trader demo $(DEMO_ARGS)

test: lint typecheck contracts unit ## every check: lint, types, import contracts, tests

lint: $(STAMP) ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP) ## mypy strict on trader/ and bot/
	$(BIN)/mypy

contracts: $(STAMP) ## import-linter boundary contracts
	$(BIN)/lint-imports

unit: $(STAMP) ## the pytest suite (PostgreSQL too when TEST_DATABASE_URL is set)
	$(BIN)/pytest -q -p no:cacheprovider

format: $(STAMP) ## apply ruff format and safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP) ## run the benchmarks, print a table, write bench/results.json
	$(BIN)/python -m bench

chaos: $(STAMP) ## kill the app and inject venue faults at random; check the invariants
	$(BIN)/python -m chaos $(CHAOS_ARGS)

migrate: $(STAMP) ## alembic upgrade head on DATABASE_URL
	$(BIN)/trader migrate

sim: $(STAMP) ## run the local CLOB simulator with the demo scenario
	$(BIN)/trader sim --host 127.0.0.1 --port 8900

clean: ## remove the virtual environment and local data
	rm -rf $(VENV) data/*.db data/*.db-wal data/*.db-shm
