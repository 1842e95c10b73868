# sscard: one Makefile for a fresh machine. `make demo` and `make test` are the quick start.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
SYSPKGS := pcscd vsmartcard-vpcd libpcsclite-dev swig opensc pcsc-tools
# The system binaries each package provides; a package counts as present when its file exists.
SYSFILES := /usr/sbin/pcscd /usr/lib/pcsc/drivers/serial/libifdvpcd.so /usr/include/PCSC/winscard.h \
            /usr/bin/swig /usr/bin/opensc-tool /usr/bin/scriptor

.PHONY: install system venv demo test test-fast lint bench fuzz clean

install: system $(STAMP)

# System packages through apt-get, only when something is missing (root only; otherwise say what to install).
system:
	@missing=""; for f in $(SYSFILES); do [ -e $$f ] || missing="$$missing $$f"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing system packages: $(SYSPKGS)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(SYSPKGS) >/dev/null; \
	  else \
	    echo "missing:$$missing; run as root: apt-get install $(SYSPKGS)" >&2; exit 1; \
	  fi; \
	fi

$(STAMP): pyproject.toml
	@[ -x $(BIN)/python ] || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[pcsc,dev]'
	@touch $(STAMP)

venv: $(STAMP)

demo: install
	$(BIN)/sscard check --sim

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check apdu drivers simulator terminal tests bench
	$(BIN)/mypy apdu drivers simulator terminal

bench: install
	$(BIN)/python -m bench

fuzz: install
	SSCARD_FUZZ_EXAMPLES=200000 $(BIN)/python -m pytest tests -k fuzz -p no:randomly --timeout=0

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build dist *.egg-info
