# sscard: one Makefile for a fresh machine. `make demo` and `make test` are the quick start.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
SYSPKGS := pcscd vsmartcard-vpcd libpcsclite-dev swig opensc pcsc-tools gcc pinentry-curses \
           chromium fonts-wqy-zenhei iproute2
# The system binaries each package provides; a package counts as present when its file exists.
SYSFILES := /usr/sbin/pcscd /usr/lib/pcsc/drivers/serial/libifdvpcd.so /usr/include/PCSC/winscard.h \
            /usr/bin/swig /usr/bin/opensc-tool /usr/bin/scriptor /usr/bin/gcc \
            /usr/bin/pinentry-curses /usr/bin/chromium /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc \
            /bin/ip

# The PIN-pad reader driver for pcscd (issue 13) and its C test: C99, libc and pcsc-lite's headers.
IFD_CC   ?= gcc
IFD_SRC  := simulator/ifd
IFD_OUT  := build/ifd
IFD_SO   := $(IFD_OUT)/libifd-sscard.so
IFD_TEST := $(IFD_OUT)/test-ifd-sscard
IFD_CFLAGS := -std=c99 -Wall -Wextra -Werror -pedantic -O2 -I/usr/include/PCSC

# The national reader-interface library (issue 12), its header and its C test: C99, libc only,
# exporting exactly the national names (exports.map).  `make install-national` installs it (also
# as libSSCardDriver.so) under PREFIX (default /usr/local; DESTDIR for staging).
NAT_CC     ?= gcc
NAT_SRC    := terminal/national/c
NAT_OUT    := build/national
NAT_SO     := $(NAT_OUT)/libsscard-national.so
NAT_TEST   := $(NAT_OUT)/national_test
NAT_CFLAGS := -std=c99 -Wall -Wextra -Werror -pedantic -O2
PREFIX     ?= /usr/local
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include

.PHONY: install system venv demo test test-stress test-fast lint bench fuzz clean ifd national install-national

install: system $(STAMP) ifd national

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

ifd: system $(IFD_SO) $(IFD_TEST)

$(IFD_SO): $(IFD_SRC)/ifd_sscard.c $(IFD_SRC)/ifd_sscard_proto.h
	@mkdir -p $(IFD_OUT)
	$(IFD_CC) $(IFD_CFLAGS) -fPIC -fvisibility=hidden -pthread -shared -o $@ $<

$(IFD_TEST): $(IFD_SRC)/test_ifd_sscard.c $(IFD_SRC)/ifd_sscard_proto.h
	@mkdir -p $(IFD_OUT)
	$(IFD_CC) $(IFD_CFLAGS) -o $@ $<

national: system $(NAT_SO) $(NAT_TEST)

$(NAT_SO): $(NAT_SRC)/sscard_national.c $(NAT_SRC)/sscard_national.h $(NAT_SRC)/exports.map
	@mkdir -p $(NAT_OUT)
	$(NAT_CC) $(NAT_CFLAGS) -fPIC -fvisibility=hidden -shared \
	  -Wl,--version-script=$(NAT_SRC)/exports.map -Wl,-soname,libsscard-national.so -o $@ $<

$(NAT_TEST): $(NAT_SRC)/national_test.c
	@mkdir -p $(NAT_OUT)
	$(NAT_CC) $(NAT_CFLAGS) -pthread -o $@ $<

install-national: national
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)
	install -m 0755 $(NAT_SO) $(DESTDIR)$(LIBDIR)/libsscard-national.so
	ln -sf libsscard-national.so $(DESTDIR)$(LIBDIR)/libSSCardDriver.so
	install -m 0644 $(NAT_SRC)/sscard_national.h $(DESTDIR)$(INCLUDEDIR)/sscard_national.h

demo: install
	$(BIN)/sscard check --sim

test: install
	$(BIN)/python -m pytest

# The whole suite STRESS_RUNS times in a row (default 5) while one busy loop per core runs;
# stops at the first failure, always stops the load, prints "N/5 passed" (issue 11).
STRESS_RUNS ?= 5
test-stress: install
	$(BIN)/python .ci/stress.py $(STRESS_RUNS)

lint: install
	$(BIN)/ruff check apdu drivers simulator terminal tests bench
	$(BIN)/mypy apdu drivers simulator terminal

bench: install
	$(BIN)/python -m bench

fuzz: install
	SSCARD_FUZZ_EXAMPLES=200000 $(BIN)/python -m pytest tests -k fuzz -p no:randomly --timeout=0

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build dist *.egg-info
