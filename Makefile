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
# pytest processes for make test / test-fast (pytest-xdist; a test file stays in one process, so
# its module fixtures - a server, a browser - are started once). 1 runs the suite in this process.
TEST_WORKERS ?= 2
XDIST  := $(if $(filter-out 1,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile,)

.DEFAULT_GOAL := help
.PHONY: help venv run test test-fast lint bench clean

help:
	@echo "make run       - set up .venv if needed and serve the API on :$(PORT)"
	@echo "make test      - set up .venv if needed and run the whole test suite with coverage"
	@echo "make test-fast - the same without the slow tests, fewer Hypothesis cases, no coverage (~1 min)"
	@echo "make lint      - ruff (src, tests, benchmarks, tools) and mypy (src, strict)"
	@echo "make bench     - set up .venv if needed and print the solver benchmarks"
	@echo "make clean     - remove .venv, caches and build output"

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

# Installs the package (with the extras in $(1)) into .venv. With uv when it can be had (one
# `pip install uv` first): it fetches and unpacks in parallel, so the runtime set takes ~30 s on
# a fresh machine where pip, which reads the index one package at a time, took ~2 min
# (measured: issue 13). Falls back to pip if uv cannot be installed or fails.
define install
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check uv >/dev/null 2>&1 || true
	@if [ -x $(BIN)/uv ] && $(BIN)/uv pip install --quiet --python $(BIN)/python -e '.$(1)'; then :; \
	else echo "installing with pip (uv unavailable)"; \
		$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.$(1)'; fi
endef

$(RUN_STAMP): pyproject.toml
	$(make_venv)
	$(call install,)
	@touch $(RUN_STAMP)

$(TEST_STAMP): pyproject.toml
	$(make_venv)
	$(call install,[test])
	@touch $(RUN_STAMP) $(TEST_STAMP)

venv: $(TEST_STAMP)

run: $(RUN_STAMP)
	$(BIN)/merit-order serve --port $(PORT)

test: $(TEST_STAMP)
	$(BIN)/python -m pytest $(XDIST) --cov=merit_order --cov-report=term-missing:skip-covered --cov-fail-under=90

# Every test file, without its @pytest.mark.slow tests, Hypothesis under the `fast` profile
# (tests/conftest.py): a check while working. `make test` (CI) runs everything.
test-fast: $(TEST_STAMP)
	HYPOTHESIS_PROFILE=fast $(BIN)/python -m pytest $(XDIST) -m "not slow"

# ruff on everything we write, mypy (strict) on the package: both configured in pyproject.toml.
lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests benchmarks tools
	$(BIN)/mypy

bench: $(TEST_STAMP)
	$(BIN)/python benchmarks/run.py  # then every benchmarks/bench_*.py (HTTP throughput, scale-out)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .coverage .coverage.* htmlcov build dist .bench src/*.egg-info
	find . -name __pycache__ -type d -prune -not -path './.git/*' -exec rm -rf {} +
