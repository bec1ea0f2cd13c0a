# Two commands do all set-up on a fresh machine (python3 >= 3.10 with venv):
#   make demo   - the main job: the demo notebook run by papermill, tracked in ./.mlops/mlops.db
#   make test   - the whole test suite
# Each creates .venv and installs what it needs into it first.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: demo test bench clean postgresql

# Debian's PostgreSQL server, which the tests start a throwaway cluster of (root, or sudo).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || \
	  ($(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -U pip

# One stamp per set of extras, redone when pyproject.toml changes.
$(VENV)/.stamp-runtime: pyproject.toml | $(BIN)/python
	$(PIP) install -e .
	touch $@

$(VENV)/.stamp-test: pyproject.toml | $(BIN)/python
	$(PIP) install -e ".[test]"
	touch $@

$(VENV)/.stamp-bench: pyproject.toml | $(BIN)/python
	$(PIP) install -e ".[test,bench]"
	touch $@

demo: $(VENV)/.stamp-runtime
	$(BIN)/jupyter-mlops demo

test: $(VENV)/.stamp-test postgresql
	$(BIN)/python -m pytest -n auto --dist loadfile

# ploomber (a peer in bench_pipeline.py) pins jupyter_client<8: it gets a venv of its own.
.venv-ploomber/.stamp: pyproject.toml
	$(PYTHON) -m venv .venv-ploomber
	.venv-ploomber/bin/python -m pip --disable-pip-version-check -q install -e . ploomber
	touch $@

# Evidently 0.7 (the peer in bench_drift.py) needs pandas < 3: it gets a venv of its own too.
.venv-evidently/.stamp:
	$(PYTHON) -m venv .venv-evidently
	.venv-evidently/bin/python -m pip --disable-pip-version-check -q install "evidently==0.7.*" "pandas<3" pyarrow
	touch $@

bench: $(VENV)/.stamp-bench postgresql .venv-ploomber/.stamp .venv-evidently/.stamp
	$(BIN)/python benchmarks/bench_tracking.py
	$(BIN)/python benchmarks/bench_pipeline.py
	$(BIN)/python benchmarks/bench_drift.py
	$(BIN)/python benchmarks/bench_team.py
	$(BIN)/python benchmarks/bench_serving.py

clean:
	rm -rf $(VENV) .venv-ploomber .venv-evidently .mlops .pytest_cache notebooks/build
