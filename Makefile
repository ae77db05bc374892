# Two commands do all the set-up on a fresh machine:
#   make demo   -- create .venv, install aimc, install ngspice if missing, run the main job
#   make test   -- the same set-up, then the whole test suite (what CI runs)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.aimc-installed
OUT    ?= out

.PHONY: demo test bench lint ngspice clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "aimc needs Python 3.11 or newer")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

ngspice:
	@if [ -n "$$NGSPICE_LIBRARY_PATH" ] || ls /usr/lib/*/libngspice.so /usr/lib/libngspice.so /usr/local/lib/libngspice.so /opt/homebrew/lib/libngspice.dylib >/dev/null 2>&1; then \
	  command -v ngspice >/dev/null || echo "note: the ngspice executable is missing (only benchmarks need it)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing ngspice with apt-get"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ngspice libngspice0 libngspice0-dev; \
	else \
	  echo "ngspice (with its shared library) is missing. Install it, then re-run:"; \
	  echo "  Debian/Ubuntu: sudo apt-get install ngspice libngspice0 libngspice0-dev"; \
	  echo "  macOS:         brew install ngspice"; \
	  echo "  conda:         conda install -c conda-forge ngspice ngspice-lib"; \
	  exit 1; \
	fi

demo: $(STAMP) ngspice
	$(VENV)/bin/aimc demo --out $(OUT)

test: $(STAMP) ngspice
	$(PY) -m ruff check .
	$(PY) -m pytest -q -n 2 --dist loadfile

bench: $(STAMP) ngspice
	$(PY) benchmarks/run_all.py

lint: $(STAMP)
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV) $(OUT) build *.egg-info
