# dcbm-emu: every target sets up what it needs (venv from PyPI, Icarus Verilog from apt).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
# The venv's interpreter: the distribution's CPython 3.11+ when the machine has it (Debian
# builds it with PGO and LTO: about 30% faster on pure-Python loops than a plain source build
# such as pyenv's, which is first on PATH here), else python3 from PATH. PYTHON=... overrides.
SYS_PYTHON := /usr/bin/python3
PYTHON ?= $(shell if $(SYS_PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	2>/dev/null; then echo $(SYS_PYTHON); else echo python3; fi)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Tests run on both cores; pytest exits 5 when it collected nothing, which fails the target
# like any other nonzero status (a run that tests nothing is a bug).
PYTEST_ARGS ?= -n 2 -q

.PHONY: setup venv-python iverilog accel accel-deps test run bench lint regress regs clean help

help:
	@echo "make run      set up, then run the main job on its built-in defaults"
	@echo "make test     set up, then run the whole test suite"
	@echo "make bench    emulator speed and memory against the host's limits"
	@echo "make accel    compile the emulator's hot modules with mypyc (run, test, bench do it)"
	@echo "make lint     ruff + mypy"
	@echo "make regress  the long regressions (slow tests)"
	@echo "make regs     regenerate the register-map artefacts from the SystemRDL source"
	@echo "make clean    remove the venv and build folders"

setup: venv-python $(STAMP) iverilog

# The distribution's python3 makes venvs only with its venv package (ensurepip), from apt;
# a venv made by another interpreter than the one chosen is made again.
venv-python:
	@if [ "$(PYTHON)" = "$(SYS_PYTHON)" ] && ! $(PYTHON) -c 'import ensurepip' 2>/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing python3-venv with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; \
	  else \
	    echo "python3-venv is missing: sudo apt-get install -y python3-venv (or make PYTHON=python3)" >&2; \
	    exit 1; \
	  fi; \
	fi
	@want=$$($(PYTHON) -c 'import os, sys; print(os.path.realpath(sys.executable))'); \
	if [ -x $(PY) ]; then \
	  have=$$($(PY) -c 'import os, sys; print(os.path.realpath(sys._base_executable))'); \
	  if [ "$$have" != "$$want" ]; then \
	    echo "the venv was made by $$have: making it again with $$want"; rm -rf $(VENV); \
	  fi; \
	fi

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

# The compiled build of the hot modules (emulator/accel.py, mypyc): made again only when one
# of their sources changed. mypyc needs a C compiler and the Python headers, from apt.
accel: setup accel-deps
	$(VENV)/bin/dcbm-emu accel build

accel-deps:
	@if ! command -v gcc >/dev/null 2>&1 || \
	    ! $(PY) -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing gcc and the Python headers with apt-get (for make accel)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc python3-dev >/dev/null; \
	  else \
	    echo "gcc or the Python headers are missing: sudo apt-get install -y gcc python3-dev" >&2; \
	    exit 1; \
	  fi; \
	fi

# The suite runs twice: on the Python sources (everything, cocotb benches included), then on
# the compiled build (DCBM_EMU_ACCEL=1 fails if it is not current), so both are what is tested.
test: setup accel
	DCBM_EMU_ACCEL=0 $(PY) -m pytest $(PYTEST_ARGS) -m "not slow"
	DCBM_EMU_ACCEL=1 $(PY) -m pytest $(PYTEST_ARGS) -m "not slow and not cocotb" --ignore=tests/cocotb

regress: setup accel
	DCBM_EMU_ACCEL=0 $(PY) -m pytest $(PYTEST_ARGS) -m slow
	DCBM_EMU_ACCEL=1 $(PY) -m pytest $(PYTEST_ARGS) -m "slow and not cocotb" --ignore=tests/cocotb

run: setup accel
	$(VENV)/bin/dcbm-emu

bench: setup accel
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
