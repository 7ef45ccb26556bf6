# The two commands a newcomer needs: `make run` and `make test`. Everything else is set up on the way.
# `make run` installs what the bot needs (no developer tools); `make test` adds the tools and test extras.
# TORCH_INDEX: on an ordinary machine pass PyTorch's CPU wheel index (see the README) so pip does not take the
# multi-GB CUDA build of torch; leave it empty where the CPU wheel is already at hand.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_INDEX ?=
PIP_INDEX := $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX),)
export DATA_DIR ?= ./data

.PHONY: install install-dev models run test test-fast lint format browser bench floors

$(VENV)/bin/python:
	@$(PYTHON) -m venv $(VENV) || { echo "error: '$(PYTHON) -m venv' failed: on Debian/Ubuntu install python3-venv (apt-get install python3-venv)"; exit 1; }
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet $(PIP_INDEX) -e '.[render]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed-run
	$(PY) -m pip install --quiet $(PIP_INDEX) -e '.[render,dev]'
	touch $@

install: $(VENV)/.installed-run
install-dev: $(VENV)/.installed-dev

# The segmentation weights (u2netp), verified by checksum. Without them the render core falls back to the
# classical segmenter, which `run` refuses once a platform channel is configured (unless SEGMENTER=classical).
models: install
	@$(PY) -m bot models fetch || echo "warning: segmentation weights not fetched; using the classical fallback"

run: install models
	$(PY) -m bot run

# Headless Chromium for the web chat's browser test, from Debian's packages.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "install Debian's chromium package for the browser test (sudo apt-get install chromium)"; fi; }

lint: install-dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

format: install-dev
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

test: install-dev models browser lint
	$(PY) -m pytest -q --durations=15

# The quick loop while developing: no lint, no slow tests (load, faults, wheel, real processes).
test-fast: install-dev models
	$(PY) -m pytest -q -m "not slow" --durations=10

# The oldest dependency versions pyproject.toml allows, in a separate venv, running the fast tests.
floors:
	bash scripts/test-floors.sh

bench: install-dev models
	$(PY) bench/render.py
