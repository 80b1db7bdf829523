# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
ORACLE := tests/oracle/node_modules/.installed
# Debian's Chromium, which the browser tests drive through Playwright (no browser download).
CHROMIUM := /usr/bin/chromium

.PHONY: run test lint bench clean

run: $(INSTALLED)
	$(VENV)/bin/recado serve

test: $(INSTALLED) $(ORACLE) $(CHROMIUM)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(PY) -m pytest

lint: $(INSTALLED)
	$(VENV)/bin/ruff check --fix src tests bench
	$(VENV)/bin/ruff format src tests bench

$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Recado needs Python 3.11 or newer; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

# The independent segment calculator the encoding tests compare against (needs node and npm).
$(ORACLE): tests/oracle/package-lock.json
	npm ci --prefix tests/oracle --no-audit --no-fund --loglevel=error
	touch $@

# Installed with apt when missing: as root directly, else with sudo (never prompting). Without
# it the browser tests skip and say how to install it; with CI=true they fail.
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo="sudo -n"; \
	else sudo="none"; fi; \
	if [ "$$sudo" != none ] && command -v apt-get >/dev/null 2>&1 && \
	  { $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium || \
	    { $$sudo apt-get update -q && \
	      $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }; }; then :; \
	else \
	  echo "Could not install Chromium for the browser tests: run 'sudo apt-get install -y chromium'." >&2; \
	  if [ "$$CI" = true ]; then exit 1; fi; \
	fi

clean:
	rm -rf $(VENV) tests/oracle/node_modules
