# merit-order: `make run` serves the API on :3000, `make test` runs the whole suite.
# Both set up .venv on first use (plain python3 >= 3.11, nothing else to install by hand)
# and re-install whenever pyproject.toml is newer than the last install (a stamp file).
# `run` installs what serving needs (the package and its runtime dependencies) and nothing
# more, so that a fresh clone answers quickly; `test` and `bench` add the test extras
# (scipy, HiGHS, Playwright, schemathesis...). Each has its own stamp: `make test` after
# `make run` installs the extras.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RUN_STAMP  := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
PORT   ?= 3000

.DEFAULT_GOAL := help
.PHONY: help venv run test bench clean

help:
	@echo "make run    - set up .venv if needed and serve the API on :$(PORT)"
	@echo "make test   - set up .venv if needed and run the whole test suite with coverage"
	@echo "make bench  - set up .venv if needed and print the solver benchmarks"
	@echo "make clean  - remove .venv, caches and build output"

# Creates .venv with $(PYTHON) unless it is there (a shell snippet shared by both stamps).
define make_venv
	@if [ ! -x $(BIN)/python ]; then \
		echo "creating $(VENV) with $$($(PYTHON) --version 2>&1)"; \
		$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
			|| { echo "error: $(PYTHON) is older than 3.11; run: make PYTHON=python3.11 ..." >&2; exit 1; }; \
		$(PYTHON) -m venv $(VENV) \
			|| { echo "error: '$(PYTHON) -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)" >&2; exit 1; }; \
	fi
endef

$(RUN_STAMP): pyproject.toml
	$(make_venv)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	@touch $(RUN_STAMP)

$(TEST_STAMP): pyproject.toml
	$(make_venv)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(RUN_STAMP) $(TEST_STAMP)

venv: $(TEST_STAMP)

run: $(RUN_STAMP)
	$(BIN)/merit-order serve --port $(PORT)

test: $(TEST_STAMP)
	$(BIN)/python -m pytest --cov=merit_order --cov-report=term-missing:skip-covered --cov-fail-under=90

bench: $(TEST_STAMP)
	$(BIN)/python benchmarks/run.py  # then every benchmarks/bench_*.py (HTTP throughput, scale-out)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .coverage .coverage.* htmlcov build dist .bench src/*.egg-info
	find . -name __pycache__ -type d -prune -not -path './.git/*' -exec rm -rf {} +
