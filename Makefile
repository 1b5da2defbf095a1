# The two commands: `make run` (the demo, embedded) and `make test` (the whole suite, real services).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: run test lint services bench clean

run: $(VENV)/.installed
	$(PY) -m demo

test: $(VENV)/.installed services lint
	$(PY) -m pytest

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy probes monitor exemptions demo

services:
	bash scripts/ensure-services.sh

bench: $(VENV)/.installed services
	$(PY) -m bench.relief

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache
