# Two commands: `make run` serves a hub, `make test` installs everything and runs the whole suite.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: run test lint bench clean

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
	$(BIN)/pytest

lint: $(VENV)/.installed
	$(BIN)/ruff check . && $(BIN)/ruff format --check src tests bench scripts

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
