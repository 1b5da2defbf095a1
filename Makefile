# The two commands: `make run` (the demo, embedded) and `make test` (the whole suite, real services).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: run test lint services system-deps bench clean

run: $(VENV)/.installed
	$(PY) -m demo

test: $(VENV)/.installed system-deps services lint
	$(PY) -m pytest

# Debian packages the tests need: chromium, to judge pages in a real browser.
system-deps:
	@command -v chromium >/dev/null || { \
	  echo "installing Debian's chromium for the page tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy probes monitor exemptions demo bench tests
	$(VENV)/bin/lint-imports

services:
	bash scripts/ensure-services.sh

bench: $(VENV)/.installed services
	$(PY) -m bench.relief
	$(PY) -m bench.imports

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache
