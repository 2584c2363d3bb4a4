# Two entry points for newcomers: `make run` and `make test`. Both set up .venv themselves.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test demo bench install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## Install, then run the monitor on its embedded defaults (bundled feeds + rules, ./minerals-monitor.db).
run: $(STAMP)
	$(BIN)/minerals-monitor run

## Install, then run the whole test suite.
test: $(STAMP)
	$(BIN)/python -m pytest -q

demo: $(STAMP)
	$(BIN)/minerals-monitor demo

clean:
	rm -rf $(VENV) build *.egg-info

## Benchmarks against peers (not part of the tests); writes docs/benchmarks.md.
bench: $(STAMP)
	@echo "bench: not wired yet"
