# The two commands: `make run` (the demo, embedded) and `make test` (the whole suite, real services).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: run test lint services system-deps bench clean

run: $(VENV)/.installed
	$(PY) -m demo

test: $(VENV)/.installed system-deps services lint
	$(PY) -m pytest

# Debian packages the tests need: chromium, to judge pages in a real browser; poppler-utils, whose
# `pdfsig` and `pdftotext` check the signed letters as any reader's software would; prometheus, whose
# `promtool check metrics` checks GET /metrics as Prometheus reads it (only promtool is used: where the
# package starts its own server, `systemctl disable --now prometheus` stops it).
system-deps:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v pdfsig >/dev/null && command -v pdftotext >/dev/null || missing="$$missing poppler-utils"; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian's$$missing for the tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy probes monitor exemptions demo bench tests
	$(VENV)/bin/lint-imports

services:
	bash scripts/ensure-services.sh

bench: $(VENV)/.installed system-deps services
	$(PY) -m bench.relief
	$(PY) -m bench.imports
	$(PY) -m bench.letters
	$(PY) -m bench.verify_load
	$(PY) -m bench.probe_throughput
	$(PY) -m bench.probe_throughput --kind steps
	$(PY) -m bench.probe_throughput --kind browser
	$(PY) -m bench.detection_latency --mode embedded
	$(PY) -m bench.detection_latency --mode distributed
	$(PY) -m bench.metrics_overhead

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache
