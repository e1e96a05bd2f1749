# crypto-tune developer commands. `make help` lists them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?= outputs

.DEFAULT_GOAL := help
.PHONY: help install lock test test-fast lint format demo bench calibrate ui dashboard pg clean workers soak docs

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip check
	touch $(STAMP)

install: $(STAMP)  ## create .venv/ with the locked dependencies and the project (editable)

lock:  ## re-resolve the dependencies into uv.lock and requirements.lock (needs uv)
	$(BIN)/uv lock
	$(BIN)/uv export --frozen --no-hashes --no-emit-project --extra dev -o requirements.lock

pg:  ## start the local PostgreSQL and create the test role and database
	bash scripts/pg-setup.sh

# N sweep workers on one study, in this shell (Ctrl-C stops them all; complete trials are kept).
# Heartbeats, stale-trial recovery and outages: docs/operations.md (CRYPTO_TUNE_* variables).
N ?= 2
ARGS ?= phase=model storage=postgres
workers: $(STAMP)  ## N sweep workers on one study: make workers N=3 ARGS="phase=model storage=postgres"
# Each worker is told how many share the machine (CRYPTO_TUNE_WORKERS: model.num_threads=auto).
	@pids=""; for i in $$(seq 1 $(N)); do CRYPTO_TUNE_WORKERS=$${CRYPTO_TUNE_WORKERS:-$(N)} $(BIN)/crypto-tune -m $(ARGS) & pids="$$pids $$!"; done; \
	status=0; for pid in $$pids; do wait $$pid || status=$$?; done; exit $$status

test: $(STAMP)  ## run the whole suite (slow tests included, as in CI)
	$(BIN)/python -m pytest

test-fast: $(STAMP)  ## the suite without slow tests
	$(BIN)/python -m pytest -m "not slow"

lint: $(STAMP)  ## ruff check, format check and mypy on the package
	$(BIN)/ruff check crypto_tune tests bench calibrate
	$(BIN)/ruff format --check crypto_tune tests bench calibrate
	$(BIN)/mypy

format: $(STAMP)  ## ruff format and autofix
	$(BIN)/ruff format crypto_tune tests bench
	$(BIN)/ruff check --fix crypto_tune tests bench

docs: $(STAMP)  ## build the manual (docs/, mkdocs-material) into outputs/site; a broken link fails
	$(BIN)/mkdocs build --strict --quiet --site-dir $(abspath $(OUT))/site

demo: $(STAMP)  ## the whole pipeline on the embedded synthetic market (offline, SQLite, local MLflow)
	bash scripts/demo.sh $(OUT)/demo

# One section or a few: make bench BENCH_ARGS="--only universe" (python -m bench --help lists them).
BENCH_ARGS ?=
bench: $(STAMP)  ## benchmarks; results in outputs/bench/results.json and a markdown table
	$(BIN)/python -m bench --out $(OUT)/bench $(BENCH_ARGS)

# Load figures: 3 Phase 2 workers x 1000 trials on one PostgreSQL study, one SIGKILLed midway and
# restarted, then the count check (bench/soak.py; a few minutes). Smaller: SOAK_ARGS="--trials 300".
SOAK_ARGS ?=
soak: $(STAMP)  ## 3 workers on PostgreSQL, one killed midway; figures in outputs/soak/results.json
	$(BIN)/python -m bench.soak --out $(OUT)/soak $(SOAK_ARGS)

# The verdict where users run it (docs/calibration.md). CALIBRATE_POINT=default: 30 Phase 1 + 500
# Phase 2 trials, 3 years of tuning in 5 folds, 2024 held out, on 8,766 4h bars; 60 null markets
# (no drift, bull, bear, jumps, heavy tails) and 15 planted per IC of 0.02, 0.03, 0.05, 0.1, 0.15:
# 135 markets of 0.5-3.7 min each on 2 shared cores (median 0.9), 2-8 hours. CALIBRATE_POINT=
# case_study: 20 + 1,000 trials (not timed yet); fast: debug=fast, 3 + 200 (smoke tests only).
# One market at a time; Ctrl-C or kill stops it and writes the results so far, and the same
# command continues. Smaller: make calibrate CALIBRATE_ARGS="--null 20 --planted 5".
CALIBRATE_POINT ?= default
CALIBRATE_ARGS ?= --null 60 --planted 15
calibrate: $(STAMP)  ## verdict false positives and power at the default budgets (outputs/calibrate-default)
	nice -n 19 $(BIN)/python -m calibrate --point $(CALIBRATE_POINT) \
	  --out $(OUT)/calibrate-$(CALIBRATE_POINT) $(CALIBRATE_ARGS)

# The server runs in a session of its own (setsid); stopping make (Ctrl-C, kill) stops that whole
# process group, MLflow's workers included, instead of leaving them running.
UI_PORT ?= 5000
ui: $(STAMP)  ## MLflow UI on the local store under outputs/ (Ctrl-C stops it and its workers)
	@setsid $(BIN)/mlflow ui --backend-store-uri sqlite:///$(abspath $(OUT))/mlflow.db \
	  --default-artifact-root $(abspath $(OUT))/mlartifacts --host 127.0.0.1 --port $(UI_PORT) & \
	pid=$$!; trap 'kill -TERM -$$pid 2>/dev/null; wait $$pid; exit 0' INT TERM HUP; \
	trap 'kill -TERM -$$pid 2>/dev/null' EXIT; wait $$pid

# STORAGE comes from the environment or the command line and is expanded by the shell, never
# echoed by make: a password in the URL is shown masked. A plain postgresql:// URL works (psycopg 3
# is installed for it); postgres:// is accepted as an alias.
DASHBOARD_PORT ?= 8080
dashboard: $(STAMP)  ## optuna-dashboard on the study storage (STORAGE=postgresql://... to override)
	@url="$${STORAGE:-sqlite:///$(abspath $(OUT))/optuna.db}"; \
	url=$$(printf '%s' "$$url" | sed 's#^postgres://#postgresql://#'); \
	echo "optuna-dashboard: $$(printf '%s' "$$url" | sed -E 's#(://[^:/@]+):[^@]*@#\1:***@#') on http://127.0.0.1:$(DASHBOARD_PORT)"; \
	exec $(BIN)/optuna-dashboard "$$url" --host 127.0.0.1 --port $(DASHBOARD_PORT)

clean:  ## remove outputs, caches and the virtual environment
	rm -rf $(OUT) $(VENV) .pytest_cache .ruff_cache build *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
