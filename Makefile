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
	@# Our packages' bytecode, as pip leaves it for installed ones: under PYTHONDONTWRITEBYTECODE
	@# (set on some machines) every command would compile ~150 of our modules at start (~60 ms).
	$(BIN)/python -m compileall -q monitor rules storage alerts
	touch $(STAMP)

install: $(STAMP)

## Install, then run the monitor on its embedded defaults (bundled feeds + rules, ./minerals-monitor.db).
run: $(STAMP)
	$(BIN)/minerals-monitor run

## Install, then run the whole test suite. The web console's browser tests drive Debian's
## chromium (Playwright cannot download a browser here), and the right-to-left email test needs
## a font with every Urdu letter (DejaVu lacks ے and ہ): both installed first when missing.
CHROMIUM ?= /usr/bin/chromium
URDU_FONT ?= /usr/share/fonts/truetype/noto/NotoNastaliqUrdu-Regular.ttf
test: $(STAMP) $(CHROMIUM) $(URDU_FONT)
	$(BIN)/python -m pytest -q

# $(call apt_install,PACKAGE): as root or with sudo; `apt-get update` only when the first try fails.
apt_install = SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $(1) \
	  || { $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $(1); }

$(CHROMIUM):
	@echo "installing Debian's chromium package for the browser tests"
	@$(call apt_install,chromium)

$(URDU_FONT):
	@echo "installing Debian's fonts-noto-core (Urdu glyphs) for the right-to-left email test"
	@$(call apt_install,fonts-noto-core)

demo: $(STAMP)
	$(BIN)/minerals-monitor demo

clean:
	rm -rf $(VENV) build *.egg-info

## Benchmarks against peers (not part of the tests); writes docs/benchmarks.md.
## First the polling and alert-latency benchmarks (bench/bench_poll.py, bench/bench_latency.py),
## then the matcher at full size (10,000 articles, BENCH_MATCH_FLAGS), then every other
## bench/bench_*.py (with BENCH_OTHER_FLAGS, --quick by default, so the whole run stays under
## 10 minutes on 2 cores). Exit status 1 if any script missed a target.
## The peers and meters are bench-only packages: installed into the venv here, not in pyproject.
BENCH_PACKAGES ?= reader sgmllib3k psutil
BENCH_POLL_FLAGS ?= --budget 400 --peers-at-10k none --sample 30
BENCH_LATENCY_FLAGS ?= --duration 40
BENCH_OTHER_FLAGS ?= --quick
BENCH_MATCH_FLAGS ?=
bench: $(STAMP)
	$(BIN)/pip install --quiet $(BENCH_PACKAGES)
	$(BIN)/python bench/report.py --init
	@status=0; \
	echo "== bench/bench_poll.py $(BENCH_POLL_FLAGS)"; \
	$(BIN)/python bench/bench_poll.py --report $(BENCH_POLL_FLAGS) || status=1; \
	echo "== bench/bench_latency.py $(BENCH_LATENCY_FLAGS)"; \
	$(BIN)/python bench/bench_latency.py --report $(BENCH_LATENCY_FLAGS) || status=1; \
	out=$$(mktemp); \
	for script in bench/bench_*.py; do \
	  case $$script in bench/bench_poll.py|bench/bench_latency.py) continue;; esac; \
	  flags="$(BENCH_OTHER_FLAGS)"; \
	  case $$script in bench/bench_match.py) flags="$(BENCH_MATCH_FLAGS)";; esac; \
	  echo "== $$script $$flags"; \
	  start=$$(date +%s); \
	  $(BIN)/python $$script $$flags > $$out 2>&1; rc=$$?; \
	  cat $$out; \
	  $(BIN)/python bench/report.py --append-output "$$(basename $$script) $$flags" --status $$rc \
	    --seconds $$(( $$(date +%s) - start )) < $$out; \
	  [ $$rc -eq 0 ] || status=1; \
	done; \
	rm -f $$out; \
	echo "wrote docs/benchmarks.md"; \
	exit $$status
