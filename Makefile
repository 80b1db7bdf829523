# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
ORACLE := tests/oracle/node_modules/.installed

.PHONY: run test lint bench clean

run: $(INSTALLED)
	$(VENV)/bin/recado serve

test: $(INSTALLED) $(ORACLE)
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

clean:
	rm -rf $(VENV) tests/oracle/node_modules
