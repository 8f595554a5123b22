# evolab: `make demo` to try it, `make test` to check it. See README.md.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PG_URL ?= postgres://postgres@127.0.0.1:5432/evolab
PORT ?= 8000

.PHONY: setup demo test test-sqlite test-postgres lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

## Migrate, seed the demo project, then run web app + worker + simulator until Ctrl-C.
demo: setup
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) manage.py serve_demo --port $(PORT)

## Lint, then the whole suite on SQLite and on PostgreSQL.
test: setup lint test-sqlite test-postgres

# Two processes (pytest-xdist): the machine has two cores, and most of the time goes to
# tests that wait on real simulators, workers and servers.
TEST_ARGS ?= -n 2

test-sqlite: setup
	$(PY) -m pytest $(TEST_ARGS)

# PostgreSQL: skipped with a reason when no server answers, except in CI where it must.
test-postgres: setup
	@if pg_isready -q -h 127.0.0.1 -p 5432; then \
		DATABASE_URL=$(PG_URL) $(PY) -m pytest $(TEST_ARGS); \
	elif [ "$$CI" = "true" ]; then \
		echo "PostgreSQL is not answering on 127.0.0.1:5432 and CI=true: failing"; exit 1; \
	else \
		echo "SKIPPED: the PostgreSQL run (no server on 127.0.0.1:5432)"; \
	fi

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy evolab

## 2,000 cases against the simulator (fixed 100 ms, 50 in flight) on the embedded default and on
## PostgreSQL + Redis, next to a bare AsyncOpenAI loop; writes var/bench/. Tune with BENCH_ARGS,
## e.g. make bench BENCH_ARGS="--only embedded --workers 1 --chunk-size 200".
bench: setup
	$(PY) manage.py bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
