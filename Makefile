# Two entry points for a fresh machine (see README): `make smoke` and `make test`.
# torch is installed first, pinned (2.13.0): a plain `pip install torch` pulls a multi-GB CUDA build.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2

.PHONY: setup smoke test test-slurm lint published clean-smoke gpu-check

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install torch==2.13.0
	$(BIN)/python -m pip install -e '.[dev]'
	touch $@

setup: $(BIN)/.installed

smoke: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake all --cores $(CORES) --configfile workflows/config/smoke.yaml

test: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest

# The workflow on a single-node SLURM that scripts/slurm-local.sh starts here (root on Debian; a few minutes).
test-slurm: setup
	$(BIN)/python -m pip install -e '.[dev,slurm]'
	PATH="$(CURDIR)/$(BIN):$$PATH" JEDI_BENCH_REQUIRE_SLURM=1 $(BIN)/pytest -m slurm tests/test_slurm.py

# ruff's rule set and format (pinned in pyproject.toml); `ruff format .` and `ruff check --fix .` repair
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

published: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/jedi-bench published-report --out results/published

# One GPU, at most 8 minutes: CUDA tests, profiles, timed dev training, concurrent runs, projected hours
# (results/compute/<gpu name>/; docs/compute.md). Exits 2 at once where there is no GPU.
gpu-check: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/jedi-bench gpu-check
