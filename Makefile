# xinyong — `make demo` and `make test` work on a fresh machine (they create .venv themselves).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PEOPLE ?= 2000
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: demo test test-sqlite test-pg bench lint fmt install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Build a demo district on the embedded SQLite database and serve it on http://$(HOST):$(PORT)/
demo: $(STAMP)
	$(BIN)/xinyong demo --reset --people $(PEOPLE) --host $(HOST) --port $(PORT)

## The test suite on SQLite, then on PostgreSQL when XINYONG_TEST_DATABASE_URL is set.
test: $(STAMP)
	@echo "== test suite on SQLite =="
	env -u XINYONG_TEST_DATABASE_URL $(BIN)/python -m pytest -n 2 -p no:cacheprovider tests
	@if [ -n "$$XINYONG_TEST_DATABASE_URL" ]; then \
	  echo "== test suite on PostgreSQL (the browser tests drive the UI and ran above) =="; \
	  $(BIN)/python -m pytest -n 2 -p no:cacheprovider --ignore=tests/browser tests; \
	fi

bench: $(STAMP)
	@for f in bench/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

fmt: $(STAMP)
	$(BIN)/ruff format src tests bench

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis
