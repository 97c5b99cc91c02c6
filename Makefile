# microlearn: `make demo` and `make test` set up everything first (see scripts/setup.sh).
PY := .venv/bin/python
LINT_DIRS := src tests examples $(wildcard benchmarks)
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup demo test lint typecheck bench clean

setup:
	@bash scripts/setup.sh

demo: setup
	@$(PY) examples/demo.py

test: setup
	@$(PY) -m ruff check $(LINT_DIRS)
	@$(PY) -m ruff format --check $(LINT_DIRS)
	@$(PY) -m mypy
	@$(PY) -m pytest -n 2 -q

lint: setup
	@$(PY) -m ruff check $(LINT_DIRS)
	@$(PY) -m ruff format --check $(LINT_DIRS)

typecheck: setup
	@$(PY) -m mypy

bench: setup
	@$(PY) -m pip install -q -e ".[bench]"
	@$(PY) benchmarks/run.py

clean:
	rm -rf .venv build dist src/*.egg-info tools/node/node_modules
