# Backchannel — `make run` to try it, `make test` to check it.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_WORKERS ?= 3

.PHONY: help venv run demo test test-js lint format debian-packages e2e-deps bench bench-full clean

help:
	@echo "make run        start the server (SQLite + in-memory broker) and print links"
	@echo "make test       set up and run lint + the whole test suite"
	@echo "make test-js     the browser model against the golden vectors (node --test)"
	@echo "make lint       ruff check, ruff format --check, mypy app"
	@echo "make bench      quick benchmark (< 3 min); make bench-full for all scenarios"

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

run: venv
	@$(VENV)/bin/backchannel migrate
	@BACKCHANNEL_PUBLIC_URL=$${BACKCHANNEL_PUBLIC_URL:-http://$(HOST):$(PORT)} $(VENV)/bin/backchannel demo
	@echo "  create your own session: http://$(HOST):$(PORT)/"
	@BACKCHANNEL_PUBLIC_URL=$${BACKCHANNEL_PUBLIC_URL:-http://$(HOST):$(PORT)} $(VENV)/bin/backchannel serve --host $(HOST) --port $(PORT) --no-migrate

lint: venv
	$(VENV)/bin/ruff check app tests bench alembic
	$(VENV)/bin/ruff format --check app tests bench alembic
	$(VENV)/bin/mypy app

format: venv
	$(VENV)/bin/ruff format app tests bench alembic
	$(VENV)/bin/ruff check --fix app tests bench alembic

debian-packages:
	@bash scripts/ensure-debian-packages.sh

# Test-time npm packages of the browser tests (axe-core), pinned by tests/e2e/package-lock.json,
# installed into the ignored tests/e2e/node_modules; nothing of them is committed.
E2E_NPM := tests/e2e/node_modules/.package-lock.json
$(E2E_NPM): tests/e2e/package.json tests/e2e/package-lock.json
	npm ci --prefix tests/e2e --no-audit --no-fund --loglevel=error
	touch $(E2E_NPM)

# The Bitfocus Companion module's packages (@companion-module/base), pinned by its
# package-lock.json, into the ignored integrations/companion/node_modules (tests/test_companion.py).
COMPANION_NPM := integrations/companion/node_modules/.package-lock.json
$(COMPANION_NPM): integrations/companion/package.json integrations/companion/package-lock.json
	npm ci --prefix integrations/companion --no-audit --no-fund --loglevel=error
	touch $(COMPANION_NPM)

e2e-deps: $(E2E_NPM) $(COMPANION_NPM)

# The pages' model (web/model.js, web/keys.js) under node's built-in runner, with the same
# golden vectors (tests/vectors) as pytest. No npm packages.
test-js:
	node --test tests/js/

# pytest exit code 5 means "no tests ran": that is a failure, not a pass.
test: venv lint test-js debian-packages e2e-deps
	@set +e; $(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadscope --no-loadscope-reorder -q -rfEs $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

# The benchmarks' own packages (psutil, matplotlib, py-spy): the [bench] extra.
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install -q -e '.[dev,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(PY) -m bench.run --quick

bench-full: $(BENCH_STAMP)
	$(PY) -m bench.run --full

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info backchannel.db*
