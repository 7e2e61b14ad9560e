# dcbm-emu: every target sets up what it needs (venv from PyPI, Icarus Verilog from apt).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Tests run on both cores; pytest exits 5 when it collected nothing, which fails the target
# like any other nonzero status (a run that tests nothing is a bug).
PYTEST_ARGS ?= -n 2 -q

.PHONY: setup iverilog test run bench lint regress regs clean help

help:
	@echo "make run      set up, then run the main job on its built-in defaults"
	@echo "make test     set up, then run the whole test suite"
	@echo "make bench    emulator speed and memory against the host's limits"
	@echo "make lint     ruff + mypy"
	@echo "make regress  the long regressions (slow tests)"
	@echo "make regs     regenerate the register-map artefacts from the SystemRDL source"
	@echo "make clean    remove the venv and build folders"

setup: $(STAMP) iverilog

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

# Icarus Verilog 11 comes from apt (no wheel exists on PyPI; see toolchain.md §1).
iverilog:
	@if ! command -v iverilog >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Icarus Verilog with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iverilog >/dev/null; \
	  else \
	    echo "Icarus Verilog is missing. Install it with: sudo apt-get install -y iverilog" >&2; \
	    exit 1; \
	  fi; \
	fi

test: setup
	$(PY) -m pytest $(PYTEST_ARGS) -m "not slow"

regress: setup
	$(PY) -m pytest $(PYTEST_ARGS) -m slow

run: setup
	$(VENV)/bin/dcbm-emu

bench: setup
	$(VENV)/bin/dcbm-emu bench

lint: setup
	$(VENV)/bin/ruff check emulator hdl_model drivers tests
	$(VENV)/bin/mypy

regs: setup
	$(PY) -m hdl_model.regmap_gen
	$(PY) -m hdl_model.rtl_gen

clean:
	rm -rf $(VENV) build sim_build .pytest_cache .mypy_cache .ruff_cache *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
