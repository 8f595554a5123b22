# evolab: `make demo` to try it, `make test` to check it. See README.md.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PG_URL ?= postgres://postgres@127.0.0.1:5432/evolab
PORT ?= 8000

.PHONY: setup demo test test-sqlite test-postgres lint bench clean stack-e2e load reliability

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
# tests that wait on real simulators, workers and servers. `worksteal`: a process that runs
# out of tests takes half of the other's queue. With the default `load`, the queues are
# handed out in collection order, so one process could be left alone at the end with the
# slow transactional tests (pytest-django sorts them together) for two minutes or more.
TEST_ARGS ?= -n 2 --dist worksteal

test-sqlite: setup
	$(PY) -m pytest $(TEST_ARGS)

# PostgreSQL: skipped with a reason when no server answers, except in CI where it must.
# Tests marked one_database (browser, schema fuzzing, the security route walks) ran in the SQLite pass already.
# Tests marked exclusive restart PostgreSQL itself: they run alone, after the parallel pass.
test-postgres: setup
	@if pg_isready -q -h 127.0.0.1 -p 5432; then \
		DATABASE_URL=$(PG_URL) $(PY) -m pytest $(TEST_ARGS) -m "not one_database and not exclusive" && \
		DATABASE_URL=$(PG_URL) $(PY) -m pytest tests/reliability -m exclusive; \
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
	LOG_LEVEL=$${LOG_LEVEL:-WARNING} $(PY) manage.py bench $(BENCH_ARGS)

## The production stack run natively with the containers' commands (PostgreSQL, Redis,
## uvicorn, two Celery workers, beat, simulator) and the whole journey in Chromium;
## screenshots under var/e2e/stack-*.png. Bounded: 6 minutes, then every process is stopped.
stack-e2e: setup
	timeout --kill-after=30 360 $(PY) -m pytest tests/stack -m stack -p no:cacheprovider -s

## 50 simulated reviewers browse while a 2,000-case run executes on the native stack;
## p50/p95 page latency and errors to var/bench/load.json; fails on an error or p95 >= 500 ms.
load: setup
	timeout --kill-after=30 150 $(PY) -m tests.stack.load $(LOAD_ARGS)

## The fault suite alone (worker kills on both brokers, poison chunk, flaky backend, cancel and
## resume, campaign restart, grader containment, PostgreSQL and Redis restarts), on SQLite
## then PostgreSQL. `make test` runs it too, with everything else.
reliability: setup
	$(PY) -m pytest tests -m reliability -p no:cacheprovider
	@if pg_isready -q -h 127.0.0.1 -p 5432; then \
		DATABASE_URL=$(PG_URL) $(PY) -m pytest tests -m reliability -p no:cacheprovider; \
	elif [ "$$CI" = "true" ]; then \
		echo "PostgreSQL is not answering on 127.0.0.1:5432 and CI=true: failing"; exit 1; \
	else \
		echo "SKIPPED: the PostgreSQL run of the fault suite (no server on 127.0.0.1:5432)"; \
	fi

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
