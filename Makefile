# Two commands: `make run` serves a hub, `make test` installs everything and runs the whole suite.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: run test test-clock lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(BIN)/tryvoha serve

test: $(VENV)/.installed
	scripts/ensure-test-services.sh
	$(BIN)/ruff check .
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/mypy
	$(BIN)/pytest

# The suite at another hour in another zone: at 23:30 UTC (already tomorrow in Kyiv) ten hours
# behind UTC, then at 10:30 UTC (already tomorrow on the machine, not in Kyiv) fourteen hours
# ahead. faketime moves the clock of every process the tests start alike. CLOCK_TESTS narrows it.
CLOCK_TESTS ?=
test-clock: $(VENV)/.installed
	scripts/ensure-test-services.sh
	TZ=America/Adak faketime -m -f "+$$(( ($$(date -ud 23:30 +%s) - $$(date +%s) + 86400) % 86400 ))" \
	  $(BIN)/pytest $(CLOCK_TESTS)
	TZ=Pacific/Kiritimati faketime -m -f "+$$(( ($$(date -ud 10:30 +%s) - $$(date +%s) + 86400) % 86400 ))" \
	  $(BIN)/pytest $(CLOCK_TESTS)

lint: $(VENV)/.installed
	$(BIN)/ruff check . && $(BIN)/ruff format --check src tests bench scripts && $(BIN)/mypy

# .venv-compat: where older test runs left the compat clients' venvs (now ~/.cache/tryvoha-tests).
clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .mypy_cache .hypothesis .venv-compat
