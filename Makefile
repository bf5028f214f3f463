# The two set-up commands of the README: `make run` and `make test`. Both create or update the
# virtual environment first, so they work on a fresh machine with nothing but Python 3.11+.
PYTHON ?= python3
VENV   ?= .venv
PORT   := 8000  # `make run PORT=8001`; a PORT in the environment does not move it
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run run-sandbox test check lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/marketsvc serve --host 127.0.0.1 --port $(PORT)

run-sandbox: $(STAMP)
	$(BIN)/marketsvc serve --host 127.0.0.1 --port $(PORT) --sandbox

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests $(wildcard bench)
	$(BIN)/ruff format --check src tests $(wildcard bench)
	$(BIN)/mypy --strict
	$(BIN)/lint-imports

check: lint test

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache marketsvc.db* marketsvc-sandbox.db*
