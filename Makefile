# Two commands do all set-up on a fresh machine (python3 >= 3.10 with venv):
#   make demo   - the main job: the demo notebook run by papermill, tracked in ./.mlops/mlops.db
#   make test   - the whole test suite
#   make lint   - ruff on the Python, eslint/prettier/stylelint on the lab extension (CI runs it first)
# Each creates .venv and installs what it needs into it first.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: demo test lint bench clean postgresql chromium

# Debian's PostgreSQL server, which the tests start a throwaway cluster of (root, or sudo).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || \
	  ($(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql)

# Debian's Chromium, which the browser tests drive through Playwright (it cannot download browsers here).
chromium:
	@[ -x /usr/bin/chromium ] || \
	  ($(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -U pip

# One stamp per set of extras, redone when pyproject.toml changes.
# The editable install builds the lab extension (hatch-jupyter-builder, jlpm from jupyterlab) into
# jupyter_mlops/labextension and copies it into the venv; the link put there instead makes later
# rebuilds show at once. Each install removes the link first: pip would write through it, leaving
# install.json inside jupyter_mlops/labextension, and a wheel built from the tree would hold it twice.
LABEXT := $(VENV)/share/jupyter/labextensions/jupyter-mlops
define install_extras
	rm -rf $(LABEXT)
	$(PIP) install -e ".[$(1)]"
	rm -rf $(LABEXT) && ln -s $(CURDIR)/jupyter_mlops/labextension $(LABEXT)
	touch $@
endef

$(VENV)/.stamp-runtime: pyproject.toml | $(BIN)/python
	$(call install_extras,notebook)

$(VENV)/.stamp-test: pyproject.toml | $(BIN)/python
	$(call install_extras,test)

# Rebuild the lab extension when its sources change (the first build happens in pip install).
# (src/*/ includes src/standalone/, the tracking server's web page, which the same build bundles
# into jupyter_mlops/server/webui with webpack.standalone.js.)
LABEXT_SOURCES := $(wildcard labextension/src/*.ts* labextension/src/*/*.ts* labextension/style/* labextension/schema/*) \
	labextension/package.json labextension/webpack.standalone.js
jupyter_mlops/labextension/package.json: $(LABEXT_SOURCES) | $(VENV)/.stamp-test
	cd labextension && PATH=$(abspath $(BIN)):$$PATH jlpm install && PATH=$(abspath $(BIN)):$$PATH jlpm build
	touch $@

comma := ,
$(VENV)/.stamp-bench: pyproject.toml | $(BIN)/python
	$(call install_extras,test$(comma)bench)

demo: $(VENV)/.stamp-runtime
	$(BIN)/jupyter-mlops demo

# ruff on the Python; eslint, prettier and stylelint on the lab extension (its node_modules come
# with the extension's build).
lint: $(VENV)/.stamp-test jupyter_mlops/labextension/package.json
	$(BIN)/ruff check .
	cd labextension && PATH=$(abspath $(BIN)):$$PATH jlpm lint:check

test: $(VENV)/.stamp-test jupyter_mlops/labextension/package.json postgresql chromium
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
	$(BIN)/python benchmarks/bench_server.py

clean:
	rm -rf $(VENV) .venv-ploomber .venv-evidently .mlops .pytest_cache notebooks/build test-artifacts \
	  jupyter_mlops/labextension labextension/lib labextension/node_modules labextension/tsconfig.tsbuildinfo
