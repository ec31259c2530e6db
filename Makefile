# Two commands set everything up: `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

# The test stack has its own ports and data directory: tests never touch `make run` data.
TEST_ENV := QUANZI_ENV=test \
	QUANZI_STACK_DIR=.quanzi-test \
	QUANZI_NEO4J_URI=neo4j://127.0.0.1:17687 \
	QUANZI_REDIS_URL=redis://127.0.0.1:16379/0 \
	QUANZI_NEO4J_HEAP=1g

# The load test's own stack (data directory and ports), apart from `make run` and tests.
LOAD_NEO4J_PORT ?= 37787
LOAD_REDIS_PORT ?= 38008
LOAD_API_PORT   ?= 38002
LOAD_ENV := QUANZI_ENV=test \
	QUANZI_STACK_DIR=.quanzi-load \
	QUANZI_NEO4J_URI=neo4j://127.0.0.1:$(LOAD_NEO4J_PORT) \
	QUANZI_REDIS_URL=redis://127.0.0.1:$(LOAD_REDIS_PORT)/0 \
	QUANZI_NEO4J_HEAP=1g
# Bounds of each run (seconds, tasks) and its size; the table goes to LOAD_OUT too.
LOAD_SECONDS ?= 60
LOAD_ITERATIONS ?= 20000
LOAD_USERS ?= 3000
LOAD_CONCURRENCY ?= 50
LOAD_OUT ?= bench/results/load.md

.PHONY: help install run test fuzz stack-down test-stack-down lint bench load load-stack-down

help:
	@echo "make run    - install, start Neo4j + Redis, migrate, load demo data, serve API + worker"
	@echo "make test   - install, start the separate test stack, run the whole suite"
	@echo "make fuzz   - a long schemathesis run against the real server (FUZZ_EXAMPLES=200)"
	@echo "make load   - locust load test (own stack): 1 and 2 API processes, table to LOAD_OUT"
	@echo "make install / lint / stack-down / test-stack-down / load-stack-down"

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: install
	$(BIN)/quanzi stack up
	$(BIN)/quanzi migrate
	$(BIN)/quanzi demo
	$(BIN)/quanzi dev

test: install
	$(TEST_ENV) $(BIN)/quanzi stack up
	$(TEST_ENV) $(BIN)/quanzi migrate
	$(TEST_ENV) $(BIN)/pytest -q

# A long fuzzing run (make test runs a short one): every operation, as a member and as
# the platform, FUZZ_EXAMPLES generated requests each.
FUZZ_EXAMPLES ?= 200
fuzz: install
	$(TEST_ENV) $(BIN)/quanzi stack up
	$(TEST_ENV) $(BIN)/quanzi migrate
	$(TEST_ENV) QUANZI_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) QUANZI_FUZZ_ROLES=member,admin \
		$(BIN)/pytest -q tests/test_fuzz.py

load: install
	$(LOAD_ENV) $(BIN)/quanzi stack up
	$(LOAD_ENV) $(BIN)/quanzi migrate
	@mkdir -p $(dir $(LOAD_OUT))
	$(LOAD_ENV) $(BIN)/python -m bench.loadtest --users $(LOAD_USERS) \
		--locust-users $(LOAD_CONCURRENCY) --run-time $(LOAD_SECONDS) \
		--iterations $(LOAD_ITERATIONS) --port $(LOAD_API_PORT) --out $(LOAD_OUT)

load-stack-down:
	$(LOAD_ENV) $(BIN)/quanzi stack down

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

stack-down:
	$(BIN)/quanzi stack down

test-stack-down:
	$(TEST_ENV) $(BIN)/quanzi stack down
