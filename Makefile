# Two commands do all the set-up on a fresh machine:
#   make demo   -- create .venv, install aimc, install ngspice if missing, run the main job
#   make test   -- the same set-up, then the whole test suite (what CI runs);
#                  make test TESTS=tests/test_layout.py runs ruff and one test file
#   make demo DEMO_ARGS="--skip network" leaves a step out (aimc demo --help)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.aimc-installed
OUT    ?= out
TESTS  ?=
DEMO_ARGS ?=

.PHONY: demo test bench lint ngspice clean bytecode

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "aimc needs Python 3.11 or newer")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

# ngspice >= 40 built with KLU: Sparse 1.3 (ngspice 39, Debian bookworm) needs seconds to
# order a 64x64 crossbar mesh and hours at 256x256; KLU does it in milliseconds.
# On bookworm the KLU build (ngspice 46) comes from bookworm-backports.
NGLIB = $(firstword $(wildcard $(NGSPICE_LIBRARY_PATH) /usr/lib/*/libngspice.so /usr/lib/libngspice.so /usr/local/lib/libngspice.so /opt/homebrew/lib/libngspice.dylib))

ngspice:
	@lib="$(NGLIB)"; \
	if [ -n "$$lib" ] && grep -q "KLU Direct" "$$lib" 2>/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  . /etc/os-release; target=""; \
	  if [ "$$VERSION_CODENAME" = bookworm ]; then \
	    echo "deb http://deb.debian.org/debian bookworm-backports main" > /etc/apt/sources.list.d/aimc-bookworm-backports.list; \
	    target="-t bookworm-backports"; \
	  fi; \
	  echo "installing ngspice (with KLU) via apt-get $$target"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$target ngspice libngspice0 libngspice0-dev; \
	elif [ -n "$$lib" ]; then \
	  echo "note: $$lib has no KLU solver: large crossbars will be slow (install ngspice >= 40)"; \
	else \
	  echo "ngspice (with its shared library) is missing. Install it, then re-run:"; \
	  echo "  Debian 12:     sudo apt-get install -t bookworm-backports ngspice libngspice0 libngspice0-dev"; \
	  echo "  Debian/Ubuntu: sudo apt-get install ngspice libngspice0 libngspice0-dev"; \
	  echo "  macOS:         brew install ngspice"; \
	  echo "  conda:         conda install -c conda-forge ngspice ngspice-lib"; \
	  exit 1; \
	fi

# aimc's own bytecode, written once: where PYTHONDONTWRITEBYTECODE is set (as on the CI
# machines) every process would otherwise compile the package again: importing the CLI,
# sweep, crossbar, surrogate and network modules took 0.53 s CPU instead of 0.40 s
# (medians of 15; the CLI, every spawned sweep worker, every test subprocess pays it).
# Python checks each .pyc against its source, so a stale one is only slower, never wrong.
bytecode:
	@$(PY) -m compileall -q -j 0 circuits surrogate system >/dev/null

demo: $(STAMP) ngspice bytecode
	$(VENV)/bin/aimc demo --out $(OUT) $(DEMO_ARGS)

test: $(STAMP) ngspice bytecode
	$(PY) -m ruff check .
	$(PY) -m pytest -q -n 2 --dist loadfile $(TESTS)

bench: $(STAMP) ngspice
	$(PY) benchmarks/run_all.py

lint: $(STAMP)
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV) $(OUT) build *.egg-info
